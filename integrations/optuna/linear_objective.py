"""Closed-form ridge regression on instance-normalised LTSF windows (the ``linear`` model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._series import LTSFArrays, ltsf_arrays
from .config import TuneConfig
from .objectives import Objective


class LinearObjective(Objective):
    """Closed-form ridge regression of ``H`` steps on ``L`` instance-normalised steps.

    Per window and channel, ``norm`` removes an offset ``m`` (``mean``: the window mean,
    ``last``: its last value, ``revin``: the mean and then divides by the std, ``none``) from
    input and target; ``W = argmin ||Y - [X, 1] W||^2 + alpha ||W_X||^2`` (intercept not
    penalised) is solved in float64 over every training window of every channel.
    """

    def __init__(self, cfg: TuneConfig) -> None:
        super().__init__(cfg)
        self.arrays: LTSFArrays = ltsf_arrays(cfg.data)
        self._train = self._windows(0, self.arrays.train_end)
        self._gram: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _windows(self, start: int, end: int) -> torch.Tensor:
        a = self.arrays
        rows = torch.from_numpy(a.values[max(start - a.lookback, 0):end]).double()
        return rows.unfold(0, a.lookback + a.horizon, 1).transpose(1, 2)  # (N, L+H, C)

    def _split(self, windows: torch.Tensor, norm: str) -> tuple[torch.Tensor, ...]:
        lookback = self.arrays.lookback
        rows = windows.permute(0, 2, 1).reshape(-1, windows.shape[1])  # (N*C, L+H)
        x, y = rows[:, :lookback], rows[:, lookback:]
        offset = {"mean": x.mean(1, keepdim=True), "last": x[:, -1:],
                  "revin": x.mean(1, keepdim=True), "none": torch.zeros_like(x[:, :1])}
        if norm not in offset:
            raise ValueError(f"norm must be one of {sorted(offset)}, got {norm!r}")
        scale = x.std(1, keepdim=True).clamp_min(1e-5) if norm == "revin" else \
            torch.ones_like(x[:, :1])
        m = offset[norm]
        return (x - m) / scale, (y - m) / scale, m, scale

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Solve the ridge problem and score the validation (and test) windows."""
        alpha, norm = float(params["alpha"]), params.get("norm", "mean")
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if norm not in self._gram:  # the normal equations depend on the norm, not on alpha
            x, y, _, _ = self._split(self._train, norm)
            design = torch.cat([x, torch.ones_like(x[:, :1])], 1)
            self._gram[norm] = (design.T @ design, design.T @ y)
        gram, moment = self._gram[norm]
        penalty = torch.full((gram.shape[0],), alpha, dtype=gram.dtype)
        penalty[-1] = 0.0
        weight = torch.linalg.solve(gram + torch.diag(penalty), moment)
        out = {"val_mse": self._score(weight, "val", norm)}
        if test:
            out["test_mse"] = self._score(weight, "test", norm)
        return out

    def _score(self, weight: torch.Tensor, stage: str, norm: str) -> float:
        start, end = self.arrays.split(stage)
        x, _, m, scale = self._split(self._windows(start, end), norm)
        pred = (torch.cat([x, torch.ones_like(x[:, :1])], 1) @ weight) * scale + m  # (N*C, H)
        channels = len(self.arrays.channels)
        pred = pred.reshape(-1, channels, pred.shape[1]).transpose(1, 2).numpy()  # (N, H, C)
        return float(np.mean((pred - self.arrays.targets(stage)) ** 2))
