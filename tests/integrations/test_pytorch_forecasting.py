"""DeepLinear as a pytorch-forecasting model: from_dataset, losses, predict, plot, checkpoints."""

import warnings

import pytest

pytest.importorskip("pytorch_forecasting")

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from pytorch_forecasting import TimeSeriesDataSet  # noqa: E402
from pytorch_forecasting.metrics import MAE, RMSE, SMAPE, MultiLoss, QuantileLoss  # noqa: E402

from lightning_dln.integrations.pytorch_forecasting import DeepLinear, synthetic_panel  # noqa: E402
from lightning_dln.models import CollapsedForecaster, DeepLinearTimeSeries  # noqa: E402

L, H, CUTOFF = 8, 3, 30
warnings.filterwarnings("ignore", ".*does not have many workers.*")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """p-f's predict() builds a Trainer with the default logger: keep lightning_logs out of cwd."""
    monkeypatch.chdir(tmp_path)


def make_datasets(**overrides):
    data = synthetic_panel(n_series=4, length=40)
    kwargs = dict(
        time_idx="time_idx", target="target", group_ids=["agency", "sku"],
        max_encoder_length=L, min_encoder_length=L, max_prediction_length=H,
        min_prediction_length=H, time_varying_known_reals=["price", "season"],
        time_varying_unknown_reals=["target", "promo"], static_reals=["size"],
    )
    kwargs.update(overrides)
    training = TimeSeriesDataSet(data[data.time_idx < CUTOFF], **kwargs)
    validation = TimeSeriesDataSet.from_dataset(training, data, min_prediction_idx=CUTOFF)
    return training, validation


def fit(model, training, validation, tmp_path, epochs=2):
    pl.seed_everything(0)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, training.to_dataloader(train=True, batch_size=8, num_workers=0),
                validation.to_dataloader(train=False, batch_size=8, num_workers=0))
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model with past, future and static covariates, trained 2 epochs with QuantileLoss."""
    training, validation = make_datasets()
    pl.seed_everything(0)
    model = DeepLinear.from_dataset(training, depth=3, width=16, loss=QuantileLoss(),
                                    learning_rate=1e-2)
    trainer = fit(model, training, validation, tmp_path_factory.mktemp("pf"))
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    trainer.save_checkpoint(path)
    return model, validation, path


def test_from_dataset_derives_sizes_and_covariate_roles():
    training, _ = make_datasets()
    model = DeepLinear.from_dataset(training, depth=5, residual=True, init="identity_residual")
    hp = model.hparams
    assert (hp.encoder_length, hp.prediction_length, hp.targets) == (L, H, ["target"])
    assert hp.past_reals == ["price", "season", "promo"]  # encoder reals except the target
    assert hp.future_reals == ["price", "season"]  # decoder: known reals only
    assert hp.static_reals == ["size"]
    net = model.network
    assert isinstance(net, DeepLinearTimeSeries)
    assert (net.lookback, net.horizon, net.n_channels, net.q) == (L, H, 1, 1)
    cov = net.covariates
    assert (cov.n_past, cov.n_future, cov.n_static) == (3, 2, 1)
    assert net.config.depth == 5 and net.config.residual
    assert model.hparams.dln["depth"] == 5


def test_many_series_and_one_model_for_all_groups(trained):
    model, validation, _ = trained
    out = model.predict(validation, return_index=True)
    assert out.output.shape == (len(validation), H)
    assert out.index[["agency", "sku"]].drop_duplicates().shape[0] == 4


def test_future_unknown_reals_do_not_leak(trained):
    """The decoder part of unknown reals (the future target!) must not change the forecast."""
    model, validation, _ = trained
    x, _ = next(iter(validation.to_dataloader(train=False, batch_size=4, num_workers=0)))
    model.eval()
    with torch.no_grad():
        base = model(x)["prediction"]
        leaky = dict(x, decoder_cont=x["decoder_cont"].clone())
        unknown = [model.hparams.x_reals.index(n) for n in ("target", "promo")]
        leaky["decoder_cont"][..., unknown] += 100.0
        assert torch.equal(model(leaky)["prediction"], base)
        known = dict(x, decoder_cont=x["decoder_cont"].clone())
        known["decoder_cont"][..., model.hparams.x_reals.index("price")] += 1.0
        assert not torch.allclose(model(known)["prediction"], base)


@pytest.mark.parametrize("loss", [MAE(), RMSE(), QuantileLoss([0.1, 0.5, 0.9])])
def test_losses_train_and_log_metrics(loss, tmp_path):
    training, validation = make_datasets()
    model = DeepLinear.from_dataset(training, depth=2, width=8, loss=loss,
                                    logging_metrics=torch.nn.ModuleList([SMAPE(), MAE()]))
    before = [p.detach().clone() for p in model.parameters()]
    trainer = fit(model, training, validation, tmp_path, epochs=1)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    logged = trainer.callback_metrics
    assert {"val_loss", "val_SMAPE", "val_MAE"} <= set(logged)
    assert all(torch.isfinite(v) for v in logged.values())
    q = len(loss.quantiles) if isinstance(loss, QuantileLoss) else 1
    x, _ = next(iter(validation.to_dataloader(train=False, batch_size=4, num_workers=0)))
    assert model(x)["prediction"].shape == (4, H, q)


def test_predict_modes_and_returns(trained):
    model, validation, _ = trained
    n = len(validation)
    pred = model.predict(validation, mode="prediction", return_x=True, return_y=True,
                         return_index=True, return_decoder_lengths=True)
    assert pred.output.shape == (n, H)
    assert pred.x["encoder_cont"].shape[:2] == (n, L)
    assert pred.y[0].shape == (n, H)
    assert len(pred.index) == n and set(pred.index.columns) >= {"time_idx", "agency", "sku"}
    assert pred.decoder_lengths.eq(H).all()
    quantiles = model.predict(validation, mode="quantiles")
    assert quantiles.shape == (n, H, 7)
    assert torch.allclose(quantiles[..., 3], pred.output)  # median = point prediction
    raw = model.predict(validation, mode="raw", return_x=True)
    assert raw.output.prediction.shape == (n, H, 7)
    assert torch.allclose(model.to_prediction(raw.output), pred.output)


def test_predict_on_dataframe(trained):
    model, _, _ = trained
    data = synthetic_panel(n_series=4, length=40)
    pred = model.predict(data, return_index=True)
    assert pred.output.shape == (4, H)


def test_plot_prediction(trained):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    model, validation, _ = trained
    raw = model.predict(validation, mode="raw", return_x=True)
    fig = model.plot_prediction(raw.x, raw.output, idx=0, add_loss_to_title=True)
    assert isinstance(fig, matplotlib.figure.Figure)
    matplotlib.pyplot.close(fig)


def test_load_from_checkpoint_identical_predictions(trained):
    model, validation, path = trained
    loaded = DeepLinear.load_from_checkpoint(path)
    assert isinstance(loaded.loss, QuantileLoss)
    assert loaded.hparams.dln == model.hparams.dln
    a = model.predict(validation, mode="raw").prediction
    b = loaded.predict(validation, mode="raw").prediction
    assert torch.equal(a, b)


def test_collapse_is_the_exact_end_to_end_map(trained):
    model, validation, _ = trained
    collapsed = model.collapse(torch.float64)
    assert isinstance(collapsed, CollapsedForecaster)
    x, _ = next(iter(validation.to_dataloader(train=False, batch_size=8, num_workers=0)))
    inputs = {k: None if v is None else v.double() for k, v in model.core_inputs(x).items()}
    with torch.no_grad():
        deep = model.network.double()(**inputs)
        model.network.float()
        assert torch.allclose(collapsed(**inputs), deep, atol=1e-9)


def test_several_targets(tmp_path):
    training, validation = make_datasets(target=["target", "target2"],
                                         time_varying_unknown_reals=["target", "target2", "promo"])
    model = DeepLinear.from_dataset(training, depth=2, width=8, channel_mixing=True)
    assert isinstance(model.loss, MultiLoss) and model.network.n_channels == 2
    fit(model, training, validation, tmp_path, epochs=1)
    pred = model.predict(validation)
    assert len(pred) == 2 and all(p.shape == (len(validation), H) for p in pred)
    mixed = DeepLinear.from_dataset(training, loss=MultiLoss([QuantileLoss(), MAE()]))
    x, _ = next(iter(validation.to_dataloader(train=False, batch_size=4, num_workers=0)))
    out = mixed(x)["prediction"]
    assert out[0].shape == (4, H, 7) and out[1].shape == (4, H, 1)
