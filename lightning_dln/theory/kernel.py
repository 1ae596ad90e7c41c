"""The scalar SVD multiplier ``K_N(a, b)`` of the depth-N operator (THEORY.md section 2).

``K_N(a, b) = sum_{j=1..N} a^{2(N-j)/N} b^{2(j-1)/N} = (a^2 - b^2) / (a^{2/N} - b^{2/N})``
for singular values ``a, b >= 0`` (``0^0 = 1``). Cases:

- ``a = b = s > 0``: ``N s^{2-2/N}``;
- exactly one of them zero, the other ``s``: ``s^{2-2/N}`` (the single ``j = 1`` or ``j = N``
  term);
- both zero: ``0`` for N >= 2; ``1`` for N = 1 (``K_1 = 1``: ``P_1`` is the identity).

For ``a, b > 0`` the cancellation-free form ``(a b)^{1-1/N} sinh(N u) / sinh(u)`` with
``u = ln(a/b) / N`` is evaluated in the log domain, ``ln sinh(y) = y - ln 2 + ln(-expm1(-2y))``,
so neither the near-equal case (no cancellation) nor widely separated values (no overflow) lose
accuracy. The infinite-depth limit of ``K_N / N`` is the logarithmic mean
``(a^2 - b^2) / (ln a^2 - ln b^2) = a b sinh(x) / x`` with ``x = ln(a/b)`` (``a^2`` when equal,
0 when either is zero).
"""

from __future__ import annotations

import math

import torch


def _log_sinh(y: torch.Tensor) -> torch.Tensor:
    """Return ``ln sinh(y)`` for ``y > 0`` without overflow or cancellation."""
    return y - math.log(2.0) + torch.log(-torch.expm1(-2.0 * y))


def multiplier(a: torch.Tensor, b: torch.Tensor, depth: float, normalized: bool) -> torch.Tensor:
    """Return ``K_N(a, b)`` (``/ N`` if ``normalized``), broadcasting ``a`` against ``b``.

    Args:
        a: Non-negative singular values (exact zeros for the kernel).
        b: Non-negative singular values, broadcastable with ``a``.
        depth: ``N`` (integral float ``>= 1``) or ``math.inf`` (always normalised: the
            logarithmic mean).
        normalized: Divide by N (finite N only; ignored for ``math.inf``).

    Returns:
        The broadcast multiplier, dtype of ``a``.

    """
    a, b = torch.broadcast_tensors(a, b)
    if depth == 1:
        return torch.ones_like(a)
    pos = (a > 0) & (b > 0)
    la = torch.log(torch.where(pos, a, 1.0))
    lb = torch.log(torch.where(pos, b, 1.0))
    x = (la - lb).abs()  # |ln(a/b)|
    equal = x == 0
    x_safe = torch.where(equal, 1.0, x)
    if math.isinf(depth):
        # ln(a b sinh(x) / x); equal: a^2 = exp(la + lb).
        log_k = la + lb + torch.where(equal, 0.0, _log_sinh(x_safe) - torch.log(x_safe))
        return torch.where(pos, torch.exp(log_k), torch.zeros_like(a))
    n = depth
    log_ratio = torch.where(
        equal, math.log(n), _log_sinh(x_safe) - _log_sinh(x_safe / n)
    )  # ln(sinh(N u) / sinh(u)), u = x / N; -> ln N at u = 0
    log_k = (1.0 - 1.0 / n) * (la + lb) + log_ratio
    if normalized:
        log_k = log_k - math.log(n)
    k_pos = torch.exp(log_k)
    one_zero = (a > 0) ^ (b > 0)
    k_one = torch.maximum(a, b) ** (2.0 - 2.0 / n)  # s^{2-2/N}
    if normalized:
        k_one = k_one / n
    return torch.where(pos, k_pos, torch.where(one_zero, k_one, torch.zeros_like(a)))
