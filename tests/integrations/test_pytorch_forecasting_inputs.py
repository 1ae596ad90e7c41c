"""Bad input for DeepLinear in pytorch-forecasting: clear ValueErrors, never torch internals."""

import pytest

pytest.importorskip("pytorch_forecasting")

import lightning.pytorch as pl  # noqa: E402
from pytorch_forecasting import TimeSeriesDataSet  # noqa: E402
from pytorch_forecasting.data import NaNLabelEncoder  # noqa: E402
from pytorch_forecasting.metrics import NormalDistributionLoss  # noqa: E402

from lightning_dln.integrations.pytorch_forecasting import DeepLinear, synthetic_panel  # noqa: E402

L, H = 8, 3


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """p-f's predict() builds a Trainer with the default logger: keep lightning_logs out of cwd."""
    monkeypatch.chdir(tmp_path)


def dataset(data=None, **overrides):
    data = synthetic_panel(n_series=3, length=30) if data is None else data
    kwargs = dict(
        time_idx="time_idx", target="target", group_ids=["agency", "sku"],
        max_encoder_length=L, min_encoder_length=L, max_prediction_length=H,
        min_prediction_length=H, time_varying_known_reals=["price"],
        time_varying_unknown_reals=["target"],
    )
    kwargs.update(overrides)
    return TimeSeriesDataSet(data, **kwargs)


def test_encoder_length_differs_from_the_model():
    model = DeepLinear.from_dataset(dataset(), depth=2)
    longer = dataset(max_encoder_length=L + 4, min_encoder_length=L + 4)
    with pytest.raises(ValueError, match=f"encoder length .*max_encoder_length={L}"):
        model.predict(longer, trainer_kwargs=dict(logger=False))
    x, _ = next(iter(longer.to_dataloader(train=False, batch_size=2, num_workers=0)))
    with pytest.raises(ValueError, match="encoder length"):
        model(x)


def test_variable_lengths_are_rejected_at_build_time():
    with pytest.raises(ValueError, match="fixed encoder length"):
        DeepLinear.from_dataset(dataset(min_encoder_length=L // 2))
    with pytest.raises(ValueError, match="fixed prediction length"):
        DeepLinear.from_dataset(dataset(min_prediction_length=1))
    with pytest.raises(ValueError, match="randomize_length"):
        DeepLinear.from_dataset(dataset(randomize_length=True))


def test_categorical_only_inputs_are_rejected():
    # the target is not a real input: nothing linear to read
    only_categoricals = dataset(time_varying_unknown_reals=[], time_varying_known_reals=[],
                                static_categoricals=["colour"])
    with pytest.raises(ValueError, match="time_varying_unknown_reals"):
        DeepLinear.from_dataset(only_categoricals)
    with_categoricals = dataset(static_categoricals=["colour"])
    match = r"categorical variables \['colour'\].*ignore_categoricals"
    with pytest.raises(ValueError, match=match):
        DeepLinear.from_dataset(with_categoricals)
    model = DeepLinear.from_dataset(with_categoricals, ignore_categoricals=True)
    assert model.hparams.past_reals == ["price"]


def test_categorical_target_is_rejected():
    data = synthetic_panel(n_series=3, length=30)
    data["label"] = (data.target > 1.5).map({True: "high", False: "low"})
    ds = dataset(data, target="label", target_normalizer=NaNLabelEncoder(),
                 time_varying_unknown_reals=["target"])
    with pytest.raises(ValueError, match="numeric targets only"):
        DeepLinear.from_dataset(ds)


@pytest.mark.parametrize("options, field", [
    ({"depth": 0}, "depth"),
    ({"factor": "butterfly"}, "factor"),
    ({"factor": "lowrank"}, "rank"),
    ({"init_scale": -1.0}, "init_scale"),
    ({"instance_norm": "batch"}, "instance_norm"),
    ({"scales": [1, 100]}, "scale"),
    ({"dln": {"depht": 3}}, "unknown DLN options"),
    ({"depth": 2, "dln": {"depth": 3}}, "both as keywords"),
    ({"parametrization": "flow"}, "parametrization='flow'"),
])
def test_invalid_dln_arguments(options, field):
    with pytest.raises(ValueError, match=field):
        DeepLinear.from_dataset(dataset(), **options)


def test_invalid_loss_and_derived_arguments():
    with pytest.raises(ValueError, match="distribution losses"):
        DeepLinear.from_dataset(dataset(), loss=NormalDistributionLoss())
    with pytest.raises(ValueError, match="derived from the dataset"):
        DeepLinear.from_dataset(dataset(), encoder_length=12)
    with pytest.raises(ValueError, match="output_size"):
        DeepLinear(encoder_length=L, prediction_length=H, targets=["target"],
                   x_reals=["target"], output_size=[1, 1])


def test_tuner_lr_find(tmp_path, monkeypatch):
    """Tuning as for NBeats: Lightning's learning-rate finder drives ``learning_rate``.

    lr_find restores its own checkpoint with torch.load's default weights_only=True, which
    refuses pytorch-forecasting's pickled normalizers for *every* p-f model (NBeats too) under
    torch >= 2.6; the documented escape for a trusted local file is the environment variable.
    """
    from lightning.pytorch.tuner import Tuner

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

    ds = dataset()
    model = DeepLinear.from_dataset(ds, depth=2, width=8)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, default_root_dir=tmp_path)
    loader = ds.to_dataloader(train=True, batch_size=4, num_workers=0)
    result = Tuner(trainer).lr_find(model, train_dataloaders=loader,
                                    val_dataloaders=loader, num_training=10,
                                    min_lr=1e-4, max_lr=1e-1)
    assert result is not None and len(result.results["lr"]) > 0


def test_missing_pytorch_forecasting_gives_an_install_hint(monkeypatch):
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "lightning_dln.integrations.pytorch_forecasting")
    monkeypatch.setitem(sys.modules, "pytorch_forecasting", None)
    with pytest.raises(ImportError, match=r'pip install "lightning-dln\[pytorch-forecasting\]"'):
        importlib.import_module("lightning_dln.integrations.pytorch_forecasting")


@pytest.mark.parametrize("kwargs", [{"n_series": 0}, {"length": 1}, {"n_series": 2.5},
                                    {"length": True}, {"seed": "0"}])
def test_synthetic_panel_bad_sizes_are_value_errors(kwargs):
    with pytest.raises(ValueError, match="need integers n_series >= 1, length >= 2 and seed"):
        synthetic_panel(**kwargs)
