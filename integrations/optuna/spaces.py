"""Search spaces as code: one :class:`SearchSpace` per model, overridable from YAML.

A space maps hyperparameter names to :class:`Param` (``int``, ``float`` or ``categorical``, with
an optional condition on an earlier parameter) and holds the values fixed for every trial. The
default spaces of the built-in models live in :mod:`.registry`; a tuning YAML edits them with
:meth:`SearchSpace.override` (see ``configs/tune/*.yaml``). This module does not import Optuna:
:meth:`SearchSpace.sample` only calls the ``suggest_*`` methods of the trial it is given.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

KINDS = ("int", "float", "categorical")
_PRIMITIVE = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter.

    Attributes:
        kind: ``int``, ``float`` or ``categorical``.
        low: lower end of the range (inclusive), for ``int`` and ``float``.
        high: upper end of the range (inclusive), for ``int`` and ``float``.
        log: sample uniformly in ``log`` space (needs ``low > 0``).
        step: grid step of the range (``int`` default 1; ``None``: continuous ``float``).
        choices: the options of a ``categorical`` (``None``, bool, int, float or str).
        when: ``(name, values)``: sample this parameter only when the earlier parameter ``name``
            took one of ``values`` (e.g. ``rank`` only for ``factor == "lowrank"``).

    Raises:
        ValueError: unknown kind, a missing, empty or inverted range, ``log`` with ``low <= 0``,
            no choices, or a non-primitive choice.

    """

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[str, tuple[Any, ...]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.when is not None:
            if not (isinstance(self.when, (tuple, list)) and len(self.when) == 2
                    and isinstance(self.when[0], str)
                    and isinstance(self.when[1], (tuple, list)) and self.when[1]):
                raise ValueError(f"when must be None or (parameter name, non-empty tuple of "
                                 f"values), got {self.when!r}")
            name, values = self.when
            object.__setattr__(self, "when", (name, tuple(values)))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "categorical":
            if any(getattr(self, k) not in (None, False) for k in ("low", "high", "log", "step")):
                raise ValueError("low, high, log and step do not apply to a categorical")
            if not self.choices:
                raise ValueError("a categorical parameter needs at least one choice, got none")
            bad = [c for c in self.choices if not isinstance(c, _PRIMITIVE)]
            if bad:
                raise ValueError(f"choices must be None, bool, int, float or str, got {bad!r}")
            return
        if self.choices:
            raise ValueError(f"choices do not apply to a {self.kind} parameter (use low/high)")
        for end in ("low", "high"):
            value = getattr(self, end)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value):
                raise ValueError(f"a {self.kind} parameter needs a finite number {end}, "
                                 f"got {value!r}")
        if self.kind == "int" and not (float(self.low).is_integer()
                                       and float(self.high).is_integer()):
            raise ValueError(f"an int range needs integer ends, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"inverted range: low={self.low} > high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.step is not None and (self.step <= 0 or self.log):
            raise ValueError(f"step must be > 0 and cannot go with log=True, got {self.step}")

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw this parameter from an Optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log,
                                   step=self.step)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields that differ from the defaults (for logs and YAML)."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self)[1:]:
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters of one model (in sampling order) and the fixed values.

    Attributes:
        params: name -> :class:`Param`; a condition may only name an earlier parameter.
        fixed: name -> value used by every trial (not searched).

    """

    params: dict[str, Param] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name, param in self.params.items():
            if not isinstance(param, Param):
                raise ValueError(f"parameter {name!r} must be a Param, got {param!r}")
            if param.when is not None and param.when[0] not in seen | set(self.fixed):
                raise ValueError(f"parameter {name!r} depends on {param.when[0]!r}, which is "
                                 "neither an earlier parameter nor fixed")
            seen.add(name)
        both = seen & set(self.fixed)
        if both:
            raise ValueError(f"parameters {sorted(both)} are both searched and fixed")

    def sample(self, trial: Any) -> dict[str, Any]:
        """Suggest every active parameter from ``trial``; returns fixed values + suggestions."""
        values = dict(self.fixed)
        for name, param in self.params.items():
            if param.when is not None and values.get(param.when[0]) not in param.when[1]:
                continue
            values[name] = param.suggest(trial, name)
        return values

    def override(self, overrides: dict[str, Any] | None) -> SearchSpace:
        """Return a copy with YAML overrides applied.

        Each entry of ``overrides`` is one of:

        - a mapping with ``kind``: a new or replaced parameter (``{kind: float, low: 0.1,
          high: 1.0, log: true}``);
        - a mapping without ``kind``: an edit of an existing parameter (``{high: 64}``,
          ``{choices: [dense, lowrank]}``);
        - ``null``: drop the parameter (the model default applies);
        - any other value (scalar or list): fix the parameter to it.

        Raises:
            ValueError: an edit of an unknown parameter, unknown fields, or an invalid result.

        """
        params, fixed = dict(self.params), dict(self.fixed)
        allowed = {f.name for f in dataclasses.fields(Param)}
        for name, spec in (overrides or {}).items():
            fixed.pop(name, None)
            if not isinstance(spec, dict):
                params.pop(name, None)
                if spec is not None:
                    fixed[name] = spec
                continue
            unknown = set(spec) - allowed
            if unknown:
                raise ValueError(f"space.{name}: unknown fields {sorted(unknown)}; "
                                 f"allowed: {sorted(allowed)}")
            if "kind" in spec:
                params[name] = _param(name, spec)
            elif name in params:
                merged = {**dataclasses.asdict(params[name]), **spec}
                params[name] = _param(name, merged)
            else:
                raise ValueError(f"space.{name}: not a parameter of this space (known: "
                                 f"{sorted(params)}); give its 'kind' to add it")
        return SearchSpace(params, fixed)

    def describe(self) -> dict[str, Any]:
        """Plain description: ``{"params": {...}, "fixed": {...}}``."""
        return {"params": {k: p.to_dict() for k, p in self.params.items()},
                "fixed": dict(self.fixed)}


def _param(name: str, spec: dict[str, Any]) -> Param:
    spec = dict(spec)
    if spec.get("when") is not None:
        when = spec["when"]
        if isinstance(when, dict) and len(when) == 1:
            ((key, values),) = when.items()
            when = (key, values if isinstance(values, (list, tuple)) else [values])
        spec["when"] = when
    try:
        return Param(**spec)
    except (TypeError, ValueError) as err:
        raise ValueError(f"space.{name}: {err}") from None
