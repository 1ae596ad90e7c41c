"""Instance normalisation of each lookback window, reversible on the forecast.

``revin``: subtract the window's mean and divide by its std, per channel (Kim et al. 2022), with
an optional learned affine map; ``last``: subtract the window's last value (NLinear); ``none``.
Statistics are returned, never stored, so the module stays stateless (one forward, one inverse).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("revin", "last", "none")


class InstanceNorm(nn.Module):
    """Reversible per-window, per-channel normalisation of ``(B, L, C)`` inputs.

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
        self.weight = nn.Parameter(torch.ones(n_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n_channels)) if affine else None

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Return ``(x_norm, (loc, scale))``; ``loc``/``scale`` are ``(B, 1, C)``."""
        if self.mode == "none":
            zero = x.new_zeros(x.shape[0], 1, x.shape[-1])
            return x, (zero, torch.ones_like(zero))
        if self.mode == "last":
            loc = x[:, -1:, :]
            return x - loc, (loc, torch.ones_like(loc))
        loc = x.mean(dim=1, keepdim=True)
        scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        z = (x - loc) / scale
        if self.weight is not None:
            z = z * self.weight + self.bias
        return z, (loc, scale)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """Invert :meth:`normalize` on a forecast ``(B, H, C)`` or ``(B, H, C, Q)``."""
        loc, scale = stats
        if y.dim() == 4:  # quantile axis last: broadcast the (B, 1, C) stats over it
            loc, scale = loc.unsqueeze(-1), scale.unsqueeze(-1)
            weight = None if self.weight is None else self.weight.unsqueeze(-1)
            bias = None if self.bias is None else self.bias.unsqueeze(-1)
        else:
            weight, bias = self.weight, self.bias
        if weight is not None:
            y = (y - bias) / (weight + self.eps**2)  # as in the RevIN reference code
        return y * scale + loc
