"""Exact attributions, spectral read-outs, interpretation figures, callback and explain CLI."""

import json
import math

import pytest
import torch

from lightning_dln.interpret import attribute, check_index, collapsed, time_unit, unwrap
from lightning_dln.models import DeepLinearTimeSeries
from lightning_dln.theory.interpret import (
    dominant_periods,
    frequency_response,
    linear_attributions,
    periodogram,
    top_lags,
)

CONFIGS = [
    ({}, None, {}),
    ({"scales": [1, 2, 4], "depth": 3}, 3, {}),
    ({"channels": "per_channel"}, None, {}),
    ({"channel_mixing": True, "channel_depth": 2, "affine_norm": True}, 2, {}),
    ({"instance_norm": "last", "temporal_mixing": True}, None, {}),
    ({"instance_norm": "none"}, 2,
     {"n_past_covariates": 2, "n_future_covariates": 3, "n_static_covariates": 2}),
]


def _random_model(cfg, q, covs, lookback=24, horizon=6, channels=3):
    torch.manual_seed(0)
    model = DeepLinearTimeSeries(lookback, horizon, channels, cfg, n_outputs=q, **covs).double()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)  # biases and mixers away from their identity init
    return model


@pytest.mark.parametrize("reduce", ["lag", "channel", "none"])
@pytest.mark.parametrize(("cfg", "q", "covs"), CONFIGS)
def test_attributions_sum_to_forecast(cfg, q, covs, reduce):
    """Completeness: sum of all terms == forecast, at every step, for any baseline."""
    model = _random_model(cfg, q, covs)
    x = torch.randn(5, 24, 3, dtype=torch.float64) * 3 + 1
    kw = {}
    if covs:
        kw = {"past_covariates": torch.randn(5, 24, 2, dtype=torch.float64),
              "future_covariates": torch.randn(5, 6, 3, dtype=torch.float64),
              "static_covariates": torch.randn(5, 2, dtype=torch.float64)}
    y = model(x, **kw)
    y = y if q is not None else y[..., None]  # (B, H, C, Q)
    a = attribute(model, x, reduce=reduce, **kw)
    torch.testing.assert_close(a.total(), y, rtol=0, atol=1e-10)
    b = attribute(model, x, reduce=reduce, steps=[0, 5], baseline=x[0], **kw)
    torch.testing.assert_close(b.total(), y[:, [0, 5]], rtol=0, atol=1e-10)
    assert set(a.covariates) == ({"past", "future", "static"} if covs else set())


def test_shared_model_attribution_is_weight_times_input():
    """Channel-independent RevIN model: contribution = W[h, l] * z[l] * std, baseline = mean."""
    model = _random_model({}, None, {})
    x = torch.randn(2, 24, 3, dtype=torch.float64)
    a = attribute(model, x, reduce="none")
    assert a.inputs.shape == (2, 6, 3, 1, 24, 3)
    off_diagonal = a.inputs.sum(dim=-2)[:, :, [0, 1], :, [1, 2]]  # output c, input c' != c
    assert off_diagonal.abs().max() == 0
    w = collapsed(model).weight[0].detach()  # (H, L)
    std, mean = torch.std_mean(x, dim=1, unbiased=False)
    z = (x - mean[:, None]) / torch.sqrt(std[:, None] ** 2 + 1e-5)
    expected = w[None, :, None, :] * z.transpose(1, 2)[:, None] * \
        torch.sqrt(std**2 + 1e-5)[:, None, :, None]
    torch.testing.assert_close(a.inputs.sum(-1)[..., 0, :], expected)
    torch.testing.assert_close(a.level[..., 0], mean[:, None].expand(2, 6, 3))


def test_darts_adapter_attributions(tmp_path):
    darts = pytest.importorskip("darts")
    pytest.importorskip("lightning_dln.integrations.darts")
    import numpy as np
    import pytorch_lightning as pl_
    from darts.utils.likelihood_models import QuantileRegression

    from lightning_dln.integrations.darts import DeepLinearModel
    from lightning_dln.interpret_callback import InterpretationFigures
    from lightning_dln.interpret_plots import plot_darts_forecast

    t = np.arange(120, dtype=np.float32)  # a custom trainer runs at 32-bit precision
    values = np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12) + 0.1 * t / 12], 1)
    series = darts.TimeSeries.from_values(values)
    model = DeepLinearModel(12, 4, depth=2, n_epochs=1, batch_size=16, random_state=0,
                            likelihood=QuantileRegression([0.1, 0.5, 0.9]))
    trainer = pl_.Trainer(max_epochs=1, logger=pl_.loggers.CSVLogger(tmp_path),
                          enable_progress_bar=False, enable_model_summary=False,
                          callbacks=[InterpretationFigures()])  # the pytorch_lightning Trainer
    model.fit(series, trainer=trainer)
    assert list((tmp_path / "lightning_logs" / "version_0" / "images").glob("*.png"))
    net = unwrap(model)
    x = torch.from_numpy(values[-12:])[None].to(next(net.parameters()).dtype)  # (1, L, C)
    a = attribute(model, x)
    with torch.no_grad():
        y = net(x)  # (1, H, C, Q)
    torch.testing.assert_close(a.total(), y)
    params = model.predict(4, predict_likelihood_parameters=True).values()  # (H, C*Q)
    torch.testing.assert_close(a.total()[0].reshape(4, 6), torch.from_numpy(params).to(x.dtype))
    fig = plot_darts_forecast(series, model.predict(4, num_samples=50), past_steps=36)
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()


def test_frequency_response_of_moving_average():
    """A mean of the last m inputs has H(f) = e^{-i pi f (m-1)} sin(pi f m) / (m sin(pi f))."""
    lookback, m, step = 48, 6, 0.5
    w = torch.zeros(2, lookback, dtype=torch.float64)
    w[:, -m:] = 1.0 / m
    freqs, response = frequency_response(w, step)
    f = freqs * step  # cycles per step
    expected = torch.ones_like(f, dtype=torch.complex128)
    nz = f > 0
    expected[nz] = torch.exp(-1j * math.pi * f[nz] * (m - 1)) * \
        torch.sin(math.pi * f[nz] * m) / (m * torch.sin(math.pi * f[nz]))
    torch.testing.assert_close(freqs, torch.arange(25, dtype=torch.float64) / (lookback * step))
    torch.testing.assert_close(response, expected.expand(2, -1))


def test_periods_and_top_lags():
    t = torch.arange(24 * 40, dtype=torch.float64)
    series = torch.stack([torch.sin(2 * math.pi * t / 24) + 0.3 * torch.sin(2 * math.pi * t / 12),
                          torch.cos(2 * math.pi * t / 24)], 1)
    f, power = periodogram(series)
    periods = dominant_periods(f, power.mean(1), 2)
    assert [round(p) for p, _ in periods] == [24, 12]
    w = torch.sin(2 * math.pi * torch.arange(96, dtype=torch.float64) / 24)
    freqs, response = frequency_response(w[None], step=1.0)
    assert round(dominant_periods(freqs, response.abs()[0], 1)[0][0]) == 24
    lags, values = top_lags(torch.tensor([[0.0, 3.0, -5.0, 1.0]]), 2)
    assert lags.tolist() == [[2, 3]] and values.tolist() == [[-5.0, 3.0]]


def test_time_units():
    assert time_unit("1h") == (1.0, "hours")
    assert time_unit("15min") == (15.0, "minutes")
    assert time_unit("1D") == (1.0, "days")
    assert time_unit(None) == (1.0, "steps")


def test_figures_have_labelled_axes():
    from lightning_dln.interpret_plots import interpretation_figures, plot_attribution, plot_spectra

    model = _random_model({"scales": [1, 2]}, 3, {})
    figs = interpretation_figures(model, "1h", periods=[24, 12])
    figs["spectra"] = plot_spectra({"depth 1": torch.rand(6), "depth 4": torch.rand(6)})
    a = attribute(model, torch.randn(1, 24, 3, dtype=torch.float64), steps=[0])
    figs["attribution"] = plot_attribution(a.inputs[0, 0, 0, 0], torch.randn(24), "1h")
    for name, fig in figs.items():
        assert fig.axes[0].get_ylabel() and fig.axes[-1 if name == "attribution" else 0] \
            .get_xlabel(), name
    assert "hours" in figs["lag_horizon"].axes[0].get_xlabel()


def test_bad_inputs():
    model = _random_model({}, None, {})
    x = torch.randn(2, 24, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="steps"):
        attribute(model, x, steps=[6])
    with pytest.raises(ValueError, match="reduce"):
        attribute(model, x, reduce="sum")
    with pytest.raises(ValueError, match="channels"):
        attribute(model, x[..., :2])
    with pytest.raises(ValueError, match="^z must"):
        linear_attributions(torch.randn(1, 6, 24), torch.randn(2, 3, 20), 6)
    with pytest.raises(ValueError, match="horizon"):
        linear_attributions(torch.randn(1, 6, 24), torch.randn(2, 3, 24), 4)
    with pytest.raises(ValueError, match="channel"):
        check_index("channel", 3, 3)
    with pytest.raises(ValueError, match="model must be"):
        unwrap(torch.nn.Linear(2, 2))
    relu = DeepLinearTimeSeries(24, 6, 3, {"activation": "relu"})
    with pytest.raises(ValueError, match="nonlinear"):
        attribute(relu, x.float())
    with pytest.raises(ValueError, match="step"):
        frequency_response(torch.randn(3, 8), step=0)
    with pytest.raises(ValueError, match="baseline must be a finite tensor of shape"):
        attribute(model, x, baseline=torch.randn(3))
    with pytest.raises(ValueError, match="baseline must be a finite"):
        attribute(model, x, baseline=torch.full((24, 3), float("nan")))
    with pytest.raises(ValueError, match="dtype must be None or a floating"):
        collapsed(model, dtype=torch.int64)
    with pytest.raises(ValueError, match="power must be finite"):
        dominant_periods(torch.arange(5.0), torch.full((5,), float("nan")))
    with pytest.raises(ValueError, match="scores must be finite"):
        top_lags(torch.tensor([1.0, float("nan")]), 1)
    with pytest.raises(ValueError, match=r"series must be a tensor of shape \(T >= 4,\)"):
        periodogram(torch.randn(3))


def test_periodogram_of_one_series_is_its_single_channel():
    series = torch.randn(50, dtype=torch.float64)
    f1, p1 = periodogram(series)
    f2, p2 = periodogram(series[:, None])
    assert torch.equal(f1, f2) and p1.shape == (26,) and torch.allclose(p1, p2[:, 0])


def test_interpretation_plots_reject_non_finite_input():
    from lightning_dln.interpret_plots import plot_attribution, plot_lag_horizon, plot_spectra

    nan = torch.tensor([1.0, float("nan")])
    with pytest.raises(ValueError, match=r"spectra\['deep'\] must be finite"):
        plot_spectra({"shallow": torch.ones(2), "deep": nan})
    with pytest.raises(ValueError, match="contributions must be finite"):
        plot_attribution(nan, torch.ones(2))
    with pytest.raises(ValueError, match="weights must be finite"):
        plot_lag_horizon(torch.full((2, 3), float("inf")))


def test_explain_helpers_bad_inputs(tmp_path):
    from lightning_dln.explain import (
        explain_windows,
        load_datamodule,
        predict_windows,
        time_explain,
    )

    cf = collapsed(_random_model({}, None, {}))
    x = torch.randn(4, 24, 3, dtype=torch.float64)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            predict_windows(cf, x, batch_size=bad)
    with pytest.raises(ValueError, match="at least one window"):
        explain_windows(cf, x[:0], [0])
    with pytest.raises(ValueError, match="lookback"):
        predict_windows(cf, x[:, 1:])
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        time_explain(cf, x, [0], repeats=0)
    with pytest.raises(ValueError, match="not a readable YAML file"):
        load_datamodule(tmp_path / "missing.yaml")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, ltsf_dir):
    import lightning.pytorch as pl
    import yaml

    from lightning_dln.data import LTSFDataModule
    from lightning_dln.module import DLNForecaster

    root = tmp_path_factory.mktemp("explain")
    data = {"dataset": "ETTh1", "path": str(ltsf_dir), "lookback": 48, "horizon": 24,
            "batch_size": 16}
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"net": {"depth": 2}}, "data": data}))
    pl.seed_everything(0)
    model = DLNForecaster(48, 24, 7, {"depth": 2}, quantiles=[0.1, 0.5, 0.9], lr=1e-3)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=LTSFDataModule(**data))
    trainer.save_checkpoint(root / "model.ckpt")
    relu = DLNForecaster(48, 24, 7, {"depth": 2, "activation": "relu"})
    torch.save({"state_dict": relu.state_dict(), "hyper_parameters": dict(relu.hparams)},
               root / "relu.ckpt")
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "epoch": 0}, root / "other.ckpt")
    return root


def test_explain_cli_end_to_end(tiny_ckpt):
    from lightning_dln.cli import main

    out = tiny_ckpt / "out"
    main(["explain", "--ckpt", str(tiny_ckpt / "model.ckpt"), "--config",
          str(tiny_ckpt / "config.yaml"), "--out", str(out), "--steps", "1", "24",
          "--repeats", "1"])
    for name in ("lag_horizon", "frequency_response", "spectrum", "attribution", "forecast"):
        assert (out / f"{name}.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["step"] for r in summary["top_lags"]] == [1, 24]
    assert len(summary["top_lags"][0]["weight_lags"]) == 5
    assert summary["max_completeness_error"] < 1e-3
    assert summary["unit"] == "hours" and summary["timing_s"]["windows"] == 2857
    assert round(summary["data_periods"][0][0]) == 24  # ETTh1 is daily-seasonal
    assert "top lags" in (out / "summary.md").read_text()


@pytest.mark.parametrize(("ckpt", "extra", "match"), [
    ("other.ckpt", [], "not a DLNForecaster checkpoint"),
    ("relu.ckpt", [], "nonlinear"),
    ("model.ckpt", ["--channel", "7"], "channel"),
    ("model.ckpt", ["--steps", "25"], "steps"),
    ("model.ckpt", ["--window", "100000"], "window"),
])
def test_explain_bad_inputs(tiny_ckpt, ckpt, extra, match):
    from lightning_dln.explain import main

    with pytest.raises(ValueError, match=match):
        main(["--ckpt", str(tiny_ckpt / ckpt), "--config", str(tiny_ckpt / "config.yaml"),
              "--out", str(tiny_ckpt / "bad"), "--repeats", "0", *extra])


def test_callback_logs_to_tensorboard_and_csv(tmp_path):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_dln.interpret_callback import InterpretationFigures
    from lightning_dln.module import DLNForecaster

    pytest.importorskip("tensorboard")
    model = DLNForecaster(24, 6, 2, {"depth": 2})
    data = DataLoader(TensorDataset(torch.randn(16, 24, 2), torch.randn(16, 6, 2)), batch_size=8)
    tb = pl.loggers.TensorBoardLogger(tmp_path, name="tb")
    csv = pl.loggers.CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(max_epochs=2, logger=[tb, csv], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[InterpretationFigures(every_n_epochs=2, freq="1h")])
    trainer.fit(model, data)
    images = sorted(p.name for p in (tmp_path / "csv" / "version_0" / "images").iterdir())
    assert images == ["interpret_frequency_response_epoch=1.png",
                      "interpret_lag_horizon_epoch=1.png", "interpret_spectrum_epoch=1.png"]
    assert list((tmp_path / "tb" / "version_0").glob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="every_n_epochs"):
        InterpretationFigures(every_n_epochs=0)
    relu = DLNForecaster(24, 6, 2, {"depth": 2, "activation": "relu"})
    with pytest.raises(ValueError, match="deep linear"):
        InterpretationFigures().setup(trainer, relu, "fit")
