"""The LTSF protocol as a ``LightningDataModule``.

Reproduces the splits of the reference code (Informer/Autoformer/DLinear ``Dataset_ETT_hour``,
``Dataset_ETT_minute``, ``Dataset_Custom``) without its ``drop_last=True`` test-loader bug: every
validation and test window is evaluated exactly once, also under DDP.

Shape legend: ``T`` rows of a split segment, ``C`` channels, ``L`` lookback, ``H`` horizon,
``N = T - L - H + 1`` windows. Window ``i`` is ``x = seg[i : i + L]`` and
``y = seg[i + L : i + L + H]``.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from lightning_dln.datasets import (
    KNOWN_DATASETS,
    SplitKind,
    dataset_info,
    load_dataset,
    read_channel_names,
    resolve_dataset_path,
)

__all__ = [
    "KNOWN_DATASETS",
    "LTSFDataModule",
    "LTSFWindows",
    "StandardScaler",
    "load_dataset",
    "ltsf_borders",
    "resolve_dataset_path",
]

Borders = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
_HOURS_PER_MONTH = 30 * 24


def ltsf_borders(n_rows: int, lookback: int, split: SplitKind, horizon: int = 1) -> Borders:
    """Row ranges ``[b1, b2)`` of the train, validation and test segments.

    ETT hourly: 12/4/4 months of 30 days (train ``[0, 8640)``, val ``[8640 - L, 11520)``, test
    ``[11520 - L, 14400)``); rows past 14400 are unused, as in the reference code. ETT minute: the
    same at 4 rows an hour. Custom: ``n_train = int(0.7 n)``, ``n_test = int(0.2 n)``, the rest
    validation. Validation and test segments start ``L`` rows before their boundary.

    Args:
        n_rows: Number of rows in the series.
        lookback: Input window length ``L``.
        split: ``"ett_hour"``, ``"ett_minute"`` or ``"custom"``.
        horizon: Forecast length ``H``; every segment must hold at least one ``L + H`` window.

    Returns:
        ``((b1_train, b2_train), (b1_val, b2_val), (b1_test, b2_test))``.

    Raises:
        ValueError: Unknown ``split``, or a segment shorter than ``lookback + horizon``.

    """
    if split in ("ett_hour", "ett_minute"):
        month = _HOURS_PER_MONTH * (4 if split == "ett_minute" else 1)
        n_train, n_val, n_test = 12 * month, 4 * month, 4 * month
        if n_rows < n_train + n_val + n_test:
            raise ValueError(
                f"split={split!r} needs {n_train + n_val + n_test} rows (12/4/4 months), "
                f"the series has n_rows={n_rows}."
            )
    elif split == "custom":
        n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
        n_val = n_rows - n_train - n_test
    else:
        raise ValueError(f"split={split!r}; allowed: 'ett_hour', 'ett_minute', 'custom'.")
    starts = (0, n_train - lookback, n_train + n_val - lookback)
    ends = (n_train, n_train + n_val, n_train + n_val + n_test)
    for stage, b1, b2 in zip(("train", "val", "test"), starts, ends, strict=True):
        if b1 < 0 or b2 - b1 < lookback + horizon:
            raise ValueError(
                f"the {stage} segment has {b2 - max(b1, 0)} rows (of n_rows={n_rows}) but "
                f"lookback={lookback} + horizon={horizon} = {lookback + horizon} are needed for "
                "one window; use a shorter lookback/horizon or a longer series."
            )
    return (starts[0], ends[0]), (starts[1], ends[1]), (starts[2], ends[2])


class StandardScaler:
    """Per-channel standardisation ``(x - mean) / std``, like ``sklearn``'s (``ddof=0``).

    Channels with zero variance get ``std = 1``, as in sklearn. Statistics are float64 numpy
    arrays of shape ``(C,)``; ``transform`` and ``inverse_transform`` take numpy arrays or torch
    tensors whose last dimension is ``C`` and return the same type.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, data: np.ndarray | torch.Tensor) -> StandardScaler:
        """Compute mean and std over the rows of ``data`` (shape ``(T, C)``)."""
        values = np.asarray(data.detach().cpu() if isinstance(data, torch.Tensor) else data)
        values = values.astype(np.float64, copy=False)
        if values.ndim != 2 or len(values) == 0 or not np.isfinite(values).all():
            raise ValueError(f"data must be a finite (T, C) array with T >= 1, got {values.shape}.")
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)  # ddof=0
        self.scale_ = np.where(std > 10 * np.finfo(np.float64).eps * np.abs(self.mean_), std, 1.0)
        return self

    def transform(self, data: ArrayT) -> ArrayT:
        """Standardise ``data`` (``(..., C)``)."""
        mean, scale = self._stats(data)
        return (data - mean) / scale

    def inverse_transform(self, data: ArrayT) -> ArrayT:
        """Undo ``transform`` on ``data`` (``(..., C)``), e.g. on scaled forecasts."""
        mean, scale = self._stats(data)
        return data * scale + mean

    def _stats(self, data: ArrayT) -> tuple[ArrayT, ArrayT]:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("StandardScaler is not fitted; call fit() first.")
        if data.shape[-1] != len(self.mean_):
            raise ValueError(f"data has {data.shape[-1]} channels, the scaler {len(self.mean_)}.")
        if isinstance(data, torch.Tensor):
            kw = {"dtype": data.dtype, "device": data.device}
            return torch.as_tensor(self.mean_, **kw), torch.as_tensor(self.scale_, **kw)
        return self.mean_, self.scale_


class LTSFWindows(Dataset):
    """Sliding windows over one split segment; items are views, no data is copied.

    Args:
        segment: Scaled series of shape ``(T, C)``.
        lookback: Input length ``L >= 1``.
        horizon: Forecast length ``H >= 1``.

    Item ``i`` is ``(x, y)`` with ``x = segment[i : i + L]`` ``(L, C)`` and
    ``y = segment[i + L : i + L + H]`` ``(H, C)``; there are ``T - L - H + 1`` items.

    """

    def __init__(self, segment: torch.Tensor, lookback: int, horizon: int) -> None:
        if segment.ndim != 2:
            raise ValueError(f"segment must have shape (T, C), got {tuple(segment.shape)}.")
        _check_positive(lookback=lookback, horizon=horizon)
        if len(segment) < lookback + horizon:
            raise ValueError(
                f"segment has {len(segment)} rows, fewer than lookback={lookback} + "
                f"horizon={horizon}."
            )
        self.segment, self.lookback, self.horizon = segment, lookback, horizon
        self._windows = segment.unfold(0, lookback + horizon, 1)  # (N, C, L + H), a view

    def __len__(self) -> int:
        return self._windows.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        window = self._windows[index].transpose(0, 1)  # (L + H, C)
        return window[: self.lookback], window[self.lookback :]


class LTSFDataModule(pl.LightningDataModule):
    """LTSF benchmark data: chronological splits, train-only scaling, all eval windows.

    Args:
        dataset: Dataset name, e.g. ``"ETTh1"`` (see ``KNOWN_DATASETS``); selects the split rule.
        path: A CSV file or a directory holding ``<dataset>.csv``; default: the directory in
            ``LIGHTNING_DLN_DATA``, then Darts' downloader.
        lookback: Input window length ``L``.
        horizon: Forecast length ``H``.
        batch_size: Training batch size (shuffled, last partial batch kept).
        eval_batch_size: Validation/test/predict batch size (in order, every window once).
        num_workers: DataLoader worker processes.
        target: ``None`` for all channels (multivariate, "M"); a column name for that channel
            alone (univariate, "S").
        scale: Standardise with statistics of the training rows (the LTSF default).

    """

    def __init__(
        self,
        dataset: str = "ETTh1",
        path: str | None = None,
        lookback: int = 336,
        horizon: int = 96,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        target: str | None = None,
        scale: bool = True,
    ) -> None:
        super().__init__()
        _check_positive(
            lookback=lookback,
            horizon=horizon,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
        )
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers={num_workers!r} must be an integer >= 0.")
        if not isinstance(scale, bool):
            raise ValueError(f"scale={scale!r} must be True or False.")
        self.save_hyperparameters()
        self.dataset, self.path, self.target, self.scale = dataset, path, target, scale
        self.lookback, self.horizon = lookback, horizon
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers = num_workers
        self.info = dataset_info(dataset)
        self.csv_path = resolve_dataset_path(dataset, path)  # None: Darts downloads it
        self._frame: pd.DataFrame | None = None
        self._columns: list[str] | None = None
        if self.csv_path is not None:
            self._columns = read_channel_names(self.csv_path)
            self._check_target(self._columns)
        self.scaler: StandardScaler | None = None
        self.borders: Borders | None = None
        self.train_set: LTSFWindows | None = None
        self.val_set: LTSFWindows | None = None
        self.test_set: LTSFWindows | None = None

    @property
    def n_channels(self) -> int:
        """Channels ``C`` of the model's input and output; known without ``setup()``."""
        if self.target is not None:
            return 1
        if self._columns is None and self.info.n_channels is not None:
            return self.info.n_channels
        return len(self.channel_names)

    @property
    def channel_names(self) -> list[str]:
        """Names of the modelled channels, in tensor order."""
        if self._columns is None:
            self._columns = [str(c) for c in self._load().columns[1:]]
            self._check_target(self._columns)
        return [self.target] if self.target is not None else list(self._columns)

    @property
    def freq(self) -> str | None:
        """Sampling frequency (pandas offset alias), inferred from the dates for unknown sets."""
        if self.info.freq is not None:
            return self.info.freq
        try:
            return pd.infer_freq(self._load()["date"].iloc[:1000])
        except (TypeError, ValueError):  # fewer than 3 dates, or not a datetime column
            return None

    def prepare_data(self) -> None:
        """Download through Darts (rank 0 only) when no CSV was found."""
        if self.csv_path is None:
            load_dataset(self.dataset)

    def setup(self, stage: str | None = None) -> None:
        """Load once, fit the scaler on the train rows and build the window datasets."""
        if self.train_set is not None:
            return
        values = self._load()[self.channel_names].to_numpy(np.float64)  # (T, C)
        self.borders = ltsf_borders(len(values), self.lookback, self.info.split, self.horizon)
        (b1, b2), _, _ = self.borders
        self.scaler = StandardScaler().fit(values[b1:b2])
        data = self.scaler.transform(values) if self.scale else values
        data = torch.tensor(data, dtype=torch.float32)  # (T, C), one copy of the series
        self.train_set, self.val_set, self.test_set = (
            LTSFWindows(data[s:e], self.lookback, self.horizon) for s, e in self.borders
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training windows; the last partial batch is kept."""
        return self._loader(self._ready("train_set"), self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Every validation window once, in time order."""
        return self._eval_loader(self._ready("val_set"))

    def test_dataloader(self) -> DataLoader:
        """Every test window once, in time order (no ``drop_last``, no DDP padding)."""
        return self._eval_loader(self._ready("test_set"))

    def predict_dataloader(self) -> DataLoader:
        """Return the test windows, in time order."""
        return self.test_dataloader()

    def _eval_loader(self, dataset: LTSFWindows) -> DataLoader:
        # Under DDP Lightning swaps a plain sampler for a DistributedSampler, which pads with
        # repeated windows. It keeps any DistributedSampler it is given, so hand it one that
        # shards without repeats.
        sampler = None
        kwargs = self._distributed_kwargs()
        if kwargs is not None:
            sampler = UnrepeatedDistributedSampler(dataset, shuffle=False, **kwargs)
        return self._loader(dataset, self.eval_batch_size, shuffle=False, sampler=sampler)

    def _distributed_kwargs(self) -> dict[str, int] | None:
        trainer = self.trainer
        if trainer is not None:
            kwargs = trainer.distributed_sampler_kwargs  # None unless a parallel strategy
            if kwargs is not None:
                return {"num_replicas": kwargs["num_replicas"], "rank": kwargs["rank"]}
            return None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            world, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
            return {"num_replicas": world, "rank": rank}
        return None

    def _loader(self, dataset: Dataset, batch_size: int, **kwargs: object) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def _ready(self, name: Literal["train_set", "val_set", "test_set"]) -> LTSFWindows:
        if self.train_set is None:
            self.setup()
        return getattr(self, name)

    def _load(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = load_dataset(self.dataset, self.csv_path)
        return self._frame

    def _check_target(self, columns: list[str]) -> None:
        if self.target is not None and self.target not in columns:
            raise ValueError(f"target={self.target!r} is not a column; columns: {columns}.")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be an integer >= 1.")
