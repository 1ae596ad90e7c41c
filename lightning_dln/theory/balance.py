"""Factor lists: end-to-end product, imbalance, balancedness, balanced construction.

Factors ``[W_1, ..., W_N]`` are stored like ``nn.Linear.weight`` (out x in), ``W_1`` at the
input, so ``W_j`` has shape ``(..., d_j, d_{j-1})`` with ``d_0 = n`` and ``d_N = m``; a leading
batch shape (e.g. ``(G, out, in)`` per-channel maps) is shared by all factors.
THEORY.md section 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_dln.theory._checks import (
    check_depth,
    check_factors,
    check_matrix,
    check_rcond,
    default_rcond,
)


def end_to_end(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Return ``W = W_N ... W_1`` of shape ``(..., m, n)``.

    Args:
        factors: ``[W_1, ..., W_N]``, ``W_j`` of shape ``(..., d_j, d_{j-1})``.

    Raises:
        ValueError: For an empty list, non-matrix or non-finite factors, or shapes that do not
            chain.

    """
    ws = check_factors(factors)
    out = ws[0]
    for w in ws[1:]:
        out = w @ out  # (..., d_j, n)
    return out


def imbalance(factors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Return the imbalance matrices ``D_j = W_{j+1}^T W_{j+1} - W_j W_j^T``, j = 1..N-1.

    Gradient flow conserves every ``D_j``; with weight decay lambda,
    ``D_j(t) = exp(-2 lambda t) D_j(0)``.

    Args:
        factors: ``[W_1, ..., W_N]``.

    Returns:
        ``N - 1`` tensors, ``D_j`` of shape ``(..., d_j, d_j)`` (empty list for N = 1).

    Raises:
        ValueError: As :func:`end_to_end`.

    """
    ws = check_factors(factors)
    return [ws[j + 1].mT @ ws[j + 1] - ws[j] @ ws[j].mT for j in range(len(ws) - 1)]


def balancedness(factors: Sequence[torch.Tensor]) -> float:
    """Relative imbalance ``max_j ||D_j||_F / max_j ||W_j W_j^T||_F`` (0 means exactly balanced).

    Scale-free (invariant under ``W_j -> c W_j`` for all j) and 0 for N = 1. For a batch the
    ratio is computed per matrix and the worst (largest) is returned. All-zero factors give 0.

    Args:
        factors: ``[W_1, ..., W_N]``.

    Returns:
        The relative imbalance, a Python float ``>= 0`` (``inf`` if the factors are zero but
        some ``D_j`` is not, which cannot happen for finite input).

    Raises:
        ValueError: As :func:`end_to_end`.

    """
    ws = check_factors(factors)
    if len(ws) == 1:
        return 0.0
    num = torch.stack([torch.linalg.matrix_norm(d) for d in imbalance(ws)]).amax(dim=0)
    den = torch.stack([torch.linalg.matrix_norm(w @ w.mT) for w in ws]).amax(dim=0)
    ratio = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), num * float("inf"))
    ratio = torch.nan_to_num(ratio, nan=0.0)  # 0 * inf where everything is zero
    return float(ratio.max())


def _orthonormal_columns(
    rows: int,
    cols: int,
    batch: torch.Size,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """Random ``(*batch, rows, cols)`` matrices with orthonormal columns (float64)."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    gauss = torch.randn(
        *batch, rows, cols, generator=generator, dtype=torch.float64, device=gen_device
    )
    q, r = torch.linalg.qr(gauss)  # (..., rows, cols), (..., cols, cols)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))  # make the QR unique (Haar)
    q = q * torch.where(sign == 0, 1.0, sign).unsqueeze(-2)
    return q.to(device)


def balanced_factors(
    target: torch.Tensor,
    depth: int,
    widths: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    rcond: float | None = None,
) -> list[torch.Tensor]:
    """Exactly balanced factors whose product is ``target`` (THEORY.md section 1).

    With ``target = U S V^T`` of numerical rank r: ``W_1 = Q_1 S^{1/N} V^T``,
    ``W_j = Q_j S^{1/N} Q_{j-1}^T``, ``W_N = U S^{1/N} Q_{N-1}^T`` where ``Q_j`` (``d_j x r``)
    are random matrices with orthonormal columns. Then ``W_N ... W_1 = target`` and every
    ``D_j = Q_j S^{2/N} Q_j^T - Q_j S^{2/N} Q_j^T = 0``. Computed in float64; returned in the
    dtype and on the device of ``target``. Singular values ``<= rcond * sigma_max`` are dropped
    (round-off singular values would otherwise become O(1) entries ``s^{1/N}`` at large N).

    Args:
        target: End-to-end matrix ``(m, n)`` or a batch ``(G, m, n)`` (or ``(..., m, n)``).
        depth: Number of factors N, an integer ``>= 1``; N = 1 returns ``[target.clone()]``.
        widths: Hidden widths ``[d_1, ..., d_{N-1}]``, each ``>= r``; ``None`` means
            ``min(m, n)`` for every hidden layer.
        generator: Random generator for the ``Q_j`` (default: torch's global RNG, on CPU).
        rcond: Relative rank threshold; ``None`` means ``max(m, n) * eps(target.dtype)``. For a
            batch, r is the largest rank in the batch.

    Returns:
        ``[W_1, ..., W_N]``, ``W_j`` of shape ``(..., d_j, d_{j-1})``.

    Raises:
        ValueError: For a non-matrix or non-finite ``target``, an invalid ``depth`` or
            ``rcond``, or ``widths`` of the wrong length or narrower than the rank.

    """
    check_matrix("target", target)
    n_depth = int(check_depth(depth, allow_inf=False))
    tol = check_rcond(rcond)
    m, n = target.shape[-2], target.shape[-1]
    if widths is None:
        widths = [min(m, n)] * (n_depth - 1)
    widths = list(widths)
    if len(widths) != n_depth - 1 or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in widths
    ):
        raise ValueError(
            f"widths must be None or {n_depth - 1} integers >= 1 (one per hidden layer), "
            f"got {widths!r}"
        )
    if n_depth == 1:
        return [target.clone()]
    tol = default_rcond(m, n, target.dtype) if tol is None else tol
    u, s, vh = torch.linalg.svd(target.to(torch.float64), full_matrices=False)
    s = torch.where(s > tol * s[..., :1], s, torch.zeros_like(s))  # (..., min(m, n))
    rank = int((s > 0).sum(dim=-1).max()) if s.numel() else 0
    if min(widths) < rank:
        raise ValueError(f"widths must all be >= the rank of target ({rank}), got {widths!r}")
    batch = target.shape[:-2]
    root = (s[..., :rank] ** (1.0 / n_depth)).unsqueeze(-1)  # (..., r, 1): S^{1/N}
    qs = [_orthonormal_columns(d, rank, batch, generator, target.device) for d in widths]
    ends = [vh[..., :rank, :].mT, *qs, u[..., :, :rank]]  # Q_0 = V_r, Q_N = U_r
    factors = [ends[j + 1] @ (root * ends[j].mT) for j in range(n_depth)]  # Q_j S^{1/N} Q_{j-1}^T
    return [w.to(target.dtype) for w in factors]
