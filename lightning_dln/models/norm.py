"""Instance normalisation of each lookback window, reversible on the forecast.

``revin``: subtract the window's mean and divide by its std, per channel (Kim et al. 2022), with
an optional learned affine map; ``last``: subtract the window's last value (NLinear); ``none``.
Statistics are returned, never stored, so the module stays stateless (one forward, one inverse).

Inputs are ``(B, L, C)`` batches; the normalised output is channels-first, ``(B, C, L)``
(transposed and centred in one pass), and the forecast ``(B, C, K)`` (``K = H * Q``) is
denormalised with the same ``(B, C, 1)`` statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("revin", "last", "none")


class InstanceNorm(nn.Module):
    """Reversible per-window, per-channel normalisation: ``(B, L, C)`` in, ``(B, C, L)`` out.

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

    def center(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Centre a ``(B, L, C)`` batch into channels-first layout, without scaling it.

        Returns:
            ``(centred (B, C, L) contiguous, loc (B, C, 1) or None, scale (B, C, 1) or None)``,
            with ``normalize`` equal to ``centred / scale`` (then the affine map, if any).

        """
        xt = x.transpose(1, 2)  # (B, C, L) view
        if self.mode == "none":
            return xt.contiguous(), None, None
        loc = xt[..., -1:] if self.mode == "last" else xt.mean(dim=-1, keepdim=True)
        # Transpose and centre in one pass into a contiguous (B, C, L) tensor.
        if x.requires_grad and torch.is_grad_enabled():  # out= does not support autograd
            centred = (xt - loc).contiguous()
        else:
            centred = torch.sub(xt, loc, out=x.new_empty(xt.shape))
        if self.mode == "last":
            return centred, loc, None
        # Two-pass variance (mean, then the norm of the centred values) rather than
        # torch.var_mean, whose Welford loop costs ~15x more on CPU; no temporary is made.
        length = x.shape[1]
        norm = torch.linalg.vector_norm(centred, dim=-1, keepdim=True)
        scale = torch.sqrt(norm * norm / length + self.eps)
        return centred, loc, scale

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """Return ``(x_norm (B, C, L), stats)`` for ``x (B, L, C)``; ``stats`` are ``(B, C, 1)``."""
        centred, loc, scale = self.center(x)
        if loc is None:
            return centred, None
        if scale is None:
            return centred, (loc, None)
        z = centred / scale
        if self.weight is not None:
            z = z * self.weight + self.bias
        return z, (loc, scale)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """Invert :meth:`normalize` on a forecast ``(B, C, K)``.

        Every one of the ``K = H * Q`` outputs is mapped back like a location (``y * scale +
        loc``). That is exact for point forecasts and quantiles. For the raw parameters of a
        likelihood (e.g. a Gaussian's pre-softplus scale) it is a convention, not an identity:
        darts' ``RINorm.inverse`` does the same, so a darts likelihood sees the same values
        with our instance norm as with darts' own.
        """
        if stats is None:
            return y
        loc, scale = stats
        if self.weight is not None:
            y = (y - self.bias) / (self.weight + self.eps**2)  # as in the RevIN reference code
        return y + loc if scale is None else y * scale + loc
