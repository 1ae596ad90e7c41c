"""pytorch-forecasting's own conformance suite on DeepLinear, and the Stallion tutorial data."""

import pytest

pytest.importorskip("pytorch_forecasting")

import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
from pytorch_forecasting import TimeSeriesDataSet  # noqa: E402
from pytorch_forecasting.data import GroupNormalizer  # noqa: E402
from pytorch_forecasting.utils import check_estimator, parametrize_with_checks  # noqa: E402

from lightning_dln.integrations.pytorch_forecasting import DeepLinear, DeepLinear_pkg  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """p-f's predict() builds a Trainer with the default logger: keep lightning_logs out of cwd."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.slow  # test_integration: 26 fits, ~25 s on 2 cores
@parametrize_with_checks(DeepLinear)
def test_pytorch_forecasting_conformance(obj, test_name):
    """Every check p-f runs on its own models (all fixtures of one test per case), no skips."""
    results = check_estimator(obj, tests_to_run=test_name, raise_exceptions=True, verbose=False)
    assert results and all(v == "PASSED" for v in results.values()), results


def test_pkg_is_linked_with_honest_tags():
    assert DeepLinear.pkg is DeepLinear_pkg and DeepLinear_pkg.get_cls() is DeepLinear
    tags = DeepLinear_pkg.get_class_tags()
    assert tags["info:pred_type"] == ["point", "quantile"]  # distribution losses are rejected
    assert tags["capability:flexible_history_length"] is False  # fixed encoder length
    assert not tags.get("tests:skip_by_name")  # no test of the suite is skipped


@pytest.fixture
def stallion(monkeypatch, data_dir):
    """p-f's Stallion data read from ../shared/data (or LIGHTNING_DLN_DATA), never downloaded."""
    import pytorch_forecasting.data.examples as examples

    if not (data_dir / "stallion.parquet").is_file():
        pytest.skip(f"stallion.parquet not found in {data_dir} (set LIGHTNING_DLN_DATA)")
    monkeypatch.setattr(examples, "DATA_PATH", data_dir)
    return examples.get_stallion_data()


def test_stallion_tutorial_dataset(stallion, tmp_path):
    """The tutorial's dataset (fixed lengths, categoricals ignored) trains and predicts."""
    data = stallion[stallion.sku.isin(stallion.sku.unique()[:3])].copy()
    data["time_idx"] = data.date.dt.year * 12 + data.date.dt.month
    data["time_idx"] -= data.time_idx.min()
    data["log_volume"] = np.log(data.volume + 1e-8)
    data["month"] = data.date.dt.month.astype(str).astype("category")
    cutoff = data.time_idx.max() - 6
    training = TimeSeriesDataSet(
        data[data.time_idx <= cutoff], time_idx="time_idx", target="volume",
        group_ids=["agency", "sku"], max_encoder_length=24, min_encoder_length=24,
        max_prediction_length=6, min_prediction_length=6, static_categoricals=["agency", "sku"],
        static_reals=["avg_population_2017"], time_varying_known_categoricals=["month"],
        time_varying_known_reals=["time_idx", "price_regular", "discount_in_percent"],
        time_varying_unknown_reals=["volume", "log_volume", "industry_volume"],
        target_normalizer=GroupNormalizer(groups=["agency", "sku"], transformation="softplus"),
        add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True,
    )
    validation = TimeSeriesDataSet.from_dataset(training, data, predict=True,
                                                stop_randomization=True)
    with pytest.raises(ValueError, match="categorical variables"):
        DeepLinear.from_dataset(training)
    model = DeepLinear.from_dataset(training, ignore_categoricals=True, depth=3,
                                    learning_rate=1e-2)
    pl.seed_everything(0)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=5, logger=False,
                         enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(model, training.to_dataloader(train=True, batch_size=64, num_workers=0),
                validation.to_dataloader(train=False, batch_size=64, num_workers=0))
    pred = model.predict(validation, return_y=True)
    assert pred.output.shape == (len(validation), 6)
    assert pred.output.isfinite().all()
