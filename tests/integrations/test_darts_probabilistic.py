"""DeepLinearModel with darts likelihoods: quantile regression accuracy and a Gaussian."""

import numpy as np
import pytest

pytest.importorskip("darts")

from darts import TimeSeries, concatenate  # noqa: E402
from darts.utils.likelihood_models import GaussianLikelihood, QuantileRegression  # noqa: E402

from lightning_dln.integrations.darts import DeepLinearModel  # noqa: E402

L, H = 24, 6
TRAINER = dict(accelerator="cpu", enable_progress_bar=False, logger=False,
               enable_model_summary=False)
NOISE = 0.3


def make(tmp_path, **kw):
    args = dict(input_chunk_length=L, output_chunk_length=H, depth=2, batch_size=32,
                random_state=0, work_dir=str(tmp_path), optimizer_kwargs={"lr": 1e-2},
                pl_trainer_kwargs=dict(TRAINER))
    args.update(kw)
    return DeepLinearModel(**args)


@pytest.fixture(scope="module")
def noisy_sine():
    rng = np.random.default_rng(0)
    t = np.arange(700)
    values = np.sin(2 * np.pi * t / 24) + NOISE * rng.standard_normal(len(t))
    return TimeSeries.from_values(values.astype(np.float32)[:, None], columns=["y"])


def test_quantile_regression_coverage(tmp_path, noisy_sine):
    quantiles = [0.1, 0.5, 0.9]
    model = make(tmp_path, likelihood=QuantileRegression(quantiles), n_epochs=8)
    model.fit(noisy_sine[:500])
    hfc = model.historical_forecasts(noisy_sine, start=500, start_format="position",
                                     forecast_horizon=H, retrain=False, last_points_only=False,
                                     predict_likelihood_parameters=True)
    params = concatenate(hfc, axis=0, ignore_time_axis=True).values()  # (N*H, 3)
    actual = np.concatenate([noisy_sine.slice_intersect(fc).values()[:, 0] for fc in hfc])
    lo, mid, hi = params[:, 0], params[:, 1], params[:, 2]
    assert np.all(lo <= mid + 1e-6) and np.all(mid <= hi + 1e-6)  # no quantile crossing
    coverage = np.mean((actual >= lo) & (actual <= hi))
    assert 0.65 <= coverage <= 0.92, coverage
    below_median = np.mean(actual <= mid)
    assert 0.35 <= below_median <= 0.65, below_median
    # the interval width of a N(0, 0.3) noise: 2 * 1.2816 * 0.3 = 0.77
    assert 0.5 < np.mean(hi - lo) < 1.1
    samples = model.predict(H, num_samples=200).all_values()
    assert samples.shape == (H, 1, 200)


def test_gaussian_likelihood(tmp_path, noisy_sine):
    model = make(tmp_path, likelihood=GaussianLikelihood(), n_epochs=8)
    model.fit(noisy_sine[:500])
    assert model.supports_probabilistic_prediction
    params = model.predict(H, series=noisy_sine[:600], predict_likelihood_parameters=True)
    assert params.components.tolist() == ["y_mu", "y_sigma"]
    mu, sigma = params.values()[:, 0], params.values()[:, 1]
    assert np.all(sigma > 0) and 0.15 < sigma.mean() < 0.6
    truth = np.sin(2 * np.pi * np.arange(600, 600 + H) / 24)
    assert np.abs(mu - truth).mean() < 0.3
    samples = model.predict(H, series=noisy_sine[:600], num_samples=300)
    assert samples.all_values().shape == (H, 1, 300)
    assert abs(samples.all_values().std(axis=2).mean() - sigma.mean()) < 0.1
    with pytest.raises(ValueError, match="output_chunk_length"):
        model.predict(H + 1, predict_likelihood_parameters=True)


def test_point_model_rejects_num_samples(tmp_path, noisy_sine):
    model = make(tmp_path, n_epochs=1).fit(noisy_sine[:200])
    with pytest.raises(ValueError):
        model.predict(H, num_samples=10)
