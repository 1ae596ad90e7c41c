"""DeepLinearModel: save/load with darts' safe loading, and darts-style errors on bad input."""

import numpy as np
import pytest

pytest.importorskip("darts")

from darts import TimeSeries  # noqa: E402
from darts.utils.likelihood_models import QuantileRegression  # noqa: E402
from darts_support import H, L, make_model, sine  # noqa: E402

from lightning_dln.integrations.darts import DeepLinearModel  # noqa: E402


def make(tmp_path, **kw):
    return make_model(tmp_path, **{"depth": 3, **kw})


def with_nan(ts, index=10):
    values = ts.values().copy()
    values[index, 0] = np.nan
    return ts.with_values(values)


def test_save_load_identical_predictions_without_trusted(tmp_path):
    series = sine()
    model = make(tmp_path, likelihood=QuantileRegression([0.1, 0.5, 0.9])).fit(series)
    model.use_collapsed(True)
    path = str(tmp_path / "dln.pt")
    model.save(path)
    loaded = DeepLinearModel.load(path)  # darts' safe loading: no trusted=True
    assert loaded._predict_collapsed
    kw = dict(n=H, predict_likelihood_parameters=True)
    np.testing.assert_array_equal(loaded.predict(**kw).values(), model.predict(**kw).values())
    model.save(str(tmp_path / "clean.pt"), clean=True)
    clean = DeepLinearModel.load(str(tmp_path / "clean.pt"))
    np.testing.assert_array_equal(clean.predict(series=series, **kw).values(),
                                  model.predict(**kw).values())


def test_load_from_checkpoint_identical_predictions(tmp_path):
    series = sine(100)
    model = make(tmp_path, model_name="dln_ckpt", save_checkpoints=True, force_reset=True)
    model.fit(series[:80], val_series=series[60:])
    for best in (True, False):
        loaded = DeepLinearModel.load_from_checkpoint("dln_ckpt", work_dir=str(tmp_path),
                                                      best=best)
        np.testing.assert_array_equal(loaded.predict(H, series=series).values(),
                                      model.predict(H, series=series).values())
    # and training resumes from the loaded model
    loaded.fit(series[:80], epochs=1)
    assert loaded.epochs_trained >= 1


@pytest.mark.parametrize("kwargs, field", [
    (dict(depth=0), "depth"), (dict(depth="inf"), "depth"), (dict(width=0), "width"),
    (dict(factor="sparse"), "factor"), (dict(factor="lowrank"), "rank"),
    (dict(init="xavier"), "init"), (dict(init_scale=-1.0), "init_scale"),
    (dict(activation="swish"), "activation"), (dict(channels="mixed"), "channels"),
    (dict(scales=(1, 1)), "scales"), (dict(scales=(1, 2 * L)), "scale"),
    (dict(channel_depth=0), "channel_depth"), (dict(instance_norm="batch"), "instance_norm"),
    (dict(affine_norm=True, instance_norm="last"), "affine_norm"),
    (dict(parametrization="flow"), "flow"), (dict(parametrization="magic"), "parametrization"),
    (dict(input_chunk_length=0), "input_chunk_length must be an integer >= 1"),
    (dict(output_chunk_length=2.0), "output_chunk_length must be an integer >= 1"),
])
def test_nonsense_dln_arguments_raise_at_construction(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field):
        make(tmp_path / "never", save_checkpoints=True, **kwargs)
    assert not (tmp_path / "never").exists()  # nothing created: raised before darts' setup


def test_unknown_argument_is_rejected_by_darts(tmp_path):
    with pytest.raises(ValueError, match="no args/kwargs"):
        make(tmp_path, hidden_size=8)


def test_nan_in_series_raises_before_training(tmp_path):
    series = sine()
    model = make(tmp_path)
    with pytest.raises(ValueError, match="series contains NaN"):
        model.fit(with_nan(series))
    with pytest.raises(ValueError, match=r"series\[1\] contains NaN"):
        model.fit([series, with_nan(series)])
    with pytest.raises(ValueError, match="val_series contains NaN"):
        model.fit(series, val_series=with_nan(series))
    with pytest.raises(ValueError, match="past_covariates contains NaN"):
        model.fit(series, past_covariates=with_nan(sine(120, 0.05, "p")))
    assert model.model is None  # no training started
    model.fit(series)
    with pytest.raises(ValueError, match="series contains NaN"):
        model.predict(H, series=with_nan(series, 75))
    with pytest.raises(ValueError, match="series contains NaN"):
        model.historical_forecasts(with_nan(series, 75), start=60, start_format="position",
                                   retrain=False)


def test_series_too_short(tmp_path):
    model = make(tmp_path)
    with pytest.raises(ValueError, match="too short"):
        model.fit(sine(L + H - 1))
    model.fit(sine(L + H))  # exactly one window is enough


def test_covariates_not_covering_the_span(tmp_path):
    series = sine(80)
    with pytest.raises(ValueError, match="past_covariates"):
        make(tmp_path).fit(series, past_covariates=sine(40, 0.05, "p"))
    with pytest.raises(ValueError, match="future_covariates"):
        make(tmp_path).fit(series, future_covariates=sine(40, 0.05, "f"))
    model = make(tmp_path).fit(series, future_covariates=sine(84, 0.05, "f"))
    with pytest.raises(ValueError, match="future_covariates"):
        model.predict(H + 1)  # the future covariates end 4 steps after the series
    assert model.predict(H).n_timesteps == H


def test_wrong_number_of_components_at_predict(tmp_path):
    model = make(tmp_path).fit(sine())
    two = sine().stack(sine(name="other"))
    with pytest.raises(ValueError):
        model.predict(H, series=two)


def test_missing_covariates_at_predict(tmp_path):
    series = sine(80)
    model = make(tmp_path).fit([series, series + 1], past_covariates=[sine(80, 0.05, "p")] * 2)
    with pytest.raises(ValueError, match="past_covariates"):
        model.predict(H, series=series)


def test_integer_index_series(tmp_path):
    series = TimeSeries.from_values(np.sin(np.arange(60, dtype=np.float32) / 3.0))
    pred = make(tmp_path).fit(series).predict(H)
    assert pred.time_index[0] == 60
