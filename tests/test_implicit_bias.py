"""The implicit-bias experiment's maths: exact MSE from moments, reduced rank, the flow path."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "theory"))
implicit_bias = pytest.importorskip("implicit_bias")


def _windows(n=300, lookback=16, horizon=4, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + lookback + horizon)
    series = np.stack([np.sin(t / 3 + c) + 0.3 * rng.standard_normal(len(t))
                       for c in range(channels)], axis=1)
    win = np.lib.stride_tricks.sliding_window_view(series, lookback + horizon, axis=0)
    return win.transpose(0, 2, 1), lookback  # (N, L + H, C)


def test_moment_mse_equals_the_mse_of_explicit_forecasts():
    win, lookback = _windows()
    m = implicit_bias.moments(win, lookback)
    w = torch.from_numpy(np.random.default_rng(1).standard_normal((4, lookback + 1)))
    # Explicit forecast with the same features: W^T [x - mu, sigma] + mu, per window and channel.
    x, y = win[:, :lookback].astype(np.float64), win[:, lookback:].astype(np.float64)
    mu = x.mean(1, keepdims=True)
    sigma = np.sqrt(x.var(1, keepdims=True) + 1e-5)
    feats = np.concatenate([x - mu, sigma], axis=1)  # (N, L + 1, C)
    pred = np.einsum("hp,npc->nhc", w.numpy(), feats) + mu
    assert float(m.loss(w)) == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-10)


def test_reduced_rank_projects_onto_top_output_modes():
    rng = np.random.default_rng(2)
    w = torch.from_numpy(rng.standard_normal((6, 9)))
    a = rng.standard_normal((9, 9))
    sff = torch.from_numpy(a @ a.T + np.eye(9))
    out = implicit_bias.reduced_rank(w, sff, [1, 3, 6])
    assert torch.allclose(out[6], w, atol=1e-10)  # full rank: unchanged
    for k in (1, 3):
        assert torch.linalg.matrix_rank(out[k]) == k
        # Best rank-k fit of the fitted values: residual = sum of the dropped eigenvalues.
        fitted = w @ sff @ w.T
        evals = torch.linalg.eigvalsh(fitted)
        diff = out[k] - w
        assert float(torch.sum((diff @ sff) * diff)) == pytest.approx(float(evals[:-k].sum()),
                                                                      rel=1e-8)


def _least_squares(m):
    """The minimum-norm minimiser (the centred lookback makes ``sff`` singular)."""
    return m.syx @ torch.linalg.pinv(m.sxx, rtol=1e-12, hermitian=True)


@pytest.mark.parametrize("depth", [1, 2, math.inf])
def test_flow_path_reaches_its_optimum(depth):
    """Finite depth reaches least squares; N = inf keeps the row space of W0 (THEORY.md 3)."""
    win, lookback = _windows()
    m = implicit_bias.moments(win, lookback)
    splits = {"train": m, "val": m, "test": m}
    eps, (h, p) = 0.3, m.syx.shape
    if math.isinf(depth):  # the best map whose rows lie in the row space of the start
        rows = implicit_bias.semi_orthogonal(h, p)  # the start is eps * this
        z = m.syx @ rows.T @ torch.linalg.inv(rows @ m.sxx @ rows.T)
        target = float(m.loss(z @ rows))
    else:
        target = float(m.loss(_least_squares(m)))
    lam = float(torch.linalg.eigvalsh(m.sxx)[-1])
    path = implicit_bias.flow_path(splits, depth, lr=0.5 * h / (lam * 4.0), steps=3000,
                                   every=100, eps=eps)
    assert path.shape[1] == 4 and path[0, 0] == 0
    assert path[-1, 1] < path[0, 1]  # training MSE went down
    assert path[-1, 1] == pytest.approx(target, rel=0.02)
    assert path[-1, 1] >= float(m.loss(_least_squares(m))) - 1e-9


def test_flow_path_handles_horizons_longer_than_the_features():
    """H = 720 > L + 1 = 337 on the real task: the start must be a tall semi-orthogonal map."""
    win, lookback = _windows(lookback=4, horizon=8)
    m = implicit_bias.moments(win, lookback)
    h, p = m.syx.shape
    assert h > p
    start = implicit_bias.semi_orthogonal(h, p)
    assert start.shape == (h, p)
    torch.testing.assert_close(start.T @ start, torch.eye(p, dtype=start.dtype))
    lam = float(torch.linalg.eigvalsh(m.sxx)[-1])
    path = implicit_bias.flow_path({"train": m, "val": m, "test": m}, 2,
                                   lr=0.5 * h / (lam * 4.0), steps=3000, every=100, eps=0.3)
    assert path[-1, 1] == pytest.approx(float(m.loss(_least_squares(m))), rel=0.02)
