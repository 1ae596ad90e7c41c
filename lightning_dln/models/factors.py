"""Structured linear factors: the building blocks of a deep linear stack.

Every factor maps ``(..., G, in) -> (..., G, out)`` with its own matrix per group ``G`` (one group
for weights shared across channels, ``G = C`` for per-channel weights: vectorised, never a loop),
and can materialise that matrix densely with :meth:`Factor.matrix`, shape ``(G, out, in)``
(stored like ``nn.Linear.weight``).

Shape legend: ``G`` groups, ``in``/``out`` features, ``r`` rank.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FACTOR_KINDS = ("dense", "lowrank", "diagonal")


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class Factor(nn.Module):
    """A linear map ``(..., G, in) -> (..., G, out)`` with a dense ``(G, out, in)`` matrix."""

    def __init__(self, in_features: int, out_features: int, groups: int = 1) -> None:
        super().__init__()
        _check_positive("in_features", in_features)
        _check_positive("out_features", out_features)
        _check_positive("groups", groups)
        self.in_features = in_features
        self.out_features = out_features
        self.groups = groups

    def matrix(self) -> Tensor:
        """Return the dense matrix of this factor, shape ``(G, out, in)``."""
        raise NotImplementedError

    def set_matrix(self, matrix: Tensor) -> None:
        """Set the parameters so that :meth:`matrix` equals ``matrix`` (closest representable)."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Return the number of trainable scalars of this factor."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        """Apply the factor: ``(..., G, in) -> (..., G, out)``."""
        return apply_grouped(x, self.matrix())

    def extra_repr(self) -> str:
        """Show the shape of the factor."""
        return f"in={self.in_features}, out={self.out_features}, groups={self.groups}"

    def _check_target(self, matrix: Tensor) -> Tensor:
        shape = (self.groups, self.out_features, self.in_features)
        if matrix.shape != shape:
            raise ValueError(f"matrix must have shape {shape}, got {tuple(matrix.shape)}")
        return matrix.to(dtype=self._dtype(), device=self._device())

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def apply_grouped(x: Tensor, matrix: Tensor) -> Tensor:
    """Multiply ``x (..., G, in)`` by per-group matrices ``(G, out, in)`` -> ``(..., G, out)``."""
    if matrix.shape[0] == 1:
        return torch.nn.functional.linear(x, matrix[0])  # shared weights: one GEMM
    return torch.einsum("...gi,goi->...go", x, matrix)


class DenseFactor(Factor):
    """An unconstrained dense matrix per group."""

    def __init__(self, in_features: int, out_features: int, groups: int = 1) -> None:
        super().__init__(in_features, out_features, groups)
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_features))

    def matrix(self) -> Tensor:
        """Return the ``(G, out, in)`` weight itself."""
        return self.weight

    def set_matrix(self, matrix: Tensor) -> None:
        """Copy ``matrix`` into the weight."""
        with torch.no_grad():
            self.weight.copy_(self._check_target(matrix))


class LowRankFactor(Factor):
    """A rank-``r`` product ``U V`` per group, ``U (out, r)``, ``V (r, in)``.

    ``(out + in) r`` parameters instead of ``out * in``, and ``(out + in) r`` flops per row.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, groups: int = 1) -> None:
        super().__init__(in_features, out_features, groups)
        _check_positive("rank", rank)
        self.rank = rank
        self.u = nn.Parameter(torch.randn(groups, out_features, rank) / math.sqrt(rank))
        self.v = nn.Parameter(torch.randn(groups, rank, in_features) / math.sqrt(in_features))

    def matrix(self) -> Tensor:
        """Return ``U V`` ``(G, out, in)``."""
        return self.u @ self.v

    def forward(self, x: Tensor) -> Tensor:
        """Apply ``V`` then ``U``: ``(out + in) r`` flops per row, never the dense matrix."""
        return apply_grouped(apply_grouped(x, self.v), self.u)  # (..., G, r) in the middle

    def set_matrix(self, matrix: Tensor) -> None:
        """Best rank-``r`` approximation (exact when ``rank(matrix) <= r``), split as balanced.

        Unused rank directions get random ``U`` columns and zero ``V`` rows: the product is
        unchanged, but ``U V = 0`` is not left at the saddle where neither factor gets a gradient.
        """
        matrix = self._check_target(matrix)
        u, s, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
        k = min(self.rank, s.shape[-1])
        root = s[..., :k].sqrt()
        new_u = torch.randn(self.u.shape, dtype=torch.float64, device=matrix.device)
        new_u /= self.out_features**0.5
        new_v = torch.zeros(self.v.shape, dtype=torch.float64, device=matrix.device)
        alive = (root > 1e-6 * root.amax(-1, keepdim=True).clamp_min(1e-300)).unsqueeze(-2)
        new_u[..., :k] = torch.where(alive, u[..., :k] * root.unsqueeze(-2), new_u[..., :k])
        new_v[..., :k, :] = root.unsqueeze(-1) * vh[..., :k, :]
        with torch.no_grad():
            self.u.copy_(new_u)
            self.v.copy_(new_v)

    def extra_repr(self) -> str:
        """Show the shape and the rank."""
        return super().extra_repr() + f", rank={self.rank}"


class DiagonalFactor(Factor):
    """A (rectangular) diagonal matrix per group: ``min(in, out)`` parameters.

    Maps ``x -> d * x[:k]`` zero-padded to ``out``, ``k = min(in, out)``.
    """

    def __init__(self, in_features: int, out_features: int, groups: int = 1) -> None:
        super().__init__(in_features, out_features, groups)
        self.k = min(in_features, out_features)
        self.diag = nn.Parameter(torch.ones(groups, self.k))

    def matrix(self) -> Tensor:
        """Return the rectangular diagonal matrix ``(G, out, in)``."""
        out = self.diag.new_zeros(self.groups, self.out_features, self.in_features)
        idx = torch.arange(self.k, device=self.diag.device)
        out[:, idx, idx] = self.diag
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Scale the first ``min(in, out)`` coordinates (zero-pad or truncate the rest)."""
        y = x[..., : self.k] * self.diag  # (..., G, k)
        if self.out_features > self.k:
            y = torch.nn.functional.pad(y, (0, self.out_features - self.k))
        return y

    def set_matrix(self, matrix: Tensor) -> None:
        """Keep the diagonal of ``matrix`` (exact when ``matrix`` is diagonal)."""
        matrix = self._check_target(matrix)
        with torch.no_grad():
            self.diag.copy_(torch.diagonal(matrix, dim1=-2, dim2=-1))


class ResidualFactor(Factor):
    """The residual form ``I + A`` of a square factor ``A`` (any kind)."""

    def __init__(self, inner: Factor) -> None:
        if inner.in_features != inner.out_features:
            raise ValueError(
                "a residual factor must be square, got "
                f"in={inner.in_features}, out={inner.out_features}"
            )
        super().__init__(inner.in_features, inner.out_features, inner.groups)
        self.inner = inner

    def matrix(self) -> Tensor:
        """Return ``I + A`` ``(G, n, n)``."""
        eye = torch.eye(self.in_features, dtype=self._dtype(), device=self._device())
        return eye + self.inner.matrix()

    def forward(self, x: Tensor) -> Tensor:
        """Apply ``x + A x`` (one accumulating GEMM for shared low-rank ``A``)."""
        inner = self.inner
        if isinstance(inner, LowRankFactor) and self.groups == 1:
            # x + (x V^T) U^T as one GEMM that accumulates into x: no separate add pass over
            # the (rows, width) activation, which dominates a deep low-rank stack's cost.
            flat = x.reshape(-1, self.in_features)
            out = torch.addmm(flat, flat @ inner.v[0].T, inner.u[0].T)  # (rows, width)
            return out.view(x.shape)
        return x + inner(x)

    def set_matrix(self, matrix: Tensor) -> None:
        """Set ``A = matrix - I``."""
        matrix = self._check_target(matrix)
        eye = torch.eye(self.in_features, dtype=matrix.dtype, device=matrix.device)
        self.inner.set_matrix(matrix - eye)


def make_factor(
    kind: str, in_features: int, out_features: int, groups: int = 1, rank: int | None = None
) -> Factor:
    """Build a factor by name (one of :data:`FACTOR_KINDS`)."""
    if kind == "dense":
        return DenseFactor(in_features, out_features, groups)
    if kind == "lowrank":
        if rank is None:
            raise ValueError("factor='lowrank' needs rank >= 1, got rank=None")
        return LowRankFactor(in_features, out_features, rank, groups)
    if kind == "diagonal":
        return DiagonalFactor(in_features, out_features, groups)
    raise ValueError(f"factor must be one of {FACTOR_KINDS}, got {kind!r}")
