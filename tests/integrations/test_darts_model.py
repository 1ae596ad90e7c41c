"""Contract tests of DeepLinearModel: what darts' upstream suite checks for global torch models."""

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("darts")

from darts import TimeSeries, concatenate  # noqa: E402
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule  # noqa: E402
from darts.models.forecasting.torch_forecasting_model import (  # noqa: E402
    MixedCovariatesTorchModel,
)
from darts.utils.timeseries_generation import linear_timeseries  # noqa: E402
from darts_support import H, L, make_model, sine  # noqa: E402

from lightning_dln.integrations.darts import DeepLinearModel, DLNModule  # noqa: E402
from lightning_dln.models import CollapsedForecaster, DLNConfig  # noqa: E402

make = make_model


@pytest.fixture(scope="module")
def target():
    return sine().stack(linear_timeseries(length=80, column_name="lin").astype(np.float32))


@pytest.fixture(scope="module")
def covs():
    past = sine(length=120, freq=0.05, name="p")
    future = sine(length=120, freq=0.03, name="f").stack(sine(length=120, freq=0.2, name="g"))
    return past, future


def test_is_a_darts_mixed_covariates_model(tmp_path, target):
    model = make(tmp_path).fit(target)
    assert isinstance(model, MixedCovariatesTorchModel)
    assert isinstance(model.model, DLNModule) and isinstance(model.model, PLForecastingModule)
    assert model.supports_past_covariates and model.supports_future_covariates
    assert model.supports_static_covariates and model.supports_multivariate


def test_dln_defaults_mirror_dln_config():
    sig = inspect.signature(DeepLinearModel.__init__).parameters
    for field in dataclasses.fields(DLNConfig):
        assert field.name in sig, field.name
        assert sig[field.name].default == field.default, field.name


def test_darts_kwargs_reach_the_module(tmp_path, target):
    import torch
    from torchmetrics import MeanAbsoluteError

    model = make(tmp_path, loss_fn=torch.nn.L1Loss(), torch_metrics=MeanAbsoluteError(),
                 optimizer_cls=torch.optim.SGD, optimizer_kwargs={"lr": 1e-3},
                 lr_scheduler_cls=torch.optim.lr_scheduler.StepLR,
                 lr_scheduler_kwargs={"step_size": 1}, batch_size=8, n_epochs=2,
                 add_encoders={"position": {"past": ["relative"], "future": ["relative"]}})
    model.fit(target)
    assert isinstance(model.model.criterion, torch.nn.L1Loss)
    assert isinstance(model.trainer.optimizers[0], torch.optim.SGD)
    assert model.epochs_trained == 2
    cov = model.model.net.covariates  # past + historic future encodings -> P = 2, F = 1
    assert cov.n_past == 2 and cov.n_future == 1
    assert model.predict(H).n_timesteps == H


@pytest.mark.parametrize("options", [
    dict(depth=1), dict(depth=3, width=8, residual=True, init="identity_residual"),
    dict(factor="lowrank", rank=3, init="orthogonal"), dict(factor="diagonal", init="small"),
    dict(channels="per_channel", scales=(1, 2, 4)), dict(temporal_mixing=True),
    dict(channel_mixing=True, channel_depth=2), dict(activation="relu"),
    dict(instance_norm="last"), dict(instance_norm="none", bias=False),
    dict(affine_norm=True),
])
def test_every_dln_option_fits_and_predicts(tmp_path, target, options):
    model = make(tmp_path, **options).fit(target)
    assert model.dln_config == DLNConfig(**{**dataclasses.asdict(DLNConfig(depth=2)), **options})
    pred = model.predict(H)
    assert pred.values().shape == (H, 2) and np.isfinite(pred.values()).all()


def test_flow_parametrization_with_depth_flow_optimizer(tmp_path, target):
    from lightning_dln.theory import DepthFlow

    model = make(tmp_path, depth=8, parametrization="flow", optimizer_cls=DepthFlow,
                 optimizer_kwargs={"lr": 1e-3}).fit(target)
    assert model.trainer.optimizers[0].param_groups[0]["depth"] == 8
    assert np.isfinite(model.predict(H).values()).all()


@pytest.mark.parametrize("n", [1, H, 2 * H + 1])
def test_predict_n_below_equal_above_output_chunk(tmp_path, target, covs, n):
    past, future = covs
    model = make(tmp_path).fit(target, past_covariates=past, future_covariates=future)
    pred = model.predict(n)
    assert pred.n_timesteps == n and pred.components.tolist() == ["sine", "lin"]
    assert pred.start_time() == target.end_time() + target.freq
    assert np.isfinite(pred.values()).all()


def test_multiple_series_with_val_series(tmp_path):
    series = [sine(80, 0.1), sine(90, 0.07) + 2.0, sine(70, 0.12) * 3]
    model = make(tmp_path, n_epochs=2)
    model.fit(series, val_series=[s[-30:] for s in series])
    preds = model.predict(H, series=series)
    assert len(preds) == 3
    for s, p in zip(series, preds, strict=True):
        assert p.start_time() == s.end_time() + s.freq and p.n_timesteps == H


def test_static_covariates(tmp_path):
    a = sine(80, 0.1).with_static_covariates(pd.DataFrame({"k": [0.0], "m": [1.0]}))
    b = (sine(80, 0.1) + 1).with_static_covariates(pd.DataFrame({"k": [1.0], "m": [0.0]}))
    model = make(tmp_path).fit([a, b])
    assert model.model.net.covariates.n_static == 2
    assert len(model.predict(H, series=[a, b])) == 2
    off = make(tmp_path, use_static_covariates=False).fit([a, b])
    assert off.model.net.covariates.n_static == 0


def test_static_covariates_change_the_forecast(tmp_path):
    a = sine(80, 0.1).with_static_covariates(pd.DataFrame({"k": [0.0]}))
    b = a.with_static_covariates(pd.DataFrame({"k": [5.0]}))
    model = make(tmp_path, n_epochs=3).fit([a, b])
    p0 = model.predict(H, series=a).values()
    p1 = model.predict(H, series=b).values()
    assert not np.allclose(p0, p1)


def test_historical_forecasts_fast_path_and_backtest(tmp_path, target, covs):
    past, future = covs
    model = make(tmp_path).fit(target, past_covariates=past, future_covariates=future)
    hfc = model.historical_forecasts(target, past_covariates=past, future_covariates=future,
                                     start=60, start_format="position", forecast_horizon=H,
                                     stride=1, retrain=False, last_points_only=False)
    assert len(hfc) == 80 - 60 - H + 1
    for i, fc in enumerate(hfc):
        assert fc.start_time() == target.time_index[60 + i] and fc.n_timesteps == H
    # fast path == one predict call per window
    ref = model.predict(H, series=target[:65], past_covariates=past, future_covariates=future)
    np.testing.assert_allclose(hfc[5].values(), ref.values(), rtol=1e-5, atol=1e-6)
    err = model.backtest(target, past_covariates=past, future_covariates=future,
                         historical_forecasts=hfc, last_points_only=False)
    assert np.isfinite(err) and err >= 0
    res = model.residuals(target, past_covariates=past, future_covariates=future,
                          historical_forecasts=hfc, last_points_only=False)
    assert len(res) == len(hfc) and res[0].n_timesteps == H


def test_residuals_and_retrained_historical_forecasts(tmp_path):
    series = sine(70, 0.1)
    model = make(tmp_path)
    res = model.residuals(series, start=60, start_format="position", forecast_horizon=2,
                          retrain=True, last_points_only=True)
    assert res.n_timesteps == 70 - 60 - 2 + 1
    assert np.isfinite(res.values()).all()


def test_reversible_instance_norm(tmp_path, target):
    for rin in (True, {"affine": False}):
        model = make(tmp_path, use_reversible_instance_norm=rin, instance_norm="none")
        model.fit(target + 100.0)
        assert model.model.rin is not None
        pred = model.predict(H)
        assert np.abs(pred.values().mean() - 100.0) < 10.0  # RINorm restores the level
    both = make(tmp_path, use_reversible_instance_norm=True).fit(target)
    assert np.isfinite(both.predict(H).values()).all()


def test_output_chunk_shift(tmp_path, target, covs):
    _, future = covs
    shift = 3
    model = make(tmp_path, output_chunk_shift=shift).fit(target, future_covariates=future)
    pred = model.predict(H)
    assert pred.start_time() == target.end_time() + (shift + 1) * target.freq
    with pytest.raises(ValueError):
        model.predict(H + 1)  # darts: no auto-regression with a shifted output chunk


def test_same_seed_same_forecasts(tmp_path, target):
    a = make(tmp_path, random_state=7, n_epochs=2).fit(target).predict(H)
    b = make(tmp_path, random_state=7, n_epochs=2).fit(target).predict(H)
    c = make(tmp_path, random_state=8, n_epochs=2).fit(target).predict(H)
    np.testing.assert_array_equal(a.values(), b.values())
    assert not np.array_equal(a.values(), c.values())


@pytest.mark.parametrize("options", [dict(depth=6), dict(channel_mixing=True, scales=(1, 3))])
def test_collapse_gives_the_same_forecasts(tmp_path, target, covs, options):
    past, future = covs
    model = make(tmp_path, n_epochs=2, **options)
    model.fit(target, past_covariates=past, future_covariates=future)
    collapsed = model.collapse()
    assert isinstance(collapsed, CollapsedForecaster)
    weight = collapsed.weight
    assert weight.shape == (1, H, L)  # one (K, L) matrix, whatever the depth
    deep = model.predict(2 * H, past_covariates=past, future_covariates=future)
    hfc_deep = model.historical_forecasts(target, past_covariates=past, future_covariates=future,
                                          start=60, start_format="position", forecast_horizon=H,
                                          retrain=False, last_points_only=False)
    model.use_collapsed(True)
    fast = model.predict(2 * H, past_covariates=past, future_covariates=future)
    hfc_fast = model.historical_forecasts(target, past_covariates=past, future_covariates=future,
                                          start=60, start_format="position", forecast_horizon=H,
                                          retrain=False, last_points_only=False)
    np.testing.assert_allclose(fast.values(), deep.values(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(concatenate(hfc_fast, axis=0, ignore_time_axis=True).values(),
                               concatenate(hfc_deep, axis=0, ignore_time_axis=True).values(),
                               rtol=1e-5, atol=1e-5)
    model.use_collapsed(False)
    np.testing.assert_array_equal(model.predict(2 * H, past_covariates=past,
                                                future_covariates=future).values(), deep.values())
    # more training: the cached collapsed map must follow the new weights
    model.fit(target, past_covariates=past, future_covariates=future, epochs=1)
    deep = model.predict(H, past_covariates=past, future_covariates=future)
    fast = model.use_collapsed(True).predict(H, past_covariates=past, future_covariates=future)
    np.testing.assert_allclose(fast.values(), deep.values(), rtol=1e-5, atol=1e-5)


def test_collapse_needs_weights_and_a_linear_net(tmp_path, target):
    with pytest.raises(ValueError, match="fit"):
        make(tmp_path).collapse()
    relu = make(tmp_path, activation="relu").fit(target)
    with pytest.raises(ValueError, match="activation"):
        relu.use_collapsed(True)


def test_float64_series(tmp_path):
    series = TimeSeries.from_values(np.sin(np.arange(60) / 3.0)[:, None])
    pred = make(tmp_path).fit(series).predict(H)
    assert pred.dtype == np.float64


def test_missing_darts_gives_an_install_hint(monkeypatch):
    import sys

    import lightning_dln.integrations.darts as package

    monkeypatch.setitem(sys.modules, "darts", None)  # import darts -> ImportError
    with pytest.raises(ImportError, match=r'pip install "lightning-dln\[darts\]"'):
        package.__getattr__("DeepLinearModel")
    with pytest.raises(AttributeError):
        package.__getattr__("NoSuchModel")
