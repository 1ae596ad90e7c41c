"""The deep linear forecaster (the research plan's ``DeepLinearTimeSeries``) and its collapse.

Pipeline, all linear in the normalised input::

    x (B, L, C) -> instance norm -> [temporal mixing L x L] -> multi-scale views (pool by s)
      -> one temporal deep-linear stack per view, L_s -> H*Q, summed -> [channel mixing C x C]
      -> + covariate terms -> inverse instance norm -> (B, H, C) or (B, H, C, Q)

Shape legend: ``B`` batch, ``L`` lookback, ``H`` horizon, ``C`` channels, ``Q`` outputs per step
(quantiles or likelihood parameters), ``G`` groups of the temporal map (1 shared, ``C`` per
channel), ``K = H * Q``.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from lightning_dln.models.config import DLNConfig
from lightning_dln.models.covariates import CovariateTerms
from lightning_dln.models.factors import DenseFactor, ResidualFactor, apply_grouped
from lightning_dln.models.norm import InstanceNorm
from lightning_dln.models.stack import DeepLinear


def pooling_matrix(lookback: int, scale: int) -> Tensor:
    """``(L // s, L)`` matrix averaging non-overlapping blocks of ``s`` steps, end-aligned."""
    for name, value in (("lookback", lookback), ("scale", scale)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if scale > lookback:
        raise ValueError(f"every scale must be <= lookback={lookback}, got {scale}")
    n = lookback // scale
    pool = torch.zeros(n, lookback)
    offset = lookback - n * scale  # drop the oldest steps so the last block ends at t = L
    for i in range(n):
        pool[i, offset + i * scale: offset + (i + 1) * scale] = 1.0 / scale
    return pool


class _LinearForecaster(nn.Module):
    """What the deep and the collapsed forecasters share: norm, channel mixing, covariates."""

    def __init__(self, lookback: int, horizon: int, n_channels: int, n_outputs: int | None,
                 norm: InstanceNorm, covariates: CovariateTerms) -> None:
        super().__init__()
        for name, value in (("lookback", lookback), ("horizon", horizon),
                            ("n_channels", n_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if n_outputs is not None and (not isinstance(n_outputs, int) or n_outputs < 1):
            raise ValueError(f"n_outputs must be None or an integer >= 1, got {n_outputs!r}")
        self.lookback, self.horizon, self.n_channels = lookback, horizon, n_channels
        self.n_outputs = n_outputs
        self.q = n_outputs or 1
        self.norm = norm
        self.covariates = covariates

    def temporal(self, z: Tensor) -> Tensor:
        """Apply the temporal map ``(B, C, L) -> (B, C, K)`` in normalised space."""
        raise NotImplementedError

    def channel_mix(self, y: Tensor) -> Tensor:
        """Mix channels ``(B, C, K) -> (B, C, K)`` (identity by default)."""
        return y

    def core(self, z: Tensor, past_covariates: Tensor | None = None,
             future_covariates: Tensor | None = None,
             static_covariates: Tensor | None = None) -> Tensor:
        """Apply the normalised-space affine map with covariates ``(B, C, L) -> (B, C, K)``."""
        y = self.channel_mix(self.temporal(z))  # (B, C, K)
        cov = self.covariates(z.shape[0], past_covariates, future_covariates, static_covariates)
        if cov is not None:  # (B, H, Q, C) -> (B, C, K)
            y = y + cov.permute(0, 3, 1, 2).reshape(y.shape)
        return y

    def forward(self, x: Tensor, past_covariates: Tensor | None = None,
                future_covariates: Tensor | None = None,
                static_covariates: Tensor | None = None) -> Tensor:
        """Forecast ``(B, L, C) -> (B, H, C)``, or ``(B, H, C, Q)`` when ``n_outputs`` is set."""
        self.check_input(x)
        z, stats = self.norm.normalize(x)  # (B, C, L)
        y = self.norm.denormalize(
            self.core(z, past_covariates, future_covariates, static_covariates), stats)
        return self._to_output(y)

    def _to_output(self, y: Tensor) -> Tensor:
        """Lay a ``(B, C, K)`` forecast out as ``(B, H, C)`` or ``(B, H, C, Q)``."""
        y = y.view(y.shape[0], self.n_channels, self.horizon, self.q)  # (B, C, H, Q)
        y = y.permute(0, 2, 1, 3).contiguous()  # (B, H, C, Q)
        return y if self.n_outputs is not None else y.squeeze(-1)

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a floating ``(B, L, C)`` batch of this model."""
        if not isinstance(x, Tensor) or x.dim() != 3 or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a floating tensor (batch, lookback, channels), got {got}")
        if x.shape[1] != self.lookback:
            raise ValueError(f"x has lookback {x.shape[1]}, the model expects {self.lookback}")
        if x.shape[2] != self.n_channels:
            raise ValueError(
                f"x has {x.shape[2]} channels, the model was built for n_channels={self.n_channels}"
            )

    @torch.no_grad()
    def linear_operator(self) -> tuple[Tensor, Tensor]:
        """Return the full operator of the normalised-space map (covariates excluded).

        Returns:
            ``A (H*C*Q, L*C)`` and ``b (H*C*Q,)`` with outputs flattened ``(H, C, Q)`` row-major
            and inputs ``(L, C)`` row-major: ``forecast_norm.flatten() = A z.flatten() + b``
            for a normalised window ``z (L, C)``.

        """
        n = self.lookback * self.n_channels
        p = next(self.parameters())
        basis = torch.eye(n, dtype=p.dtype, device=p.device).view(n, self.lookback,
                                                                   self.n_channels)
        outputs = self.channel_mix(self.temporal(torch.cat([basis.new_zeros(1, *basis.shape[1:]),
                                                             basis]).transpose(1, 2)))
        outputs = outputs.view(n + 1, self.n_channels, self.horizon, self.q)
        outputs = outputs.permute(0, 2, 1, 3).reshape(n + 1, -1)  # (n + 1, H*C*Q)
        bias = outputs[0]
        return (outputs[1:] - bias).T.contiguous(), bias


class DeepLinearTimeSeries(_LinearForecaster):
    """Deep linear forecaster: ``(B, L, C)`` -> ``(B, H, C)`` or ``(B, H, C, Q)``.

    Args:
        lookback: input window ``L``.
        horizon: forecast steps ``H``.
        n_channels: target channels ``C``.
        config: architecture (:class:`DLNConfig`, a dict of its fields, or ``None``).
        n_outputs: ``None`` for point forecasts, else ``Q`` outputs per step (quantiles or
            likelihood parameters), adding a last axis.
        n_past_covariates: past covariate channels, input ``(B, L, P)``.
        n_future_covariates: future covariate channels, input ``(B, H, F)``.
        n_static_covariates: static covariates, input ``(B, S)``.

    """

    def __init__(self, lookback: int, horizon: int, n_channels: int,
                 config: DLNConfig | dict | None = None, n_outputs: int | None = None,
                 n_past_covariates: int = 0, n_future_covariates: int = 0,
                 n_static_covariates: int = 0) -> None:
        cfg = DLNConfig.coerce(config)
        q = n_outputs or 1
        super().__init__(
            lookback, horizon, n_channels, n_outputs,
            InstanceNorm(n_channels, cfg.instance_norm, cfg.affine_norm),
            CovariateTerms(lookback, horizon, n_channels, q, n_past_covariates,
                           n_future_covariates, n_static_covariates),
        )
        self.config = cfg
        groups = n_channels if cfg.channels == "per_channel" else 1
        k = horizon * q
        width = cfg.width if cfg.width is not None else max(lookback, k)
        self.temporal_mixer = ResidualFactor(DenseFactor(lookback, lookback)) \
            if cfg.temporal_mixing else None
        if self.temporal_mixer is not None:
            nn.init.zeros_(self.temporal_mixer.inner.weight)  # starts as the identity
        for s in cfg.scales:
            self.register_buffer(f"pool_{s}", pooling_matrix(lookback, s), persistent=False)
        self.stacks = nn.ModuleList(
            DeepLinear(lookback // s, k, depth=cfg.stack_depth, width=width, factor=cfg.factor,
                       rank=cfg.rank, residual=cfg.residual, init=cfg.init,
                       init_scale=cfg.init_scale, activation=cfg.activation, groups=groups,
                       bias=cfg.bias)
            for s in cfg.scales
        )
        self.channel_mixer = DeepLinear(
            n_channels, n_channels, depth=cfg.channel_depth, residual=True,
            init="identity_residual", bias=cfg.bias) if cfg.channel_mixing else None

    @property
    def is_linear(self) -> bool:
        """Whether the normalised-space map is affine (no activation control)."""
        return self.config.activation is None

    def pools(self) -> list[Tensor]:
        """Return the multi-scale pooling matrices ``(L_s, L)``, one per scale."""
        return [getattr(self, f"pool_{s}") for s in self.config.scales]

    def temporal(self, z: Tensor) -> Tensor:
        """Apply the optional time mixing, then every scale's stack, summed."""
        if self.temporal_mixer is not None:
            z = self.temporal_mixer(z)  # (B, C, L): data-independent mixing of time positions
        out = None
        for scale, pool, stack in zip(self.config.scales, self.pools(), self.stacks, strict=True):
            y = stack(z if scale == 1 else z @ pool.T)  # (B, C, L_s) -> (B, C, K)
            out = y if out is None else out + y
        return out

    def channel_mix(self, y: Tensor) -> Tensor:
        """Mix channels with the channel stack (identity without one)."""
        if self.channel_mixer is None:
            return y
        return self.channel_mixer(y.transpose(1, 2)).transpose(1, 2)  # mix C: (B, K, C)

    def temporal_end_to_end(self, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """Return the exact temporal map ``W (G, K, L)`` and bias ``(G, K)``, views summed."""
        weight, bias = None, None
        for pool, stack in zip(self.pools(), self.stacks, strict=True):
            w, b = stack.end_to_end(dtype)
            w = w @ pool.to(w.dtype)  # (G, K, L_s) @ (L_s, L)
            weight = w if weight is None else weight + w
            bias = b if bias is None else bias + b
        if self.temporal_mixer is not None:
            weight = weight @ self.temporal_mixer.matrix().to(weight.dtype)
        return weight, bias

    def collapse(self, dtype: torch.dtype | None = None) -> CollapsedForecaster:
        """One affine map with exactly this forward (to float tolerance), whatever the depth.

        Args:
            dtype: accumulate the product of the factors in this dtype (result keeps it).

        """
        if dtype is not None and (not isinstance(dtype, torch.dtype)
                                  or not dtype.is_floating_point):
            raise ValueError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
        if not self.is_linear:
            raise ValueError(f"activation={self.config.activation!r}: the nonlinear control "
                             "does not collapse to one linear map")
        with torch.no_grad():
            weight, bias = self.temporal_end_to_end(dtype)
            channel = None
            if self.channel_mixer is not None:
                cw, cb = self.channel_mixer.end_to_end(weight.dtype)
                channel = (cw[0], cb[0])
        out = CollapsedForecaster(
            self.lookback, self.horizon, self.n_channels, self.n_outputs, weight.clone(),
            bias.clone(), copy.deepcopy(self.norm), copy.deepcopy(self.covariates), channel)
        return out.to(weight.dtype)


class CollapsedForecaster(_LinearForecaster):
    """A forecaster whose temporal map is one matrix: inference costs one product at any depth.

    Args:
        weight: ``(G, K, L)`` temporal map. bias: ``(G, K)``.
        norm, covariates: copied from the deep model.
        channel: optional ``(C x C weight, C bias)`` channel-mixing map.

    """

    def __init__(self, lookback: int, horizon: int, n_channels: int, n_outputs: int | None,
                 weight: Tensor, bias: Tensor, norm: InstanceNorm, covariates: CovariateTerms,
                 channel: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__(lookback, horizon, n_channels, n_outputs, norm, covariates)
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)
        if channel is None:
            self.channel_weight, self.channel_bias = None, None
        else:
            self.channel_weight = nn.Parameter(channel[0].clone())
            self.channel_bias = nn.Parameter(channel[1].clone())

    def forward(self, x: Tensor, past_covariates: Tensor | None = None,
                future_covariates: Tensor | None = None,
                static_covariates: Tensor | None = None) -> Tensor:
        """Forecast ``(B, L, C) -> (B, H, C)`` (or ``(B, H, C, Q)``), as the deep model does."""
        covariates = (past_covariates, future_covariates, static_covariates)
        plain = (self.channel_weight is None and self.norm.weight is None
                 and all(c is None for c in covariates) and not self.covariates.active)
        if not plain:
            return super().forward(x, *covariates)
        # Fast path, same map: with centred = x - loc and z = centred / scale,
        # scale * (W z + b) + loc = W centred + scale * b + loc, so no pass divides the input.
        self.check_input(x)
        centred, loc, scale = self.norm.center(x)  # (B, C, L), (B, C, 1), (B, C, 1)
        y = self.temporal(centred) if scale is None else \
            apply_grouped(centred, self.weight) + scale * self.bias  # (B, C, K)
        return self._to_output(y if loc is None else y + loc)

    def temporal(self, z: Tensor) -> Tensor:
        """Apply the one temporal matrix and bias ``(B, C, L) -> (B, C, K)``."""
        if self.weight.shape[0] == 1:
            return torch.nn.functional.linear(z, self.weight[0], self.bias[0])
        return apply_grouped(z, self.weight) + self.bias  # (B, C, L) -> (B, C, K)

    def channel_mix(self, y: Tensor) -> Tensor:
        """Apply the collapsed channel map (identity without one)."""
        if self.channel_weight is None:
            return y
        # (B, C, K): y'[c'] = sum_c M[c', c] y[c] + b[c']
        return torch.einsum("dc,bck->bdk", self.channel_weight, y) + self.channel_bias[:, None]
