"""Closed-form ridge least squares with instance normalisation (Toner & Darlow, ICML 2024).

The strong linear baseline of THEORY.md section 6: one affine map ``L -> H`` shared by all
channels, the exact ridge solution over **all** training windows, computed in float64 from the
normal equations (Gram matrices accumulated in chunks, so memory does not grow with ``N``).
Two instance norms, per window and channel, with ``mu``/``sigma`` over the ``L`` lookback steps
and ``sigma = sqrt(var + 1e-5)``:

* ``norm="mean"`` (Toner & Darlow's ``OLS(instance_norm=True)``, the anchor of THEORY.md):
  features ``[x - mu, sigma]`` (``L + 1``), targets ``y - mu``, no intercept (the ``sigma``
  feature plays its part), forecast ``W^T [x - mu, sigma] + mu``. The loss is the plain squared
  error on the scaled data, the test metric itself.
* ``norm="revin"``: features ``(x - mu) / sigma``, targets ``(y - mu) / sigma``, an unpenalised
  intercept, forecast ``sigma * (W^T z + b) + mu`` (RevIN without affine weights). The loss
  weights each window by ``1 / sigma^2``.

``alpha`` is chosen on the validation windows from ``ALPHA_GRID``: multiples of the mean
eigenvalue of the (centred) Gram matrix, ``0`` being ordinary least squares.

``ranks`` (optional) turns it into **reduced-rank** ridge: the chosen map is projected on its top
``k`` output modes (eigenvectors of the fitted values' covariance ``W^T Sxx W``, the best rank-k
approximation of the fitted values on the training windows) and ``k`` is chosen on validation.
This is the map an early-stopped deep linear net approaches from a small start (strongest modes
first, THEORY.md section 4), computed exactly: the oracle of that implicit bias.

Shape legend: ``N`` windows, ``C`` channels, ``L`` lookback, ``H`` horizon, ``P`` features; the
regression has ``N * C`` rows ``(P,) -> (H,)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ALPHA_GRID = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Ridge strengths relative to the mean eigenvalue of the Gram matrix (scale-free)."""
NORMS = ("mean", "revin")
EPS = 1e-5


def _features(win: np.ndarray, lookback: int, norm: str) -> tuple[np.ndarray, ...]:
    """Windows ``(n, L [+ H], C)`` -> ``(F (n*C, P), Y (n*C, H) or None, mu, sigma)``."""
    win = win.astype(np.float64).transpose(0, 2, 1)  # (n, C, L [+ H])
    x = win[..., :lookback]
    mu = x.mean(axis=2, keepdims=True)  # (n, C, 1)
    sigma = np.sqrt(x.var(axis=2, keepdims=True) + EPS)
    shifted = win - mu
    if norm == "mean":
        feats = np.concatenate([shifted[..., :lookback], sigma], axis=2)  # (n, C, L + 1)
        target = shifted[..., lookback:]
    else:
        feats, target = shifted[..., :lookback] / sigma, shifted[..., lookback:] / sigma
    rows = win.shape[0] * win.shape[1]
    target = target.reshape(rows, -1) if target.shape[-1] else None
    return feats.reshape(rows, -1), target, mu, sigma


class RidgeIN:
    """Ridge regression with instance norm, exact over every training window.

    Args:
        lookback: Input length ``L``.
        horizon: Forecast length ``H``.
        norm: ``"mean"`` (Toner & Darlow) or ``"revin"``; see the module docstring.
        alphas: Relative ridge strengths tried on validation (see ``ALPHA_GRID``).
        chunk: Windows per chunk while accumulating the Gram matrices (memory only).

    """

    def __init__(self, lookback: int, horizon: int, norm: Literal["mean", "revin"] = "mean",
                 alphas: tuple[float, ...] = ALPHA_GRID, chunk: int = 4096,
                 ranks: tuple[int, ...] | None = None) -> None:
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r}; allowed: {NORMS}")
        if not alphas or any(a < 0 for a in alphas):
            raise ValueError(f"alphas must be a non-empty list of numbers >= 0, got {alphas!r}")
        if ranks is not None and (not ranks or any(
                not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ranks)):
            raise ValueError(f"ranks must be a non-empty list of integers >= 1, got {ranks!r}")
        self.ranks = None if ranks is None else tuple(sorted({min(k, horizon) for k in ranks}))
        self.rank: int | None = None
        self.rank_val_mse: dict[int, float] = {}
        self.lookback, self.horizon, self.norm = lookback, horizon, norm
        self.alphas, self.chunk = tuple(float(a) for a in alphas), chunk
        self.intercept = norm == "revin"
        self.weight: np.ndarray | None = None  # (P, H)
        self.bias: np.ndarray | None = None  # (H,)
        self.alpha: float | None = None
        self.val_mse: dict[float, float] = {}
        self.solutions: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # alpha -> (W, b)

    @property
    def n_params(self) -> int:
        """Parameters of the fitted map ``(P + 1) * H``, ``P = L + 1`` or ``L``."""
        return (self.lookback + 1) * self.horizon

    def _solutions(self, segment: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(W, b)`` for every alpha, from the sliding windows of a train segment ``(T, C)``."""
        win = np.lib.stride_tricks.sliding_window_view(segment, self.lookback + self.horizon,
                                                       axis=0)  # (N, C, L + H)
        sxx = sxy = sx = sy = None
        n = 0
        for i in range(0, len(win), self.chunk):
            feats, target, _, _ = _features(win[i : i + self.chunk].transpose(0, 2, 1),
                                            self.lookback, self.norm)
            parts = (feats.T @ feats, feats.T @ target, feats.sum(0), target.sum(0))
            if sxx is None:
                sxx, sxy, sx, sy = parts
            else:
                sxx, sxy, sx, sy = (a + b for a, b in zip((sxx, sxy, sx, sy), parts, strict=True))
            n += len(feats)
        mx, my = (sx / n, sy / n) if self.intercept else (np.zeros_like(sx), np.zeros_like(sy))
        self._mean_feature = mx
        gram = sxx - n * np.outer(mx, mx)  # centred when there is an (unpenalised) intercept
        cross = sxy - n * np.outer(mx, my)
        evals, evecs = np.linalg.eigh(gram)
        proj = evecs.T @ cross  # (P, H)
        scale, floor = evals.mean(), evals.max() * len(evals) * np.finfo(np.float64).eps
        self._gram = gram / n  # the metric of the reduced-rank projection
        out = []
        for alpha in self.alphas:
            denom = evals + alpha * scale
            inv = np.where(denom > floor, 1.0 / np.maximum(denom, floor), 0.0)
            weight = evecs @ (inv[:, None] * proj)
            out.append((weight, my - mx @ weight))
        return out

    def fit(self, train_segment: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> RidgeIN:
        """Solve on every train window, keep the alpha of lowest validation MSE.

        Args:
            train_segment: Scaled train rows ``(T, C)``.
            val_x: Validation inputs ``(N, L, C)``.
            val_y: Validation targets ``(N, H, C)``.

        """
        best = np.inf
        self.solutions = dict(zip(self.alphas, self._solutions(train_segment), strict=True))
        for alpha, (weight, bias) in self.solutions.items():
            self.weight, self.bias = weight, bias
            mse = float(np.mean((self.predict(val_x) - val_y.astype(np.float64)) ** 2))
            self.val_mse[alpha] = mse
            if mse < best:
                best, chosen = mse, (alpha, weight, bias)
        self.alpha, self.weight, self.bias = chosen
        if self.ranks is not None:
            self._choose_rank(val_x, val_y)
        return self

    def mse_by_alpha(self, x: np.ndarray, y: np.ndarray) -> dict[float, float]:
        """MSE of every alpha's full-rank solution on windows ``x (N, L, C)``, ``y (N, H, C)``.

        The regularisation path of the fit; the fitted choice is left as it is.
        """
        if not self.solutions:
            raise RuntimeError("RidgeIN is not fitted; call fit() first.")
        chosen = self.weight, self.bias
        try:
            out = {}
            for alpha, (weight, bias) in self.solutions.items():
                self.weight, self.bias = weight, bias
                out[alpha] = float(np.mean((self.predict(x) - y.astype(np.float64)) ** 2))
        finally:
            self.weight, self.bias = chosen
        return out

    def _choose_rank(self, val_x: np.ndarray, val_y: np.ndarray) -> None:
        """Project the chosen map on its top-k output modes, ``k`` of lowest validation MSE."""
        full, bias = self.weight, self.bias
        _, vecs = np.linalg.eigh(full.T @ self._gram @ full)  # (H, H), ascending
        vecs = vecs[:, ::-1]
        best = np.inf
        for k in self.ranks:
            self.weight = full @ vecs[:, :k] @ vecs[:, :k].T
            mse = float(np.mean((self.predict(val_x) - val_y.astype(np.float64)) ** 2))
            self.rank_val_mse[k] = mse
            if mse < best:
                best, chosen = mse, (k, self.weight)
        self.rank, self.weight = chosen
        # The intercept (revin) was fitted with the full map; re-centre it for the projection.
        if self.intercept:
            self.bias = bias + (self._mean_feature @ (full - self.weight))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forecast windows ``(N, L, C)`` -> ``(N, H, C)`` (float64)."""
        if self.weight is None:
            raise RuntimeError("RidgeIN is not fitted; call fit() first.")
        feats, _, mu, sigma = _features(x, self.lookback, self.norm)
        out = (feats @ self.weight + self.bias).reshape(*mu.shape[:2], self.horizon)  # (N, C, H)
        if self.norm == "revin":
            out = out * sigma
        return (out + mu).transpose(0, 2, 1)
