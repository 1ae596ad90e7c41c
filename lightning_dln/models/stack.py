"""The deep linear stack: ``depth`` structured factors, one affine map end to end.

``y = W_N ... W_1 x + b``. Depth 1 is a plain linear layer. With ``activation`` set, the same
stack becomes the nonlinear control of a fair ablation (and no longer collapses).

Shape legend: ``G`` groups (1 = shared map, ``C`` = one map per channel), ``in``/``out`` features.
With ``groups == 1`` the input is ``(..., in)``; otherwise ``(..., G, in)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_dln.models.factors import (
    FACTOR_KINDS,
    Factor,
    LowRankFactor,
    ResidualFactor,
    make_factor,
)
from lightning_dln.models.init import INITS, init_matrices
from lightning_dln.models.lowrank_chain import lowrank_residual_chain

ACTIVATIONS = ("relu", "gelu", "tanh", "leaky_relu", "silu")


def _make_activation(name: str) -> nn.Module:
    table = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
             "silu": nn.SiLU}
    if name not in table:
        raise ValueError(f"activation must be None or one of {ACTIVATIONS}, got {name!r}")
    return table[name]()


class DeepLinear(nn.Module):
    """A stack of ``depth`` linear factors with an optional output bias.

    Args:
        in_features: input size ``n``.
        out_features: output size ``m``.
        depth: number of factors ``N >= 1``.
        width: hidden width (default ``max(in, out)``, so depth never limits the rank).
        factor: factor kind, one of ``dense``, ``lowrank``, ``diagonal``.
        rank: rank of ``lowrank`` factors.
        residual: use the residual form ``I + A_j`` for square factors (``A_j`` of the chosen
            kind); the rectangular input/output projections of a residual stack are dense.
        init: ``balanced``, ``orthogonal``, ``identity_residual`` or ``small``
            (see :func:`lightning_dln.models.init.init_matrices`).
        init_scale: scale of the end-to-end map at initialisation (> 0).
        activation: ``None`` (linear) or a nonlinearity between factors (the control).
        groups: number of independent maps (``C`` for per-channel weights).
        bias: learn an output bias.
        target: optional ``(G, out, in)`` or ``(out, in)`` end-to-end matrix for balanced init.

    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int = 1,
        width: int | None = None,
        factor: str = "dense",
        rank: int | None = None,
        residual: bool = False,
        init: str = "balanced",
        init_scale: float = 1.0,
        activation: str | None = None,
        groups: int = 1,
        bias: bool = True,
        target: Tensor | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("depth", depth), ("in_features", in_features),
                            ("out_features", out_features), ("groups", groups)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if width is None:
            width = max(in_features, out_features)
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be None or an integer >= 1, got {width!r}")
        if factor not in FACTOR_KINDS:
            raise ValueError(f"factor must be one of {FACTOR_KINDS}, got {factor!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if not (isinstance(init_scale, (int, float)) and init_scale > 0
                and init_scale < float("inf")):
            raise ValueError(f"init_scale must be a finite number > 0, got {init_scale!r}")
        self.in_features, self.out_features = in_features, out_features
        self.depth, self.width, self.groups = depth, width, groups
        self.factor_kind, self.residual, self.init = factor, residual, init
        self.init_scale = float(init_scale)
        self.dims = [in_features] + [width] * (depth - 1) + [out_features]
        self.factors = nn.ModuleList(self._make_factor(j, rank) for j in range(depth))
        self.activation = None if activation is None else _make_activation(activation)
        self.activation_name = activation
        self.bias = nn.Parameter(torch.zeros(groups, out_features)) if bias else None
        self.reset_parameters(target)

    def _make_factor(self, j: int, rank: int | None) -> Factor:
        d_in, d_out = self.dims[j], self.dims[j + 1]
        if self.residual and d_in != d_out:
            # The rectangular projections of a residual stack stay dense: a low-rank or diagonal
            # projection would cap the rank of the whole map.
            return make_factor("dense", d_in, d_out, self.groups)
        inner = make_factor(self.factor_kind, d_in, d_out, self.groups, rank)
        return ResidualFactor(inner) if self.residual else inner

    @torch.no_grad()
    def reset_parameters(self, target: Tensor | None = None) -> None:
        """Re-initialise every factor (and zero the bias) with the configured ``init``."""
        if target is not None:
            if self.init != "balanced":
                raise ValueError(
                    f"target is only used with init='balanced', got init={self.init!r}")
            if target.dim() == 2:
                target = target.unsqueeze(0).expand(self.groups, -1, -1)
            expected = (self.groups, self.out_features, self.in_features)
            if tuple(target.shape) != expected:
                raise ValueError(f"target must have shape {expected[1:]} or {expected}, "
                                 f"got {tuple(target.shape)}")
            if not torch.isfinite(target).all():
                raise ValueError("target must be finite")
        identity_basis = self.factor_kind == "diagonal"
        mats = init_matrices(self.init, self.dims, self.groups, self.init_scale, target,
                             identity_basis)
        for factor, mat in zip(self.factors, mats, strict=True):
            factor.set_matrix(mat)
        if self.bias is not None:
            self.bias.zero_()

    @property
    def is_linear(self) -> bool:
        """Whether the stack is one affine map (no activation)."""
        return self.activation is None

    def forward(self, x: Tensor) -> Tensor:
        """Apply the stack: ``(..., [G,] in) -> (..., [G,] out)``."""
        squeeze = self.groups == 1
        if squeeze:
            x = x.unsqueeze(-2)  # (..., 1, in)
        if x.shape[-2:] != (self.groups, self.in_features):
            want = f"(..., {self.in_features})" if squeeze else \
                f"(..., {self.groups}, {self.in_features})"
            raise ValueError(f"input must have shape {want}, got {tuple(x.shape)}")
        if self.activation is None and self.groups == 1:
            x = self._linear_forward(x)
        else:
            for j, factor in enumerate(self.factors):
                x = factor(x)
                if self.activation is not None and j < self.depth - 1:
                    x = self.activation(x)
        if self.bias is not None:
            x = x + self.bias
        return x.squeeze(-2) if squeeze else x

    def _linear_forward(self, x: Tensor) -> Tensor:
        """Shared-weight linear stack: runs of residual low-rank factors go as one fused node."""
        run: list[ResidualFactor] = []
        for factor in [*self.factors, None]:
            if isinstance(factor, ResidualFactor) and isinstance(factor.inner, LowRankFactor):
                run.append(factor)
                continue
            if len(run) > 1:  # (..., 1, width) -> (rows, width) and back
                flat = lowrank_residual_chain(x.reshape(-1, x.shape[-1]),
                                              [f.inner.u for f in run], [f.inner.v for f in run])
                x = flat.view(x.shape)
            elif run:
                x = run[0](x)
            run = []
            if factor is not None:
                x = factor(x)
        return x

    def matrices(self) -> list[Tensor]:
        """Dense factor matrices ``W_1 .. W_N``, each ``(G, d_j, d_{j-1})``."""
        return [factor.matrix() for factor in self.factors]

    def end_to_end(self, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """Return the exact affine map ``W = W_N ... W_1`` ``(G, out, in)`` and bias ``(G, out)``.

        Args:
            dtype: accumulate the product in this dtype (e.g. ``torch.float64``).

        """
        if not self.is_linear:
            raise ValueError(
                f"a stack with activation={self.activation_name!r} is not linear: "
                "end_to_end()/collapse() need activation=None"
            )
        mats = self.matrices()
        w = mats[0] if dtype is None else mats[0].to(dtype)
        for m in mats[1:]:
            w = (m if dtype is None else m.to(dtype)) @ w
        b = self.bias if self.bias is not None else w.new_zeros(self.groups, self.out_features)
        return w, b.to(w.dtype)

    def collapse(self) -> nn.Linear | CollapsedLinear:
        """One linear layer equal to this stack (``nn.Linear`` when ``groups == 1``)."""
        w, b = self.end_to_end()
        if self.groups == 1:
            layer = nn.Linear(self.in_features, self.out_features, dtype=w.dtype,
                              device=w.device)
            with torch.no_grad():
                layer.weight.copy_(w[0])
                layer.bias.copy_(b[0])
            return layer
        return CollapsedLinear(w.detach().clone(), b.detach().clone())

    def num_parameters(self) -> int:
        """Return the number of trainable scalars."""
        return sum(p.numel() for p in self.parameters())


class CollapsedLinear(nn.Module):
    """Per-group affine map ``(..., G, in) -> (..., G, out)`` from :meth:`DeepLinear.collapse`."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the collapsed per-group map."""
        return torch.einsum("...gi,goi->...go", x, self.weight) + self.bias
