"""Covariates as extra linear inputs of a forecaster (past, future and static).

Each covariate block is a low-parameter linear map into the forecast: a temporal map shared by
the covariate channels, then a projection onto the target channels. Everything stays linear, so
the whole forecaster still collapses to one affine map.

Shape legend: ``B`` batch, ``L`` lookback, ``H`` horizon, ``Q`` outputs per step, ``C`` target
channels, ``P``/``F``/``S`` past/future/static covariate channels, ``K = H * Q``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class CovariateTerms(nn.Module):
    """The covariates' additive contribution ``(B, H, Q, C)`` to the normalised forecast."""

    def __init__(self, lookback: int, horizon: int, n_channels: int, n_outputs: int,
                 n_past: int = 0, n_future: int = 0, n_static: int = 0) -> None:
        super().__init__()
        for name, value in (("n_past_covariates", n_past), ("n_future_covariates", n_future),
                            ("n_static_covariates", n_static)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.horizon, self.n_channels, self.n_outputs = horizon, n_channels, n_outputs
        self.lookback = lookback
        self.n_past, self.n_future, self.n_static = n_past, n_future, n_static
        k = horizon * n_outputs
        # Temporal maps start random, channel projections at zero: the product starts at zero
        # (no effect on a fresh model) and both get gradients.
        self.past_temporal = nn.Parameter(torch.randn(k, lookback) / math.sqrt(lookback)) \
            if n_past else None
        self.past_channel = nn.Parameter(torch.zeros(n_channels, n_past)) if n_past else None
        self.future_temporal = nn.Parameter(torch.randn(k, horizon) / math.sqrt(horizon)) \
            if n_future else None
        self.future_channel = nn.Parameter(torch.zeros(n_channels, n_future)) if n_future else None
        self.static = nn.Parameter(torch.zeros(k * n_channels, n_static)) if n_static else None

    @property
    def active(self) -> bool:
        """Whether any covariate is used."""
        return bool(self.n_past or self.n_future or self.n_static)

    def forward(self, batch_size: int, past: Tensor | None = None, future: Tensor | None = None,
                static: Tensor | None = None) -> Tensor | None:
        """Return the covariate term ``(B, H, Q, C)`` or ``None`` when no covariate is used."""
        _check("past_covariates", past, self.n_past, (batch_size, self.lookback, self.n_past))
        _check("future_covariates", future, self.n_future,
               (batch_size, self.horizon, self.n_future))
        _check("static_covariates", static, self.n_static, (batch_size, self.n_static))
        if not self.active:
            return None
        k = self.horizon * self.n_outputs
        ref = past if past is not None else future if future is not None else static
        out = ref.new_zeros(batch_size, k, self.n_channels)  # (B, K, C)
        if past is not None:
            t = torch.einsum("blp,kl->bkp", past, self.past_temporal)  # (B, K, P)
            out = out + t @ self.past_channel.T
        if future is not None:
            t = torch.einsum("bhf,kh->bkf", future, self.future_temporal)  # (B, K, F)
            out = out + t @ self.future_channel.T
        if static is not None:
            out = out + (static @ self.static.T).view(batch_size, k, self.n_channels)
        return out.view(batch_size, self.horizon, self.n_outputs, self.n_channels)


def _check(name: str, value: Tensor | None, expected_channels: int, shape: tuple) -> None:
    if expected_channels == 0:
        if value is not None:
            raise ValueError(f"{name} were given but the model was built with 0 of them; "
                             f"build it with n_{name}={value.shape[-1]}")
        return
    if value is None:
        raise ValueError(f"the model was built with {expected_channels} {name}; pass a tensor "
                         f"of shape {shape}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
