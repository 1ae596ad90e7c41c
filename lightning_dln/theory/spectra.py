"""Spectra: singular values, effective rank, Menon-Yu entropy and its orbit-volume check.

THEORY.md sections 4 and 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lightning_dln.theory._checks import (
    check_depth,
    check_factors,
    check_matrix,
    check_rcond,
    default_rcond,
)
from lightning_dln.theory.kernel import multiplier


def singular_values(W: torch.Tensor) -> torch.Tensor:
    """Return the singular values of ``W`` (``(m, n)`` or ``(..., m, n)``), descending.

    Raises:
        ValueError: For a non-matrix or non-finite ``W``.

    """
    check_matrix("W", W)
    return torch.linalg.svdvals(W)  # (..., min(m, n))


def effective_rank(x: torch.Tensor, is_spectrum: bool | None = None) -> torch.Tensor:
    """Roy & Vetterli (2007) effective rank ``erank = exp(H(p))``, ``p = s / sum(s)``.

    ``H(p) = -sum_i p_i ln p_i`` (with ``0 ln 0 = 0``) is the Shannon entropy of the normalised
    singular values, so ``1 <= erank <= rank`` for a non-zero matrix, with equality on the right
    for a flat spectrum. A zero matrix has effective rank 0 by convention.

    Args:
        x: A matrix ``(m, n)`` / batch ``(..., m, n)``, or a spectrum ``(r,)`` / batch of
            spectra ``(..., r)`` of non-negative singular values.
        is_spectrum: ``True`` if the last dimension of ``x`` holds singular values (so a
            ``(T, r)`` spectrum history gives ``T`` values); ``None`` means "1-D is a spectrum,
            otherwise a matrix".

    Returns:
        Tensor of shape ``x.shape[:-1]`` (spectra) or ``x.shape[:-2]`` (matrices); 0-d for one.

    Raises:
        ValueError: For a non-tensor, non-finite input, a 0-D tensor, or a negative spectrum.

    """
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise ValueError("x must be a real floating torch.Tensor (a matrix or a spectrum)")
    spectrum = x.ndim == 1 if is_spectrum is None else is_spectrum
    if spectrum:
        if x.ndim < 1 or x.shape[-1] < 1:
            raise ValueError(f"x as a spectrum must have shape (..., r), r >= 1, got {x.shape}")
        if not bool(torch.isfinite(x).all()) or bool((x < 0).any()):
            raise ValueError("x as a spectrum must hold finite non-negative singular values")
        s = x
    else:
        s = singular_values(x)
    total = s.sum(dim=-1, keepdim=True)  # (..., 1)
    p = s / torch.where(total > 0, total, 1.0)
    h = -torch.where(p > 0, p * torch.log(torch.where(p > 0, p, 1.0)), 0.0).sum(dim=-1)
    return torch.where(total.squeeze(-1) > 0, torch.exp(h), torch.zeros_like(h))


def entropy(X: torch.Tensor, depth: float, rcond: float | None = None) -> torch.Tensor:
    """Menon-Yu entropy ``S_N(X) = 1/2 sum_{i<j} ln K_N(sigma_i, sigma_j)`` up to a constant.

    ``K_N`` is the depth-N multiplier (see :mod:`lightning_dln.theory.kernel`), so
    ``K_ij = (sigma_i^2 - sigma_j^2) / (sigma_i^{2/N} - sigma_j^{2/N})`` and the sum equals
    ``1/2 ln(van(sigma^2) / van(sigma^{2/N}))``; the constant ``(N-1) ln c_d`` is dropped.
    Repeated singular values use the limit ``K = N s^{2-2/N}`` (finite). A pair of zero
    singular values gives ``K = 0`` and ``S = -inf`` (rank <= d - 2). At rank ``d - 1`` the
    formula, like the orbit volume of :func:`orbit_gram_logdet`, stays finite. N = 1 gives 0.

    Args:
        X: Square matrix ``(d, d)`` or batch ``(..., d, d)``.
        depth: ``N``, integer ``>= 1`` or ``math.inf`` (uses ``K_N / N`` -> logarithmic mean,
            i.e. ``S_N - (d(d-1)/4) ln N`` in the limit).
        rcond: Relative threshold below which singular values count as zero (default
            ``d * eps``).

    Returns:
        Tensor ``X.shape[:-2]`` (0-d for one matrix), possibly ``-inf``.

    Raises:
        ValueError: For a non-square, non-finite or non-matrix ``X``, invalid ``depth``/``rcond``.

    """
    check_matrix("X", X)
    if X.shape[-1] != X.shape[-2]:
        raise ValueError(f"X must be square (d, d), got shape {tuple(X.shape)}")
    n_depth = check_depth(depth)
    tol = check_rcond(rcond)
    d = X.shape[-1]
    tol = default_rcond(d, d, X.dtype) if tol is None else tol
    s = torch.linalg.svdvals(X)  # (..., d)
    s = torch.where(s > tol * s[..., :1], s, torch.zeros_like(s))
    k = multiplier(s.unsqueeze(-1), s.unsqueeze(-2), n_depth, math.isinf(n_depth))  # (..., d, d)
    iu = torch.triu_indices(d, d, offset=1, device=X.device)
    pairs = k[..., iu[0], iu[1]]  # (..., d(d-1)/2)
    return 0.5 * torch.log(pairs).sum(dim=-1)


def orbit_gram_logdet(factors: Sequence[torch.Tensor]) -> float:
    """Return ``1/2 log det`` of the Gram matrix of the orbit's tangent vectors at ``factors``.

    The orbit of balanced factorisations is
    ``{(Q_1 W_1, Q_2 W_2 Q_1^T, ..., W_N Q_{N-1}^T) : Q_j in O(d)}``; its tangent vectors at
    ``Q = I`` are ``dW_j = Omega_j W_j - W_j Omega_{j-1}`` with skew ``Omega_j``
    (``Omega_0 = Omega_N = 0``). With the basis ``e_i e_k^T - e_k e_i^T`` (i < k) of so(d) for
    each ``Omega_1..Omega_{N-1}``, the ``(N-1) d(d-1)/2`` tangent vectors are flattened and their
    Frobenius Gram matrix is formed, in float64. For balanced factors of ``X`` this equals
    :func:`entropy` up to a constant (THEORY.md section 5): an independent numerical check.

    Args:
        factors: ``[W_1, ..., W_N]``, all square ``(d, d)`` (no batch), N >= 2.

    Returns:
        ``1/2 log det(Gram)`` as a float; ``-inf`` if the Gram matrix is numerically singular
        (smallest eigenvalue ``<= size * eps * largest``).

    Raises:
        ValueError: For invalid, non-square, batched or fewer than 2 factors.

    """
    ws = check_factors(factors)
    d = ws[0].shape[-1]
    if len(ws) < 2 or any(w.ndim != 2 or w.shape != (d, d) for w in ws):
        raise ValueError("factors must be at least 2 square (d, d) matrices without batch dims")
    ws = [w.to(torch.float64) for w in ws]
    n_depth = len(ws)
    iu = torch.triu_indices(d, d, offset=1)
    n_pairs = iu.shape[1]
    basis = torch.zeros(n_pairs, d, d, dtype=torch.float64, device=ws[0].device)
    idx = torch.arange(n_pairs)
    basis[idx, iu[0], iu[1]] = 1.0
    basis[idx, iu[1], iu[0]] = -1.0  # (P, d, d): e_i e_k^T - e_k e_i^T
    rows = []
    for j in range(n_depth - 1):  # Omega_{j+1} (1-based) enters dW_{j+1} and dW_{j+2}
        tangent = torch.zeros(n_pairs, n_depth, d, d, dtype=torch.float64, device=basis.device)
        tangent[:, j] = basis @ ws[j]  # Omega_j W_j
        tangent[:, j + 1] = -ws[j + 1] @ basis  # -W_{j+1} Omega_j
        rows.append(tangent.reshape(n_pairs, n_depth * d * d))  # (P, N d^2)
    t = torch.cat(rows, dim=0)  # ((N-1) P, N d^2)
    lam = torch.linalg.eigvalsh(t @ t.mT)  # ((N-1) P,) ascending, >= 0 up to round-off
    if float(lam[0]) <= lam.numel() * torch.finfo(torch.float64).eps * float(lam[-1]):
        return -math.inf  # numerically singular: a zero pair of singular values
    return 0.5 * float(torch.log(lam).sum())
