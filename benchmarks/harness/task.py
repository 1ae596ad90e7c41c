"""One forecasting task of the grid: a dataset, lookback ``L`` and horizon ``H`` under LTSF.

Every model of the harness sees the same numbers: the splits and train-only scaler of
:class:`lightning_dln.data.LTSFDataModule`, and the windows built here from its segments.

Shape legend: ``T`` rows, ``C`` channels, ``L`` lookback, ``H`` horizon, ``N`` windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from lightning_dln.data import LTSFDataModule

SPLITS = ("train", "val", "test")


@dataclass
class Task:
    """The data of one grid row, built once and shared by every model of the row.

    Attributes:
        dataset: LTSF dataset name, e.g. ``"ETTh1"``.
        lookback: Input length ``L``.
        horizon: Forecast length ``H``.
        data_dir: Folder holding ``<dataset>.csv`` (``None``: ``LIGHTNING_DLN_DATA``).

    """

    dataset: str
    lookback: int
    horizon: int
    data_dir: str | None = None

    @cached_property
    def datamodule(self) -> LTSFDataModule:
        """The set-up LTSF data module (scaled segments, ``borders``, ``scaler``)."""
        dm = LTSFDataModule(self.dataset, path=self.data_dir, lookback=self.lookback,
                            horizon=self.horizon)
        dm.setup()
        return dm

    @property
    def n_channels(self) -> int:
        """Channels ``C``."""
        return self.datamodule.n_channels

    @property
    def freq(self) -> str | None:
        """Sampling frequency (pandas alias) of the dataset."""
        return self.datamodule.freq

    def segment(self, split: str) -> np.ndarray:
        """Scaled rows of a split, ``(T_split, C)`` float32 (val/test start ``L`` rows early)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}; allowed: {SPLITS}")
        return getattr(self.datamodule, f"{split}_set").segment.numpy()

    def windows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Every window of a split: ``x (N, L, C)`` and ``y (N, H, C)`` (read-only views)."""
        seg = torch.from_numpy(self.segment(split))
        win = seg.unfold(0, self.lookback + self.horizon, 1).transpose(1, 2)  # (N, L + H, C)
        win = win.numpy()
        return win[:, : self.lookback], win[:, self.lookback :]


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MSE and MAE over every window, step and channel, accumulated in float64.

    Args:
        pred: Forecasts ``(N, H, C)``.
        truth: Targets ``(N, H, C)``.

    Raises:
        ValueError: Shapes differ or the forecasts hold NaN/inf.

    """
    if pred.shape != truth.shape:
        raise ValueError(f"pred shape {pred.shape} != truth shape {truth.shape}")
    if not np.isfinite(pred).all():
        raise ValueError("the forecasts hold NaN or inf values")
    err = pred.astype(np.float64) - truth.astype(np.float64)
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}


def predict_timed(predict, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Forecast every window in batches; returns ``(pred (N, H, C), seconds per window)``."""
    start = time.perf_counter()
    out = [predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    seconds = time.perf_counter() - start
    return np.concatenate(out).astype(np.float32), seconds / len(x)
