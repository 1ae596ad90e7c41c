"""The LTSF data of a tuning run as plain arrays: scaled rows and the split boundaries.

Everything comes from :class:`~lightning_dln.data.LTSFDataModule` (its splits, its train-only
scaler), so the darts and closed-form objectives see exactly the windows the core sees:
validation window ``i`` reads rows ``[v + i - L, v + i)`` and forecasts ``[v + i, v + i + H)``
for ``v = val_start`` and ``i = 0 .. val_end - v - H``; the same holds for the test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lightning_dln.data import LTSFDataModule

DATA_MODULE_KEYS = ("dataset", "path", "lookback", "horizon", "target", "eval_batch_size")


def data_module(data: dict[str, Any], batch_size: int = 32) -> LTSFDataModule:
    """Build an :class:`LTSFDataModule` from a tuning config's ``data`` section."""
    kwargs = {k: v for k, v in data.items() if k in DATA_MODULE_KEYS and v is not None}
    return LTSFDataModule(batch_size=batch_size, **kwargs)


@dataclass(frozen=True)
class LTSFArrays:
    """Scaled rows ``[0, test_end)`` of the series and the first row of each evaluated split.

    Attributes:
        values: ``(T, C)`` float32 scaled rows (T = end of the test split).
        train_end: end of the training rows (first forecast row of the validation split).
        val_end: end of the validation rows (first forecast row of the test split).
        lookback: ``L``.
        horizon: ``H``.
        channels: channel names.

    """

    values: np.ndarray
    train_end: int
    val_end: int
    lookback: int
    horizon: int
    channels: tuple[str, ...]

    @property
    def test_end(self) -> int:
        """End of the test rows."""
        return len(self.values)

    def split(self, stage: str) -> tuple[int, int]:
        """``(first forecast row, end row)`` of ``val`` or ``test``."""
        if stage == "val":
            return self.train_end, self.val_end
        if stage == "test":
            return self.val_end, self.test_end
        raise ValueError(f"stage must be 'val' or 'test', got {stage!r}")

    def targets(self, stage: str) -> np.ndarray:
        """Every ``(N, H, C)`` target window of ``stage``, in time order."""
        start, end = self.split(stage)
        windows = np.lib.stride_tricks.sliding_window_view(self.values[start:end],
                                                           self.horizon, axis=0)
        return windows.transpose(0, 2, 1)  # (N, H, C)


def ltsf_arrays(data: dict[str, Any]) -> LTSFArrays:
    """Load and scale the series of a ``data`` section (train-only statistics)."""
    dm = data_module(data)
    dm.setup()
    (_, train_end), (val_start, val_end), (test_start, test_end) = dm.borders
    values = np.zeros((test_end, dm.n_channels), dtype=np.float32)
    for (start, end), windows in zip(dm.borders, (dm.train_set, dm.val_set, dm.test_set),
                                     strict=True):
        values[start:end] = windows.segment.numpy()
    return LTSFArrays(values, train_end, val_end, dm.lookback, dm.horizon,
                      tuple(dm.channel_names))
