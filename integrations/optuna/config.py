"""A tuning run as one validated :class:`TuneConfig`, read from ``configs/tune/*.yaml``.

YAML layout (every section optional except ``model``)::

    model: dln                      # registry name (see .registry) or darts:<ClassName>
    seed: 2024                      # seeds every trial and the sampler
    study: {name: etth1_dln, n_trials: 20, timeout: null, storage: null,
            sampler: {name: tpe, n_startup_trials: 5},       # tpe | random
            pruner: {name: median, n_startup_trials: 5, n_warmup_steps: 0},  # | hyperband | none
            heartbeat_interval: 30, grace_period: null, max_retry: 2}
    data: {dataset: ETTh1, path: null, lookback: 336, horizon: 96}
    trainer: {max_epochs: 3, limit_train_batches: 100}      # the budget of one trial
    patience: null                  # early stopping on the validation metric (epochs); the
                                    # trial's value and every refit use the best epoch anyway
    space: {depth: {high: 256}, residual: false}             # see SearchSpace.override
    fixed: {}                       # constructor arguments fixed for every trial
    output_dir: null                # default outputs/tune/<study name>
    quick: {...}                    # merged over the above with --quick
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .registry import ModelSpec, model_spec
from .spaces import SearchSpace

_TOP = {"model", "seed", "study", "data", "trainer", "patience", "space", "fixed", "output_dir",
        "quick"}
_STUDY = {"name", "n_trials", "timeout", "storage", "sampler", "pruner", "heartbeat_interval",
          "grace_period", "max_retry"}
_DATA = {"dataset", "path", "lookback", "horizon", "target", "eval_batch_size"}


@dataclass
class TuneConfig:
    """Everything a tuning run needs; built by :meth:`from_dict` / :meth:`from_yaml`.

    Attributes:
        model: registry name of the tuned model.
        spec: its :class:`~.registry.ModelSpec`.
        space: the search space after the YAML overrides and ``fixed`` values.
        study_name: Optuna study name.
        n_trials: target number of finished (complete or pruned) trials in the study.
        timeout: stop this worker after this many seconds (``None``: no limit).
        storage: storage URL (``None``: ``sqlite:///<output_dir>/<study>.db``).
        sampler: ``{"name": "tpe"|"random", ...kwargs}``.
        pruner: ``{"name": "median"|"hyperband"|"none", ...kwargs}``.
        data: data arguments (``dataset``, ``path``, ``lookback``, ``horizon``, ...).
        trainer: Trainer arguments of one trial (its budget).
        patience: stop a trial after this many epochs without a lower validation metric
            (``None``: train every epoch of ``trainer``); the best epoch counts either way.
        seed: seed of every trial and of the sampler.
        heartbeat_interval: seconds between heartbeats of a running trial (RDB storages).
        grace_period: seconds without heartbeat after which a trial is failed and retried.
        max_retry: retries of a failed (stale) trial.
        output_dir: where the database (default), best config and plots go.

    """

    model: str
    spec: ModelSpec
    space: SearchSpace
    study_name: str
    n_trials: int = 20
    timeout: float | None = None
    storage: str | None = None
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    data: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    patience: int | None = None
    seed: int = 2024
    heartbeat_interval: int = 30
    grace_period: int | None = None
    max_retry: int = 2
    output_dir: str = ""

    def __post_init__(self) -> None:
        # The same defaults as from_dict, so a TuneConfig built directly is as complete and
        # as validated as one read from YAML (a bad value fails here, not in trial 1).
        self.data = {"dataset": "ETTh1", "lookback": 336, "horizon": 96, **self.data}
        self.validate()

    @property
    def storage_url(self) -> str:
        """The storage URL, defaulting to an SQLite file in ``output_dir``."""
        return self.storage or f"sqlite:///{Path(self.output_dir) / (self.study_name + '.db')}"

    @classmethod
    def from_yaml(cls, path: str | Path, quick: bool = False, **overrides: Any) -> TuneConfig:
        """Read a tuning YAML; ``overrides`` (``n_trials``, ``storage``, ...) win over it."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"tuning config {str(path)!r} does not exist")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: the YAML must be a mapping, got {type(raw).__name__}")
        raw.setdefault("study", {}).setdefault("name", path.stem)
        return cls.from_dict(raw, quick=quick, **overrides)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], quick: bool = False, **overrides: Any) -> TuneConfig:
        """Validate a config mapping (the YAML's content); see the module docstring.

        Raises:
            ValueError: unknown sections or keys, an unknown model, an invalid space or budget.

        """
        raw = copy.deepcopy(raw)
        _keys("config", raw, _TOP)
        if quick:
            raw = _merge(raw, raw.get("quick") or {})
        raw.pop("quick", None)
        if "model" not in raw:
            raise ValueError(f"the config needs a 'model' (one of the registry names), got "
                             f"{sorted(raw)}")
        spec = model_spec(raw["model"])
        study = dict(raw.get("study") or {})
        _keys("study", study, _STUDY)
        study.update({k: v for k, v in overrides.items() if v is not None})
        data = {"dataset": "ETTh1", "lookback": 336, "horizon": 96, **(raw.get("data") or {})}
        _keys("data", data, _DATA)
        space = spec.space().override(raw.get("space"))
        space = SearchSpace(space.params, {**dict(spec.fixed), **space.fixed,
                                           **(raw.get("fixed") or {})})
        name = str(study.get("name") or f"{raw['model']}_{data['dataset']}")
        cfg = cls(
            model=raw["model"], spec=spec, space=space, study_name=name,
            n_trials=study.get("n_trials", 20), timeout=study.get("timeout"),
            storage=study.get("storage"),
            sampler={"name": "tpe", **(study.get("sampler") or {})},
            pruner={"name": "median", **(study.get("pruner") or {})},
            data=data, trainer=dict(raw.get("trainer") or {}), patience=raw.get("patience"),
            seed=int(raw.get("seed", 2024)),
            heartbeat_interval=study.get("heartbeat_interval", 30),
            grace_period=study.get("grace_period"), max_retry=study.get("max_retry", 2),
            output_dir=str(raw.get("output_dir") or Path("outputs") / "tune" / name))
        return cfg  # validated by __post_init__

    def validate(self) -> None:
        """Check the budget and study settings (the space validated itself).

        Raises:
            ValueError: on the first invalid value.

        """
        if not isinstance(self.study_name, str) or not self.study_name:
            raise ValueError(f"study_name must be a non-empty string, got {self.study_name!r}")
        for name in ("sampler", "pruner"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"study.{name} must be a mapping with a 'name', "
                                 f"got {getattr(self, name)!r}")
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int) or \
                self.n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1, got {self.n_trials!r}")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float))
                                             and math.isfinite(self.timeout)
                                             and self.timeout > 0):
            raise ValueError(f"timeout must be None or a number of seconds > 0, "
                             f"got {self.timeout!r}")
        if self.patience is not None and (isinstance(self.patience, bool) or
                                          not isinstance(self.patience, int) or
                                          self.patience < 1):
            raise ValueError(f"patience must be None or an integer >= 1 (epochs), "
                             f"got {self.patience!r}")
        for name in ("heartbeat_interval", "max_retry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or \
                    (name == "heartbeat_interval" and value < 1):
                raise ValueError(f"study.{name} must be a non-negative integer "
                                 f"(interval >= 1), got {value!r}")
        if self.grace_period is not None and not (isinstance(self.grace_period, int)
                                                  and self.grace_period > self.heartbeat_interval):
            raise ValueError(f"study.grace_period must be an integer > heartbeat_interval="
                             f"{self.heartbeat_interval}, got {self.grace_period!r}")
        for key in ("lookback", "horizon"):
            value = self.data[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{key} must be an integer >= 1, got {value!r}")
        if self.sampler.get("name") not in ("tpe", "random"):
            raise ValueError(f"study.sampler.name must be 'tpe' or 'random', "
                             f"got {self.sampler.get('name')!r}")
        if self.pruner.get("name") not in ("median", "hyperband", "none"):
            raise ValueError(f"study.pruner.name must be 'median', 'hyperband' or 'none', "
                             f"got {self.pruner.get('name')!r}")


def _keys(where: str, mapping: Any, allowed: set[str]) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = set(mapping) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "space":
            out[key] = _merge(out[key], value)
        elif key == "space" and isinstance(value, dict):
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = value
    return out
