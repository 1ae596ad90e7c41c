"""The LightningModule: metrics against an independent computation, checkpoints, bad input."""

import lightning.pytorch as pl
import pytest
import torch

from lightning_dln.data import LTSFDataModule
from lightning_dln.module import DLNForecaster


def small_setup(ltsf_dir, **model_kwargs):
    data = LTSFDataModule("ETTh1", path=str(ltsf_dir), lookback=48, horizon=12, batch_size=64)
    model = DLNForecaster(48, 12, data.n_channels, net={"depth": 3}, lr=1e-3, **model_kwargs)
    return data, model


def trainer(tmp_path, **kwargs):
    args = dict(max_epochs=1, limit_train_batches=10, logger=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=tmp_path, deterministic=True)
    return pl.Trainer(**{**args, **kwargs})


def test_test_metrics_equal_a_direct_computation_over_every_window(ltsf_dir, tmp_path):
    pl.seed_everything(0)
    data, model = small_setup(ltsf_dir)
    t = trainer(tmp_path, enable_checkpointing=False)
    t.fit(model, datamodule=data)
    result = t.test(model, datamodule=data)[0]
    x = torch.stack([data.test_set[i][0] for i in range(len(data.test_set))])
    y = torch.stack([data.test_set[i][1] for i in range(len(data.test_set))])
    assert len(x) == 2880 - 12 + 1  # every test window, none dropped
    with torch.no_grad():
        pred = model(x)
    assert result["test_mse"] == pytest.approx(((pred - y) ** 2).mean().item(), rel=1e-5)
    assert result["test_mae"] == pytest.approx((pred - y).abs().mean().item(), rel=1e-5)


def test_checkpoint_round_trip_and_seed_determinism(ltsf_dir, tmp_path):
    outs = []
    for run in range(2):
        pl.seed_everything(7)
        data, model = small_setup(ltsf_dir, quantiles=[0.1, 0.5, 0.9])
        t = trainer(tmp_path / str(run))
        t.fit(model, datamodule=data)
        outs.append(model)
    x = torch.stack([data.test_set[i][0] for i in range(4)])
    with torch.no_grad():
        assert torch.equal(outs[0](x), outs[1](x))  # same seed, same model
        ckpt = tmp_path / "m.ckpt"
        t.save_checkpoint(ckpt)
        loaded = DLNForecaster.load_from_checkpoint(ckpt)
        assert torch.equal(loaded(x), outs[1](x))
        assert loaded(x).shape == (4, 12, 7, 3)
        assert torch.allclose(loaded.collapse()(x), loaded(x), atol=1e-5)


def test_non_finite_loss_stops_with_step_and_advice(ltsf_dir, tmp_path):
    data, model = small_setup(ltsf_dir)
    with torch.no_grad():
        model.model.stacks[0].bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="global step 0.*lower lr"):
        trainer(tmp_path, enable_checkpointing=False).fit(model, datamodule=data)


def test_predict_rejects_nan_and_wrong_channels():
    model = DLNForecaster(16, 4, 3)
    x = torch.randn(2, 16, 3)
    x[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.predict_step((x,), 0)
    with pytest.raises(ValueError, match="n_channels=3"):
        model.predict_step((torch.randn(2, 16, 4),), 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "adamm"}, "optimizer"), ({"scheduler": "nope"}, "scheduler"),
    ({"lr": 0.0}, "lr"), ({"lr": float("inf")}, "lr"), ({"weight_decay": -1.0}, "weight_decay"),
    ({"quantiles": [0.9, 0.1]}, "quantiles"), ({"quantiles": [0.0, 0.5]}, "quantiles"),
    ({"loss": "rmse"}, "loss"), ({"net": {"depth": 0}}, "depth"),
    ({"optimizer": "flow"}, "parametrization"),
])
def test_bad_hyperparameters_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DLNForecaster(16, 4, 3, **kwargs)


@pytest.mark.parametrize("scheduler", ["cosine", "step", "exponential"])
def test_schedulers_are_configurable(ltsf_dir, tmp_path, scheduler):
    data, model = small_setup(ltsf_dir, scheduler=scheduler, optimizer="adamw")
    trainer(tmp_path, limit_train_batches=2, limit_val_batches=1,
            enable_checkpointing=False).fit(model, datamodule=data)
