"""Initialisations of a deep linear stack, as dense factor matrices.

All functions return a list of ``(G, d_j, d_{j-1})`` matrices, ``W_1`` (at the input) first, for
layer widths ``dims = [d_0 = in, d_1, ..., d_N = out]``; the stack loads them into its factors.
The balanced construction is THEORY.md section 1 (Arora, Cohen, Hazan 2018).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_dln.theory.balance import balanced_factors

INITS = ("balanced", "orthogonal", "identity_residual", "small")


def _check_dims(dims: object) -> list[int]:
    """``dims`` must be ``[in, d_1, ..., out]``: at least two integer widths, each >= 1."""
    if (not isinstance(dims, (list, tuple)) or len(dims) < 2
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims)):
        raise ValueError(f"dims must be a list [in, d_1, ..., out] of at least two integers "
                         f">= 1, got {dims!r}")
    return list(dims)


def _check_target(target: object, groups: int | None = None) -> Tensor:
    """``target`` must be a finite real ``(G, m, n)`` tensor (``G == groups`` if given)."""
    if (not isinstance(target, Tensor) or target.ndim != 3 or target.is_complex()
            or target.dtype == torch.bool):
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"target must be a real (G, out, in) tensor, got {shape}")
    if groups is not None and target.shape[0] != groups:
        raise ValueError(f"target must hold groups={groups} matrices, got {target.shape[0]}")
    if not bool(torch.isfinite(target).all()):
        raise ValueError("target must be finite (no NaN or inf entries)")
    return target


def semi_orthogonal(groups: int, rows: int, cols: int, identity: bool = False) -> Tensor:
    """Return ``(G, rows, cols)`` matrices with orthonormal columns (rows >= cols) or rows.

    Args:
        groups: number of independent matrices.
        rows: rows of each matrix.
        cols: columns of each matrix.
        identity: return the rectangular identity embedding instead of a Haar-random one.

    """
    if identity:
        return torch.eye(rows, cols, dtype=torch.float64).expand(groups, rows, cols).clone()
    big, small = max(rows, cols), min(rows, cols)
    q, r = torch.linalg.qr(torch.randn(groups, big, small, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar measure
    return q if rows >= cols else q.transpose(-1, -2)


def balanced_from_target(
    target: Tensor, dims: list[int], identity_basis: bool = False
) -> list[Tensor]:
    """Exactly balanced factors whose product is ``target`` (THEORY.md section 1).

    The construction ``W_j = Q_j S^{1/N} Q_{j-1}^T`` (``Q_0 = V``, ``Q_N = U``) lives in one
    place, :func:`lightning_dln.theory.balanced_factors`; this is the stack's entry point: it
    takes the layer widths ``dims``, insists that every hidden width holds the rank of
    ``target`` (a narrower layer could not carry it, so the product would not be ``target``)
    and returns float64 matrices. Every imbalance ``W_{j+1}^T W_{j+1} - W_j W_j^T`` is zero and
    the product is ``target`` (to round-off).

    Args:
        target: ``(G, m, n)`` end-to-end matrices.
        dims: ``[n, d_1, ..., d_{N-1}, m]``; hidden widths must be ``>= rank(target)``.
        identity_basis: use identity embeddings instead of the SVD bases and random ``Q_j``
            (for diagonal factors): the factors are rectangular diagonals
            ``diag(max(t_ii, 0)^{1/N})`` built from the diagonal ``t_ii`` of ``target``, exact
            for a non-negative diagonal target whose nonzero entries come first (the first
            ``min(dims)`` of them at most).

    """
    dims = _check_dims(dims)
    groups, m, n = _check_target(target).shape
    if dims[0] != n or dims[-1] != m:
        raise ValueError(f"dims must start with {n} and end with {m}, got {dims}")
    depth = len(dims) - 1
    if depth == 1:
        return [target.double().clone()]
    r, narrowest = min(m, n), min(dims[1:-1])
    if identity_basis:
        s = torch.diagonal(target.double()[:, :r, :r], dim1=-2, dim2=-1)  # (G, r)
        if narrowest < r and bool((s[:, narrowest:] != 0).any()):
            raise ValueError(f"balanced init needs hidden widths >= the number of nonzero "
                             f"diagonal entries of target, got widths {dims[1:-1]}")
        root = s.clamp_min(0.0).pow(1.0 / depth).unsqueeze(-2)  # (G, 1, r)
        return [torch.eye(dims[j + 1], r, dtype=torch.float64) * root
                @ torch.eye(dims[j], r, dtype=torch.float64).T for j in range(depth)]
    if narrowest < r:
        rank = int(torch.linalg.matrix_rank(target.double()).max())
        if narrowest < rank:
            raise ValueError(f"balanced init needs hidden widths >= rank(target) = {rank}, "
                             f"got widths {dims[1:-1]}")
    return balanced_factors(target.double(), depth, widths=list(dims[1:-1]))


def init_matrices(
    init: str,
    dims: list[int],
    groups: int,
    scale: float,
    target: Tensor | None = None,
    identity_basis: bool = False,
) -> list[Tensor]:
    """Factor matrices for the named initialisation (one of :data:`INITS`).

    Args:
        init: ``balanced`` (exactly balanced, end-to-end ``target`` or ``scale`` times a
            semi-orthogonal matrix, so every singular value equals ``scale``; with a hidden
            width below ``min(in, out)`` that matrix keeps only as many orthonormal directions
            as the narrowest width, the rank the stack can carry), ``orthogonal``
            (each factor ``scale^{1/N}`` times a random semi-orthogonal matrix),
            ``identity_residual`` (square hidden factors exactly the identity; the rectangular
            input/output factors semi-orthogonal sharing ``scale``), ``small`` (i.i.d. Gaussian
            factors, per-entry std ``scale^{1/N} / sqrt(fan_in)``: unbalanced; use a small
            ``scale`` for the small-initialisation regime of THEORY.md section 4).
        dims: ``[in, d_1, ..., out]``.
        groups: number of independent maps.
        scale: target scale of the end-to-end map (> 0).
        target: optional ``(G, out, in)`` end-to-end matrix for ``balanced``.
        identity_basis: use identity instead of random orthonormal bases (diagonal factors).

    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    dims = _check_dims(dims)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, got {groups!r}")
    if (isinstance(scale, bool) or not isinstance(scale, (int, float))
            or not math.isfinite(scale) or scale <= 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if target is not None:
        _check_target(target, groups)
    depth = len(dims) - 1
    if init == "balanced":
        if target is None:
            target = scale * semi_orthogonal(groups, dims[-1], dims[0], identity_basis)
            rank = min(dims)
            if rank < min(dims[0], dims[-1]):
                # A hidden layer narrower than both ends caps the product's rank at its width:
                # keep ``rank`` orthonormal columns (or rows), so every nonzero singular value
                # of the end-to-end map is still ``scale`` and the factors stay exactly balanced.
                if dims[-1] >= dims[0]:
                    target[..., :, rank:] = 0.0
                else:
                    target[..., rank:, :] = 0.0
        return balanced_from_target(target, dims, identity_basis)
    if init == "orthogonal":
        root = scale ** (1.0 / depth)
        return [
            root * semi_orthogonal(groups, dims[j + 1], dims[j], identity_basis)
            for j in range(depth)
        ]
    if init == "identity_residual":
        rect = [j for j in range(depth) if dims[j] != dims[j + 1]]
        root = scale ** (1.0 / max(len(rect), 1))
        mats = []
        for j in range(depth):
            if dims[j] == dims[j + 1]:
                eye = torch.eye(dims[j], dtype=torch.float64).expand(groups, dims[j], dims[j])
                mats.append((root if not rect and j == 0 else 1.0) * eye.clone())
            else:
                mats.append(root * semi_orthogonal(groups, dims[j + 1], dims[j], identity_basis))
        return mats
    if init == "small":
        root = scale ** (1.0 / depth)
        return [
            root * torch.randn(groups, dims[j + 1], dims[j], dtype=torch.float64) / dims[j] ** 0.5
            for j in range(depth)
        ]
    raise ValueError(f"init must be one of {INITS}, got {init!r}")
