"""Instance normalisation of each lookback window, reversible on the forecast.

``revin``: subtract the window's mean and divide by its std, per channel (Kim et al. 2022), with
an optional learned affine map; ``last``: subtract the window's last value (NLinear); ``none``.
Statistics are returned, never stored, so the module stays stateless (one forward, one inverse).

Layout is channels-first, ``(B, C, L)``: the time reduction runs over contiguous memory, and the
forecast ``(B, C, K)`` (``K = H * Q``) is denormalised with the same ``(B, C, 1)`` statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("revin", "last", "none")


class InstanceNorm(nn.Module):
    """Reversible per-window, per-channel normalisation of ``(B, C, L)`` inputs.

    Args:
        n_channels: number of channels ``C``.
        mode: ``revin``, ``last`` or ``none``.
        affine: learn a per-channel scale and shift after normalising (``revin`` only).
        eps: added to the variance before the square root.

    """

    def __init__(self, n_channels: int, mode: str = "revin", affine: bool = False,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if mode not in NORMS:
            raise ValueError(f"instance_norm must be one of {NORMS}, got {mode!r}")
        if affine and mode != "revin":
            raise ValueError(f"affine_norm=True needs instance_norm='revin', got {mode!r}")
        self.mode, self.eps = mode, eps
        self.weight = nn.Parameter(torch.ones(n_channels, 1)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n_channels, 1)) if affine else None

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """Return ``(x_norm, stats)`` for ``x (B, C, L)``; ``stats`` are ``(B, C, 1)`` or None."""
        if self.mode == "none":
            return x, None
        if self.mode == "last":
            loc = x[..., -1:]
            return x - loc, (loc, None)
        var, loc = torch.var_mean(x, dim=-1, keepdim=True, unbiased=False)
        scale = torch.sqrt(var + self.eps)
        z = (x - loc) / scale
        if self.weight is not None:
            z = z * self.weight + self.bias
        return z, (loc, scale)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """Invert :meth:`normalize` on a forecast ``(B, C, K)``."""
        if stats is None:
            return y
        loc, scale = stats
        if self.weight is not None:
            y = (y - self.bias) / (self.weight + self.eps**2)  # as in the RevIN reference code
        return y + loc if scale is None else y * scale + loc
