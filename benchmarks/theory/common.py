"""A reduced real least-squares problem for the theory experiments: ETTh1, L = 48 -> H = 12.

All windows of the scaled ETTh1 training split, every channel as one sample of a shared map,
each window minus the mean of its lookback (instance centring, as RevIN does before the map).
The mean-squared loss of an end-to-end map ``W (H, L)`` is a quadratic in W,

    loss(W) = tr(W Sxx W^T - 2 W Sxy + Syy) / H,   G = dloss/dW = 2 (W Sxx - Syx) / H,

so full-batch gradient descent costs O(H L^2) a step whatever the number of windows. Data: set
``LIGHTNING_DLN_DATA`` to the folder holding ``ETTh1.csv`` (or pass ``--data``).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parents[1] / "results" / "theory"


@dataclass
class Quadratic:
    """Second moments of regression rows ``x (L,) -> y (H,)``: the MSE of any linear map."""

    sxx: torch.Tensor  # (L, L)
    syx: torch.Tensor  # (H, L)
    syy: torch.Tensor | float  # ()  trace of the output second moment
    horizon: int

    def loss(self, w: torch.Tensor) -> torch.Tensor:
        """Mean-squared error of ``w (H, L)`` over all windows, channels and steps."""
        quad = torch.sum((w @ self.sxx) * w) - 2 * torch.sum(w * self.syx) + self.syy
        return quad / self.horizon

    def grad(self, w: torch.Tensor) -> torch.Tensor:
        """Gradient of :meth:`loss` with respect to ``w``."""
        return 2.0 * (w @ self.sxx - self.syx) / self.horizon

    @property
    def lr_max(self) -> float:
        """``2 / lambda_max`` of the loss Hessian of a depth-1 map (GD is stable below it)."""
        return self.horizon / float(torch.linalg.eigvalsh(self.sxx)[-1])


@dataclass
class Problem(Quadratic):
    """The moments of the centred ETTh1 windows and their least-squares optimum."""

    w_star: torch.Tensor  # (H, L): OLS optimum
    loss_star: float


def etth1_problem(lookback: int = 48, horizon: int = 12, data: str | None = None) -> Problem:
    """Build :class:`Problem` from the scaled ETTh1 training windows (float64).

    The moments are cached in the temporary folder (importing and loading take ~30 s on a
    loaded machine; the experiments themselves take seconds).
    """
    cache = Path(tempfile.gettempdir()) / f"lightning_dln_etth1_L{lookback}_H{horizon}.pt"
    if cache.is_file():
        return Problem(**torch.load(cache))
    from lightning_dln.data import LTSFDataModule

    dm = LTSFDataModule("ETTh1", path=data or os.environ.get("LIGHTNING_DLN_DATA"),
                        lookback=lookback, horizon=horizon)
    dm.setup("fit")
    win = dm.train_set.segment.double().unfold(0, lookback + horizon, 1)  # (N, C, L + H)
    x = win[..., :lookback].reshape(-1, lookback)  # (N*C, L)
    y = win[..., lookback:].reshape(-1, horizon)  # (N*C, H)
    mean = x.mean(dim=1, keepdim=True)
    x, y = x - mean, y - mean  # instance centring
    n = x.shape[0]
    sxx, syx, syy = x.T @ x / n, y.T @ x / n, (y * y).sum() / n
    # Centring makes the all-ones direction exactly null (rank L - 1): minimum-norm optimum.
    w_star = syx @ torch.linalg.pinv(sxx, rtol=1e-10, hermitian=True)  # (H, L)
    prob = Problem(sxx, syx, syy, horizon, w_star, 0.0)
    prob.loss_star = float(prob.loss(w_star))
    torch.save(vars(prob), cache)
    return prob


def parser(doc: str) -> argparse.ArgumentParser:
    """Argument parser shared by the experiments (``--quick``, ``--out``, ``--data``)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps/depths (< 2 min on 2 cores)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the PNG and markdown")
    p.add_argument(
        "--data", default=None, help="folder with ETTh1.csv (default: LIGHTNING_DLN_DATA)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (small matrices: 1)")
    return p


def parse(doc: str) -> argparse.Namespace:
    """Parse the shared arguments and apply ``--threads``."""
    args = parser(doc).parse_args()
    torch.set_num_threads(args.threads)
    return args


def semi_orthogonal(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """A Haar-random ``rows x cols`` float64 matrix with orthonormal rows, or columns if taller.

    Tall maps occur for horizons longer than the lookback features (H = 720 > L + 1 = 337).
    """
    if rows > cols:
        return semi_orthogonal(cols, rows, seed).T
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(cols, rows, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).T


def fmt_depth(depth: float) -> str:
    """``inf`` or the integer."""
    return "inf" if math.isinf(depth) else str(int(depth))


class Timer:
    """Wall-clock seconds since construction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
