"""The architecture of a deep linear forecaster: one typed config, validated once.

Every adapter (LightningModule, Darts, pytorch-forecasting, Optuna spaces) builds the core model
from this dataclass, so the list of options and their checks live here only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from lightning_dln.models.factors import FACTOR_KINDS
from lightning_dln.models.init import INITS
from lightning_dln.models.norm import NORMS
from lightning_dln.models.stack import ACTIVATIONS

CHANNEL_MODES = ("shared", "per_channel")
PARAMETRIZATIONS = ("explicit", "flow")


@dataclass(frozen=True)
class DLNConfig:
    """Architecture of :class:`~lightning_dln.models.DeepLinearTimeSeries`.

    Attributes:
        depth: number of stacked linear factors of the temporal map (1 = one linear layer).
            With ``parametrization='flow'`` it is the depth ``N`` of the simulated flow and may
            be the string ``"inf"``.
        width: hidden width of the temporal stack (``None``: ``max(lookback, horizon * Q)``).
        factor: structure of each factor: ``dense``, ``lowrank`` or ``diagonal``.
        rank: rank of ``lowrank`` factors.
        residual: residual form ``I + A_j`` for the square hidden factors.
        init: ``balanced``, ``orthogonal``, ``identity_residual`` or ``small``.
        init_scale: spectral scale of the end-to-end temporal map at initialisation.
        activation: ``None`` for a deep *linear* net; a name (``relu``, ``gelu``, ``tanh``,
            ``leaky_relu``, ``silu``) turns the same stack into the nonlinear control.
        channels: ``shared`` temporal map for all channels, or ``per_channel`` maps (vectorised).
        scales: multi-scale views: average-pool the lookback by each factor and sum one
            temporal stack per view (``(1,)`` = the raw lookback only).
        temporal_mixing: a learned, input-independent ``L x L`` mixing of time positions
            (residual form, starts at the identity) before the temporal stacks.
        channel_mixing: a deep linear ``C x C`` channel-mixing stack after the temporal map.
        channel_depth: depth of the channel-mixing stack.
        instance_norm: ``revin`` (mean/std), ``last`` (NLinear last value) or ``none``.
        affine_norm: learned per-channel affine map inside RevIN.
        bias: learn output biases.
        parametrization: ``explicit`` factors trained by autograd, or ``flow``: one end-to-end
            matrix trained by the closed-form depth-``N`` flow (see ``lightning_dln.theory``).

    """

    depth: int | str = 4
    width: int | None = None
    factor: Literal["dense", "lowrank", "diagonal"] = "dense"
    rank: int | None = None
    residual: bool = False
    init: Literal["balanced", "orthogonal", "identity_residual", "small"] = "balanced"
    init_scale: float = 0.1
    activation: Literal["relu", "gelu", "tanh", "leaky_relu", "silu"] | None = None
    channels: Literal["shared", "per_channel"] = "shared"
    scales: tuple[int, ...] = (1,)
    temporal_mixing: bool = False
    channel_mixing: bool = False
    channel_depth: int = 1
    instance_norm: Literal["revin", "last", "none"] = "revin"
    affine_norm: bool = False
    bias: bool = True
    parametrization: Literal["explicit", "flow"] = "explicit"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", tuple(self.scales))
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"parametrization must be one of {PARAMETRIZATIONS}, got {self.parametrization!r}"
            )
        if self.depth == "inf" and self.parametrization == "flow":
            pass
        elif not _is_int_at_least(self.depth, 1):
            allowed = "an integer >= 1" + (" or 'inf'" if self.parametrization == "flow" else "")
            raise ValueError(f"depth must be {allowed}, got {self.depth!r}")
        if self.width is not None and not _is_int_at_least(self.width, 1):
            raise ValueError(f"width must be None or an integer >= 1, got {self.width!r}")
        _check_choice("factor", self.factor, FACTOR_KINDS)
        if self.factor == "lowrank" and not _is_int_at_least(self.rank, 1):
            raise ValueError(
                f"factor='lowrank' needs rank to be an integer >= 1, got {self.rank!r}")
        if self.rank is not None and not _is_int_at_least(self.rank, 1):
            raise ValueError(f"rank must be None or an integer >= 1, got {self.rank!r}")
        _check_choice("init", self.init, INITS)
        if not (isinstance(self.init_scale, (int, float)) and math.isfinite(self.init_scale)
                and self.init_scale > 0):
            raise ValueError(f"init_scale must be a finite number > 0, got {self.init_scale!r}")
        if self.activation is not None:
            _check_choice("activation", self.activation, ACTIVATIONS)
            if self.parametrization == "flow":
                raise ValueError("parametrization='flow' needs activation=None (a linear map)")
        _check_choice("channels", self.channels, CHANNEL_MODES)
        if not self.scales or not all(_is_int_at_least(s, 1) for s in self.scales):
            raise ValueError(
                f"scales must be a non-empty list of integers >= 1, got {self.scales!r}")
        if len(set(self.scales)) != len(self.scales):
            raise ValueError(f"scales must not repeat, got {self.scales!r}")
        if not _is_int_at_least(self.channel_depth, 1):
            raise ValueError(f"channel_depth must be an integer >= 1, got {self.channel_depth!r}")
        _check_choice("instance_norm", self.instance_norm, NORMS)
        if self.affine_norm and self.instance_norm != "revin":
            raise ValueError("affine_norm=True needs instance_norm='revin'")

    @property
    def flow_depth(self) -> float:
        """The depth ``N`` as a number (``math.inf`` for ``"inf"``)."""
        return math.inf if self.depth == "inf" else float(self.depth)

    @property
    def stack_depth(self) -> int:
        """Number of explicit factors actually built (1 for the flow parametrisation)."""
        return 1 if self.parametrization == "flow" else int(self.depth)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict (safe for checkpoints and YAML)."""
        out = dataclasses.asdict(self)
        out["scales"] = list(self.scales)
        return out

    @classmethod
    def coerce(cls, value: DLNConfig | dict[str, Any] | None) -> DLNConfig:
        """Accept a config, a dict of its fields, or ``None`` (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ValueError(f"unknown DLN options {sorted(unknown)}; allowed: "
                                 f"{[f.name for f in dataclasses.fields(cls)]}")
            return cls(**value)
        raise ValueError(f"config must be a DLNConfig, a dict or None, got {type(value).__name__}")


def _is_int_at_least(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
