"""Adapter of the naive reference forecasts (no parameters, no training, no seeds).

They are the floor a learned model must clear on the same windows and scale:
``method: last`` repeats the last observed value of each channel over the horizon (LTSF-Linear's
"Repeat" row), ``method: mean`` repeats the mean of the lookback window. A model whose MSE is
near ``last`` has learned little beyond persistence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness.models import Budget, Fitted
from benchmarks.harness.task import Task

METHODS = ("last", "mean")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r}; allowed: {METHODS}")


def forecast(x: np.ndarray, horizon: int, method: str) -> np.ndarray:
    """Naive forecasts ``(B, H, C)`` of windows ``x (B, L, C)``."""
    _check_method(method)
    if x.ndim != 3 or x.shape[1] == 0:
        raise ValueError(f"x must be (batch, lookback >= 1, channels), got shape {x.shape}")
    level = x[:, -1:, :] if method == "last" else x.mean(axis=1, keepdims=True)
    return np.repeat(level, horizon, axis=1)


def fit(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str) -> Fitted:
    """Nothing to fit: a window -> forecast function with the spec's ``method``."""
    method = spec.get("method", "last")
    _check_method(method)  # fail at fit time, not at the first forecast
    horizon = task.horizon
    return Fitted(lambda x: forecast(x, horizon, method), 0, None, chunk=4096,
                  notes={"method": method})
