"""LTSF rows in pytorch-forecasting's long layout: one group per channel.

A multivariate LTSF series ``(T, C)`` becomes ``C`` univariate groups, the way a global p-f
model (NHiTS, DeepAR, ...) is trained on it: weights shared across channels, as DLinear's
``shared_weights``. Used by the Optuna objective of p-f models and by the benchmark harness.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def long_frame(values: np.ndarray, prefix: str = "") -> pd.DataFrame:
    """Rows ``(T, C)`` -> long format: ``group`` (prefix + channel), ``time_idx``, ``value``.

    Args:
        values: ``(T, C)`` finite array (T steps, C channels).
        prefix: prepended to each channel number in ``group`` (e.g. ``"v"`` keeps validation
            groups apart from training ones where both are encoded together).

    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"values must be a (T, C) array with T, C >= 1, got shape "
                         f"{values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (no NaN or inf)")
    t, c = values.shape
    return pd.DataFrame({"group": np.repeat([f"{prefix}{j}" for j in range(c)], t),
                         "time_idx": np.tile(np.arange(t), c),
                         "value": values.T.reshape(-1).astype(np.float32)})
