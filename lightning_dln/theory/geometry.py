"""Geometry of the depth-N flow: the metric ``g_N`` and the singular-value velocities.

THEORY.md section 2: ``g_N(Z, Z) = Tr(Z^T A_{N,W}^{-1} Z)`` on the manifold of matrices of fixed
rank, and ``d sigma_r / dt = -N sigma_r^{2-2/N} <G, u_r v_r^T>`` (Arora, Cohen, Hu, Luo 2019).
"""

from __future__ import annotations

import math

import torch

from lightning_dln.theory._checks import (
    check_depth,
    check_matrix,
    check_rcond,
    check_same_shape,
)
from lightning_dln.theory.operator import _work_dtype, svd_multiplier, thresholded_svd


def riemannian_metric(
    W: torch.Tensor,
    Z: torch.Tensor,
    depth: float,
    rcond: float | None = None,
    atol: float | None = None,
) -> torch.Tensor:
    """Return ``g_N(Z, Z) = Tr(Z^T A_{N,W}^{-1} Z)``, the depth-N metric at ``W``.

    The metric lives on the manifold of matrices of the rank of ``W``. In the SVD basis
    ``Z~ = U^T Z V`` it is ``sum Z~_lk^2 / K_lk`` over entries with ``K_lk > 0``. Entries with
    ``K_lk = 0`` (row and column both in the kernel of ``W``, N >= 2; for ``math.inf`` any
    kernel row or column) are not tangent to the fixed-rank manifold: if ``|Z~_lk| > atol`` there
    the result is ``inf``. ``depth=math.inf`` uses the normalised limit ``A_inf``.

    Args:
        W: End-to-end matrix ``(m, n)`` or a batch ``(..., m, n)``.
        Z: Tangent vector, same shape as ``W``.
        depth: ``N``, an integer ``>= 1`` or ``math.inf``.
        rcond: Relative singular-value threshold (see :func:`depth_operator`).
        atol: Absolute tolerance for non-tangent components; ``None`` means
            ``sqrt(eps) * ||Z||_F`` per matrix.

    Returns:
        Tensor of shape ``W.shape[:-2]`` (0-d for a single matrix), ``>= 0`` or ``inf``.

    Raises:
        ValueError: For invalid matrices, shapes, ``depth``, ``rcond`` or negative ``atol``.

    """
    check_matrix("W", W)
    check_matrix("Z", Z)
    check_same_shape("W", W, "Z", Z)
    n_depth = check_depth(depth)
    tol = check_rcond(rcond)
    if atol is not None and (not math.isfinite(atol) or atol < 0):
        raise ValueError(f"atol must be None or a finite number >= 0, got {atol!r}")
    m, n = W.shape[-2], W.shape[-1]
    u, s, vh = thresholded_svd(W.to(_work_dtype(W.dtype)), tol)
    k = svd_multiplier(s, m, n, n_depth, normalized=False)  # (..., m, n)
    z = u.mT @ Z.to(u.dtype) @ vh.mT  # (..., m, n): U^T Z V
    pos = k > 0
    value = torch.where(pos, z.square() / torch.where(pos, k, 1.0), 0.0).sum(dim=(-2, -1))
    if atol is None:
        bound = math.sqrt(torch.finfo(u.dtype).eps) * torch.linalg.matrix_norm(z)  # (...)
    else:
        bound = torch.full_like(value, atol)
    outside = torch.where(pos, 0.0, z.abs()).amax(dim=(-2, -1))  # (...)
    return torch.where(outside > bound, torch.full_like(value, math.inf), value)


def singular_value_velocity(
    W: torch.Tensor,
    G: torch.Tensor,
    depth: float,
    rcond: float | None = None,
    normalized: bool = False,
) -> torch.Tensor:
    """Return ``d sigma_r / dt = -N sigma_r^{2-2/N} <G, u_r v_r^T>`` for every singular value.

    Valid for distinct non-zero singular values (Arora, Cohen, Hu, Luo 2019); zero singular
    values (after the ``rcond`` threshold) give 0 for N >= 2. ``normalized`` divides by N
    (time ``tau = N t``); ``depth=math.inf`` returns the normalised limit
    ``-sigma_r^2 <G, u_r v_r^T>``.

    Args:
        W: End-to-end matrix ``(m, n)`` or a batch ``(..., m, n)``.
        G: Loss gradient with respect to ``W``, same shape.
        depth: ``N``, an integer ``>= 1`` or ``math.inf``.
        rcond: Relative singular-value threshold (see :func:`depth_operator`).
        normalized: Divide by N.

    Returns:
        Tensor ``(..., min(m, n))``, ordered like the singular values (descending).

    Raises:
        ValueError: For invalid matrices, shapes, ``depth`` or ``rcond``.

    """
    check_matrix("W", W)
    check_matrix("G", G)
    check_same_shape("W", W, "G", G)
    n_depth = check_depth(depth)
    tol = check_rcond(rcond)
    work = _work_dtype(W.dtype)
    u, s, vh = thresholded_svd(W.to(work), tol, full_matrices=False)  # (..., m, k) (..., k, n)
    proj = (u * (G.to(work) @ vh.mT)).sum(dim=-2)  # (..., k): <G, u_r v_r^T>
    if math.isinf(n_depth):
        rate = s.square()
    else:
        rate = s ** (2.0 - 2.0 / n_depth) * (1.0 if normalized else n_depth)
    return (-rate * proj).to(G.dtype)
