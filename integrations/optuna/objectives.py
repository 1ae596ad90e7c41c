"""Objectives: one callable per model kind, minimising the validation MSE of a trial.

Every objective returns the MSE over **every** validation window, step and channel on the
scaled data (the core's ``val_mse``); the test split is never read during tuning, only by
``evaluate(params)``, once, after it. Kinds:

- ``lightning`` (:mod:`.lightning_objective`): the core ``DLNForecaster`` + ``LTSFDataModule``.
- ``darts`` (:mod:`.darts_objective`): any darts torch forecasting model.
- ``pf`` (:mod:`.pf_objective`): a pytorch-forecasting model (NHiTS, DeepAR) through its own
  ``TimeSeriesDataSet``.
- ``linear`` (:mod:`.linear_objective`): closed-form ridge regression on instance-normalised
  windows, shared across channels (no epochs, nothing to prune).
- ``toy`` (:class:`ToyObjective`): ``(x - 1)^2 + (y + 2)^2`` reported over ``steps`` steps of
  ``sleep`` seconds, to exercise storages, workers and pruning without training anything.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from ._deps import optuna, require
from .config import TuneConfig

QUIET = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
         "enable_model_summary": False}
"""Trainer arguments of every trial: no logger, checkpoints, bars or summaries."""


def import_class(target: str, base: type, what: str) -> type:
    """Import ``module:Class`` and check that it subclasses ``base``.

    Raises:
        ValueError: the class does not exist, or it is not a ``what`` (named in the message).

    """
    module, _, name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except AttributeError:
        raise ValueError(f"{module} has no model {name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{target} is not a {what}")
    return cls


class Objective:
    """Base class: ``objective(trial) -> val MSE``; ``evaluate(params)`` after tuning.

    Args:
        cfg: the tuning run.

    """

    monitor = "val_mse"
    """The metric reported per epoch (what the pruner sees)."""

    def __init__(self, cfg: TuneConfig) -> None:
        self.cfg = cfg

    def __call__(self, trial: Any) -> float:
        """Sample the trial's parameters, train, return the validation MSE."""
        return self.run(self.cfg.space.sample(trial), trial)["val_mse"]

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Train with ``params``; return ``val_mse`` (and ``test_mse`` when ``test``)."""
        raise NotImplementedError

    def stopping_callbacks(self, pl: Any, trial: Any = None) -> list[Any]:
        """Return early stopping on ``monitor`` (with ``patience``) and pruning (with a trial).

        ``pl`` is the Lightning namespace the model trains with: ``lightning.pytorch``, or
        ``pytorch_lightning`` for darts.
        """
        callbacks: list[Any] = []
        if self.cfg.patience is not None:
            callbacks.append(pl.callbacks.EarlyStopping(self.monitor, patience=self.cfg.patience,
                                                        mode="min"))
        if trial is not None:
            pruning = require("optuna_integration")
            callbacks.append(pruning.PyTorchLightningPruningCallback(trial, self.monitor))
        return callbacks

    def evaluate(self, params: dict[str, Any]) -> dict[str, float]:
        """Refit with ``params`` (e.g. the best trial's) and score validation and test once."""
        return self.run(params, None, test=True)


class ToyObjective(Objective):
    """Analytic objective with intermediate reports (for storage and worker tests)."""

    monitor = "value"

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Report a decreasing curve over ``steps`` steps; prune when the pruner says so."""
        value = (params["x"] - 1.0) ** 2 + (params["y"] + 2.0) ** 2
        steps = int(params.get("steps", 5))
        for step in range(steps):
            time.sleep(float(params.get("sleep", 0.0)))
            if trial is not None:
                trial.report(value * (1.0 + (steps - 1 - step) / steps), step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at step {step}")
        return {"val_mse": value, **({"test_mse": value} if test else {})}


def build_objective(cfg: TuneConfig) -> Objective:
    """Build the objective of ``cfg.model``; loads data and resolves classes now.

    Raises:
        ValueError: the data or the model class cannot be found.
        ImportError: the model's library (darts, pytorch-forecasting) is missing.

    """
    kind = cfg.spec.kind
    if kind == "toy":
        return ToyObjective(cfg)
    if kind == "linear":
        from .linear_objective import LinearObjective

        return LinearObjective(cfg)
    if kind == "lightning":
        from .lightning_objective import LightningObjective

        return LightningObjective(cfg)
    if kind == "pf":
        from .pf_objective import PFObjective

        return PFObjective(cfg)
    from .darts_objective import DartsObjective

    return DartsObjective(cfg)
