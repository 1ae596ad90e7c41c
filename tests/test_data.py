"""LTSF data protocol: resolution, validation, splits, scaling, windows, loaders."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

from lightning_dln.data import LTSFDataModule, LTSFWindows, StandardScaler, ltsf_borders
from lightning_dln.datasets import ENV_VAR, KNOWN_DATASETS, load_dataset, resolve_dataset_path

ETTH1_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    """Each test controls LIGHTNING_DLN_DATA itself."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def write_csv(folder: Path, name: str = "synth", n_rows: int = 100, n_channels: int = 3) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.normal(size=(n_rows, n_channels)) + np.arange(n_rows)[:, None],
        columns=[f"c{i}" for i in range(n_channels - 1)] + ["OT"],
    )
    frame.insert(0, "date", pd.date_range("2020-01-01", periods=n_rows, freq="h"))
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


# --- splits -------------------------------------------------------------------------------------


def test_ett_borders_follow_12_4_4_months():
    assert ltsf_borders(17420, 336, "ett_hour") == ((0, 8640), (8304, 11520), (11184, 14400))
    assert ltsf_borders(69680, 96, "ett_minute") == ((0, 34560), (34464, 46080), (45984, 57600))


def test_custom_borders_are_7_1_2():
    n, lookback = 1001, 24
    n_train, n_test = int(n * 0.7), int(n * 0.2)
    n_val = n - n_train - n_test
    assert ltsf_borders(n, lookback, "custom") == (
        (0, n_train),
        (n_train - lookback, n_train + n_val),
        (n - n_test - lookback, n),
    )


@pytest.mark.parametrize(
    ("n_rows", "lookback", "horizon", "split"),
    [(100, 65, 10, "custom"), (100, 10, 15, "custom"), (14000, 96, 96, "ett_hour")],
)
def test_short_series_is_rejected(n_rows, lookback, horizon, split):
    with pytest.raises(ValueError, match="n_rows"):
        ltsf_borders(n_rows, lookback, split, horizon)


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="custom"):
        ltsf_borders(100, 10, "monthly")


# --- real ETTh1 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def etth1(ltsf_dir) -> LTSFDataModule:
    dm = LTSFDataModule("ETTh1", path=str(ltsf_dir), lookback=336, horizon=96, eval_batch_size=100)
    dm.setup("fit")
    return dm


def test_etth1_window_counts_and_first_test_window(etth1):
    assert etth1.n_channels == 7 and etth1.channel_names == ETTH1_COLUMNS and etth1.freq == "1h"
    assert len(etth1.train_set) == 8640 - 336 - 96 + 1
    assert len(etth1.val_set) == 2880 - 96 + 1
    assert len(etth1.test_set) == 2880 - 96 + 1 == 2785
    raw = load_dataset("ETTh1", etth1.csv_path)[ETTH1_COLUMNS].to_numpy()
    x, y = etth1.test_set[0]
    start = 11520 - 336
    expected = etth1.scaler.transform(raw[start : start + 336 + 96])
    torch.testing.assert_close(x, torch.tensor(expected[:336], dtype=torch.float32))
    torch.testing.assert_close(y, torch.tensor(expected[336:], dtype=torch.float32))


def test_scaler_is_fitted_on_train_rows_only(etth1):
    raw = load_dataset("ETTh1", etth1.csv_path)[ETTH1_COLUMNS].to_numpy()
    np.testing.assert_allclose(etth1.scaler.mean_, raw[:8640].mean(axis=0))
    np.testing.assert_allclose(etth1.scaler.scale_, raw[:8640].std(axis=0))  # ddof=0
    assert not np.allclose(etth1.scaler.mean_, raw[:14400].mean(axis=0))


def test_test_loader_yields_every_window_once_in_order(etth1):
    loader = etth1.test_dataloader()
    assert isinstance(loader.sampler, SequentialSampler) and not loader.drop_last
    xs = torch.cat([x for x, _ in loader])
    assert len(xs) == 2785  # 28 batches of 100, the last one partial
    expected = torch.stack([etth1.test_set[i][0] for i in range(len(etth1.test_set))])
    torch.testing.assert_close(xs, expected)
    assert isinstance(etth1.val_dataloader().sampler, SequentialSampler)
    assert isinstance(etth1.predict_dataloader().sampler, SequentialSampler)
    train = etth1.train_dataloader()
    assert isinstance(train.sampler, RandomSampler) and not train.drop_last


@pytest.mark.parametrize("name", ["ETTh1", "ETTm1", "weather", "exchange_rate", "national_illness"])
def test_real_csvs_load(ltsf_dir, name):
    frame = load_dataset(name, ltsf_dir)
    assert frame.columns[0] == "date" and frame.columns[-1] == "OT"
    assert frame.shape[1] - 1 == KNOWN_DATASETS[name].n_channels
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert all(frame[c].dtype == np.float64 for c in frame.columns[1:])


# --- synthetic data -----------------------------------------------------------------------------


def test_custom_split_on_synthetic_csv(tmp_path):
    path = write_csv(tmp_path, n_rows=100)
    dm = LTSFDataModule("synth", path=str(path), lookback=10, horizon=5, eval_batch_size=4)
    assert dm.n_channels == 3 and dm.freq == "h"
    dm.setup("test")
    assert dm.borders == ((0, 70), (60, 80), (70, 100))
    assert [len(dm.train_set), len(dm.val_set), len(dm.test_set)] == [56, 6, 16]
    counts = [len(x) for x, _ in dm.test_dataloader()]
    assert sum(counts) == 16 and counts[-1] == 4
    raw = pd.read_csv(path)[["c0", "c1", "OT"]].to_numpy()
    np.testing.assert_allclose(dm.scaler.mean_, raw[:70].mean(axis=0))


def test_univariate_target(tmp_path):
    path = write_csv(tmp_path)
    dm = LTSFDataModule("synth", path=str(path), lookback=10, horizon=5, target="OT")
    assert dm.n_channels == 1 and dm.channel_names == ["OT"]
    dm.setup("fit")
    x, y = dm.train_set[0]
    assert x.shape == (10, 1) and y.shape == (5, 1)
    raw = pd.read_csv(path)["OT"].to_numpy()
    np.testing.assert_allclose(dm.scaler.mean_, [raw[:70].mean()])


def test_unscaled_data(tmp_path):
    path = write_csv(tmp_path)
    dm = LTSFDataModule("synth", path=str(path), lookback=10, horizon=5, scale=False)
    dm.setup()
    raw = pd.read_csv(path)[["c0", "c1", "OT"]].to_numpy()
    torch.testing.assert_close(dm.test_set[0][0], torch.tensor(raw[70:80], dtype=torch.float32))


def test_windows_are_views():
    segment = torch.arange(40.0).reshape(20, 2)
    windows = LTSFWindows(segment, lookback=4, horizon=3)
    assert len(windows) == 20 - 4 - 3 + 1
    x, y = windows[5]
    torch.testing.assert_close(x, segment[5:9])
    torch.testing.assert_close(y, segment[9:12])
    assert x.untyped_storage().data_ptr() == segment.untyped_storage().data_ptr()
    with pytest.raises(ValueError, match="lookback=15"):
        LTSFWindows(segment, lookback=15, horizon=6)


def test_standard_scaler_roundtrip_and_constant_channel():
    data = np.stack([np.arange(10.0), np.full(10, 3.0)], axis=1)
    scaler = StandardScaler().fit(data)
    np.testing.assert_allclose(scaler.scale_, [np.arange(10.0).std(), 1.0])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(data)), data)
    batch = torch.randn(4, 6, 2)  # (B, H, C)
    torch.testing.assert_close(scaler.transform(scaler.inverse_transform(batch)), batch)
    with pytest.raises(RuntimeError, match="fit"):
        StandardScaler().transform(data)
    with pytest.raises(ValueError, match="channels"):
        scaler.transform(np.zeros((3, 5)))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"), [("nan", "nan"), ("inf", "inf"), ("abc", "non-numeric")]
)
def test_bad_values_name_column_and_row(tmp_path, bad, message):
    path = write_csv(tmp_path, n_rows=20)
    lines = path.read_text().splitlines()
    fields = lines[8].split(",")  # data row 7
    fields[2] = bad  # column c1
    lines[8] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"'c1'.*{message}.*row 7|'c1'.*row 7") as info:
        load_dataset("synth", path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "cannot read"),
        ("date\n2020-01-01\n2020-01-02\n", "no numeric channel"),
        ("time,a\n1,2\n2,3\n", "no 'date' column"),
        ("date,a\n2020-01-01,1.0\n", "at least 2 rows"),
        ("date,a\nnot a date,1.0\nnope,2.0\n", "dates"),
    ],
)
@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_malformed_csv(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_dataset("bad", path)


def test_short_series_in_datamodule(tmp_path):
    path = write_csv(tmp_path, n_rows=50)
    dm = LTSFDataModule("synth", path=str(path), lookback=30, horizon=10)
    with pytest.raises(ValueError, match="lookback=30 \\+ horizon=10"):
        dm.setup()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"num_workers": -1}, "num_workers=-1 must be an integer >= 0"),
    ({"num_workers": 1.5}, "num_workers=1.5"), ({"scale": "yes"}, "scale='yes' must be True"),
])
def test_bad_loader_options_are_value_errors(tmp_path, kwargs, match):
    path = write_csv(tmp_path, n_rows=50)
    with pytest.raises(ValueError, match=match):
        LTSFDataModule("synth", path=str(path), lookback=8, horizon=4, **kwargs)


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(ValueError, match="path=.*nope.csv"):
        load_dataset("ETTh1", missing)
    with pytest.raises(ValueError, match="ETTh1.csv"):  # a directory without <name>.csv
        LTSFDataModule("ETTh1", path=str(tmp_path))


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="known: .*ETTh1"):
        load_dataset("no_such_set")


def test_national_illness_needs_a_csv():
    with pytest.raises(ValueError, match=ENV_VAR):
        load_dataset("national_illness")


def test_unknown_target_lists_columns(tmp_path):
    path = write_csv(tmp_path)
    with pytest.raises(ValueError, match="target='nope'.*'c0', 'c1', 'OT'"):
        LTSFDataModule("synth", path=str(path), target="nope")


@pytest.mark.parametrize(
    "kwargs", [{"lookback": 0}, {"horizon": -1}, {"batch_size": 0}, {"eval_batch_size": 1.5}]
)
def test_invalid_arguments(tmp_path, kwargs):
    path = write_csv(tmp_path)
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        LTSFDataModule("synth", path=str(path), **kwargs)


# --- resolution ---------------------------------------------------------------------------------


def test_env_dir_and_explicit_path_priority(tmp_path, monkeypatch):
    env_dir, other = tmp_path / "env", tmp_path / "other"
    env_dir.mkdir()
    other.mkdir()
    write_csv(env_dir, n_rows=30, n_channels=2)
    explicit = write_csv(other, n_rows=40, n_channels=4)
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    assert resolve_dataset_path("synth") == env_dir / "synth.csv"
    assert load_dataset("synth").shape == (30, 3)
    assert load_dataset("synth", explicit).shape == (40, 5)
    assert LTSFDataModule("synth", path=str(other)).n_channels == 4
    with pytest.raises(ValueError, match=f"{ENV_VAR}=.*no 'missing.csv'"):
        load_dataset("missing")


@pytest.fixture
def fake_darts(monkeypatch):
    """Replace darts' downloaders by loaders of in-memory series (no network)."""
    datasets = pytest.importorskip("darts.datasets")
    from darts import TimeSeries

    rng = np.random.default_rng(1)

    def loader(frame):
        return type("FakeDataset", (), {"load": lambda self: TimeSeries.from_dataframe(frame)})

    ett = pd.DataFrame(rng.normal(size=(48, 7)), columns=ETTH1_COLUMNS)
    ett.index = pd.date_range("2016-07-01", periods=48, freq="h")
    exchange = pd.DataFrame(rng.normal(size=(20, 8)), columns=[str(i) for i in range(8)])
    monkeypatch.setattr(datasets, "ETTh1Dataset", loader(ett))
    monkeypatch.setattr(datasets, "ExchangeRateDataset", loader(exchange))
    return ett, exchange


def test_darts_fallback_matches_csv_layout(fake_darts):
    ett, exchange = fake_darts
    assert resolve_dataset_path("ETTh1") is None
    frame = load_dataset("ETTh1")
    assert list(frame.columns) == ["date", *ETTH1_COLUMNS]
    assert (frame["date"] == ett.index).all()
    np.testing.assert_allclose(frame[ETTH1_COLUMNS].to_numpy(), ett.to_numpy())
    frame = load_dataset("exchange_rate")
    assert list(frame.columns) == ["date", "0", "1", "2", "3", "4", "5", "6", "OT"]
    assert frame["date"].iloc[1] == pd.Timestamp("1990-01-02")
    dm = LTSFDataModule("ETTh1", lookback=4, horizon=2)
    assert dm.n_channels == 7 and dm._frame is None  # known without loading
    assert dm.channel_names == ETTH1_COLUMNS


def test_missing_darts_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "darts.datasets", None)
    with pytest.raises(ImportError, match=r"lightning-dln\[darts\]"):
        load_dataset("ETTh1")


# --- DDP ----------------------------------------------------------------------------------------


def test_eval_loaders_shard_without_repeats_under_ddp(tmp_path):
    path = write_csv(tmp_path, n_rows=100)
    dm = LTSFDataModule("synth", path=str(path), lookback=10, horizon=5, eval_batch_size=4)
    dm.setup()
    seen = []
    for rank in range(3):
        dm.trainer = SimpleNamespace(distributed_sampler_kwargs={"num_replicas": 3, "rank": rank})
        loader = dm.test_dataloader()
        # Lightning keeps any DistributedSampler instead of injecting its padding one
        assert isinstance(loader.sampler, DistributedSampler) and not loader.sampler.shuffle
        seen += list(loader.sampler)
    assert sorted(seen) == list(range(len(dm.test_set)))  # 16 windows over 3 ranks, no padding
    dm.trainer = SimpleNamespace(distributed_sampler_kwargs=None)
    assert isinstance(dm.test_dataloader().sampler, SequentialSampler)
