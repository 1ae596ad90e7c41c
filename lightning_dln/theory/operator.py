"""The depth-N operator ``P_N[W]`` (Menon-Yu's ``A_{N,W}``) in closed form, and its reference.

THEORY.md section 2: for exactly balanced factors, gradient flow on the factors moves the
end-to-end matrix ``W`` (m x n) by ``dW/dt = -P_N[W](G)`` with

    P_N[W](G) = sum_{j=1..N} (W W^T)^{(N-j)/N} G (W^T W)^{(j-1)/N}.

With the full SVD ``W = U S V^T`` and the singular values padded with zeros to ``a`` (length m)
and ``b`` (length n), ``P_N[W](G) = U [(U^T G V) o K] V^T`` where

    K_lk = sum_j a_l^{2(N-j)/N} b_k^{2(j-1)/N} = (a_l^2 - b_k^2) / (a_l^{2/N} - b_k^{2/N}).

Round-off singular values: at large N, ``s^{2/N}`` of a round-off singular value is O(1)
(``(1e-16)^{2/64} = 0.32``), which would wrongly switch on kernel directions. Singular values
``<= rcond * sigma_max`` are therefore treated as exact zeros; the default
``rcond = max(m, n) * eps(dtype)`` is numpy's ``matrix_rank`` tolerance.
"""

from __future__ import annotations

import logging

import torch

from lightning_dln.theory._checks import (
    check_depth,
    check_matrix,
    check_rcond,
    check_same_shape,
    check_svd_driver,
    default_rcond,
)
from lightning_dln.theory.kernel import multiplier

_log = logging.getLogger(__name__)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype the SVD runs in (half precisions are upcast to float32)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def thresholded_svd(
    w: torch.Tensor,
    rcond: float | None = None,
    *,
    full_matrices: bool = True,
    driver: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SVD of ``w`` (``(..., m, n)``) with round-off singular values set to exact zeros.

    Args:
        w: Matrix or batch of matrices, already validated.
        rcond: Relative threshold; singular values ``<= rcond * sigma_max`` (per matrix) become
            0. ``None`` means ``max(m, n) * eps(dtype)``.
        full_matrices: Passed to :func:`torch.linalg.svd`.
        driver: cuSOLVER driver passed to :func:`torch.linalg.svd` for CUDA tensors (ignored on
            CPU); ``None`` lets torch choose.

    Returns:
        ``(U, s, Vh)`` as :func:`torch.linalg.svd` returns them, ``s`` thresholded.

    """
    m, n = w.shape[-2], w.shape[-1]
    try:
        u, s, vh = torch.linalg.svd(
            w, full_matrices=full_matrices, driver=driver if w.is_cuda else None
        )
    except torch.linalg.LinAlgError:
        # cuSOLVER (gesvdj, then its fallback) can fail to converge on finite rank-deficient
        # float32 batches, and LAPACK's float32 gesdd on the CPU now and then too; LAPACK in
        # float64 is slow but does not.
        _log.warning("torch.linalg.svd failed to converge on %s in %s; retrying in float64 "
                     "on the CPU", w.device, w.dtype)
        u, s, vh = torch.linalg.svd(w.detach().cpu().double(), full_matrices=full_matrices)
        u, s, vh = (t.to(device=w.device, dtype=w.dtype) for t in (u, s, vh))
    tol = default_rcond(m, n, w.dtype) if rcond is None else rcond
    s = torch.where(s > tol * s[..., :1], s, torch.zeros_like(s))  # (..., min(m, n))
    return u, s, vh


def _padded(s: torch.Tensor, length: int) -> torch.Tensor:
    """Pad the singular values ``(..., k)`` with zeros to ``(..., length)``."""
    extra = length - s.shape[-1]
    if extra == 0:
        return s
    return torch.cat([s, s.new_zeros(*s.shape[:-1], extra)], dim=-1)


def svd_multiplier(s: torch.Tensor, m: int, n: int, depth: float, normalized: bool) -> torch.Tensor:
    """Return ``K`` of shape ``(..., m, n)`` for singular values ``s`` of an ``m x n`` matrix."""
    a = _padded(s, m).unsqueeze(-1)  # (..., m, 1)
    b = _padded(s, n).unsqueeze(-2)  # (..., 1, n)
    return multiplier(a, b, depth, normalized)


def depth_operator(
    W: torch.Tensor,
    G: torch.Tensor,
    depth: float,
    rcond: float | None = None,
    normalized: bool = False,
    svd_driver: str | None = "gesvda",
) -> torch.Tensor:
    """Apply the depth-N operator ``P_N[W]`` to ``G`` in closed form (one full SVD).

    Args:
        W: End-to-end matrix ``(m, n)`` or a batch ``(..., m, n)``.
        G: Loss gradient with respect to ``W``, same shape as ``W``.
        depth: ``N``, an integer ``>= 1``, or ``math.inf`` for the infinite-depth limit
            ``A_inf[W](G) = integral_0^1 (W W^T)^{1-s} G (W^T W)^s ds`` (logarithmic-mean
            multiplier). ``P_N`` grows like N, so ``math.inf`` always returns the 1/N-normalised
            limit, whatever ``normalized`` says.
        rcond: Relative threshold for round-off singular values (see module docstring);
            ``None`` means ``max(m, n) * eps(W.dtype)``.
        normalized: Return ``P_N[W](G) / N`` (the operator of the per-layer-rate ``lr0 / N``
            flow in time ``tau = N t``), which converges to ``A_inf`` with error O(1/N).
        svd_driver: cuSOLVER driver for CUDA input (``"gesvda"``, ``"gesvdj"``, ``"gesvd"``,
            or ``None`` for torch's choice); ignored on CPU. The GPU SVD dominates the cost;
            ``"gesvda"`` was both the fastest and the most accurate in float32 on an H200 (see
            :class:`lightning_dln.theory.DepthFlow`). A failed SVD is redone on the CPU.

    Returns:
        ``P_N[W](G)`` (or ``P_N[W](G) / N``, or ``A_inf[W](G)``), shape and dtype of ``G``.

    Raises:
        ValueError: For a non-matrix, non-finite or shape-mismatched ``W``/``G``, an invalid
            ``depth`` or ``rcond``.

    """
    check_matrix("W", W)
    check_matrix("G", G)
    check_same_shape("W", W, "G", G)
    n_depth = check_depth(depth)
    tol = check_rcond(rcond)
    driver = check_svd_driver(svd_driver)
    return _apply(W, G, n_depth, tol, normalized, driver)


def _apply(
    W: torch.Tensor,
    G: torch.Tensor,
    depth: float,
    rcond: float | None,
    normalized: bool,
    driver: str | None = None,
) -> torch.Tensor:
    """Unchecked :func:`depth_operator` (used by the optimizer after its own checks).

    Uses the thin SVD ``W = U_k S V_k^T`` (k = min(m, n)): the complement of the thin basis
    (``V_perp`` for m < n, ``U_perp`` for m > n; never both) only meets kernel singular values
    of the other side, where ``K = K_N(s_l, 0) = c_l``, so
    ``P = U_k[(U_k^T G V_k) o K_kk]V_k^T + U_k diag(c) U_k^T G (I - V_k V_k^T)`` (m < n), or
    ``+ (I - U_k U_k^T) G V_k diag(c) V_k^T`` (m > n): equal to the full-SVD form, cheaper.
    """
    if depth == 1:
        return G.clone()
    work = _work_dtype(W.dtype)
    w, g = W.to(work), G.to(work)
    m, n = w.shape[-2], w.shape[-1]
    u, s, vh = thresholded_svd(w, rcond, full_matrices=False, driver=driver)  # thin, k = min(m, n)
    kk = multiplier(s.unsqueeze(-1), s.unsqueeze(-2), depth, normalized)  # (..., k, k)
    gv = g @ vh.mT  # (..., m, k): G V_k
    core = u.mT @ gv  # (..., k, k): U_k^T G V_k
    out = u @ (core * kk) @ vh  # (..., m, n)
    if m != n:
        c = multiplier(s, torch.zeros_like(s), depth, normalized)  # (..., k): K_N(s, 0)
        if m < n:  # U_k diag(c) (U_k^T G - core V_k^T)
            out = out + (u * c.unsqueeze(-2)) @ (u.mT @ g - core @ vh)
        else:  # (G V_k - U_k core) diag(c) V_k^T
            out = out + ((gv - u @ core) * c.unsqueeze(-2)) @ vh
    return out.to(G.dtype)


def depth_operator_reference(
    W: torch.Tensor, G: torch.Tensor, depth: int, rcond: float | None = None
) -> torch.Tensor:
    """Literal sum ``sum_j (W W^T)^{(N-j)/N} G (W^T W)^{(j-1)/N}`` (slow; a test reference).

    PSD matrix powers come from :func:`torch.linalg.eigh`; the 0-th power is the identity,
    kernel included. Eigenvalues of ``W W^T`` / ``W^T W`` ``<= rcond * lambda_max`` (default
    ``max(m, n) * eps``) are treated as zero, i.e. singular values below about
    ``sqrt(rcond) * sigma_max`` count as zero here (forming ``W W^T`` squares the round-off).

    Args:
        W: End-to-end matrix ``(m, n)`` or a batch ``(..., m, n)``.
        G: Gradient, same shape as ``W``.
        depth: ``N``, an integer ``>= 1`` (cost and memory grow linearly with N).
        rcond: Relative eigenvalue threshold, ``None`` for the default.

    Returns:
        ``P_N[W](G)``, shape and dtype of ``G``.

    Raises:
        ValueError: For invalid matrices, shapes, ``depth`` (must be finite) or ``rcond``.

    """
    check_matrix("W", W)
    check_matrix("G", G)
    check_same_shape("W", W, "G", G)
    n_depth = int(check_depth(depth, allow_inf=False))
    tol = check_rcond(rcond)
    m, n = W.shape[-2], W.shape[-1]
    tol = default_rcond(m, n, W.dtype) if tol is None else tol
    exps = torch.arange(n_depth, dtype=W.dtype, device=W.device) / n_depth  # (N,): (j-1)/N

    def powers(sym: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        lam, q = torch.linalg.eigh(sym)  # (..., d), (..., d, d)
        lam = torch.where(lam > tol * lam[..., -1:], lam, torch.zeros_like(lam))
        lam_p = lam.unsqueeze(0) ** p.view(-1, *([1] * lam.ndim))  # (N, ..., d); 0**0 = 1
        return (q * lam_p.unsqueeze(-2)) @ q.mT  # (N, ..., d, d)

    left = powers(W @ W.mT, exps.flip(0))  # (N, ..., m, m): exponent (N-j)/N
    right = powers(W.mT @ W, exps)  # (N, ..., n, n): exponent (j-1)/N
    return (left @ G @ right).sum(dim=0)
