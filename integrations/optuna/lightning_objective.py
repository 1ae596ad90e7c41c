"""The core Lightning path: ``DLNForecaster`` on ``LTSFDataModule``, scored by ``val_mse``.

A trial seeds everything with the run's seed, builds the data module and the model from the
sampled parameters in the order ``LightningCLI`` does, trains with the ``trainer`` budget and
returns the best epoch's ``val_mse`` (every validation window). Optuna's
``PyTorchLightningPruningCallback`` reports ``val_mse`` after each epoch. The exported
``lightning-dln fit`` YAML (:func:`.export.fit_config`) replays the same run and keeps the best
epoch with ``ModelCheckpoint``, so its validation MSE is the trial's. With ``patience`` in the
config, ``EarlyStopping`` on ``val_mse`` ends a trial (and the exported run) early.
"""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import lightning.pytorch as pl

from lightning_dln.models import DLNConfig
from lightning_dln.module import DLNForecaster

from ._deps import require
from ._series import data_module
from .config import TuneConfig
from .objectives import QUIET, Objective

NET_FIELDS = frozenset(f.name for f in dataclasses.fields(DLNConfig))
MODULE_FIELDS = frozenset(("quantiles", "loss", "optimizer", "lr", "weight_decay",
                           "optimizer_kwargs", "scheduler", "scheduler_kwargs"))


def split_params(params: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Split sampled values into ``(net, module, data)`` arguments of the core classes.

    ``scales`` may be a string ``"1,4,24"`` (categorical choices must be scalars);
    ``parametrization="flow"`` selects the ``flow`` optimizer (they go together).

    Raises:
        ValueError: a name that is neither a ``DLNConfig`` field, a ``DLNForecaster`` argument
            nor ``batch_size``.

    """
    net, module, data = {}, {}, {}
    for name, value in params.items():
        if name in NET_FIELDS:
            net[name] = value
        elif name in MODULE_FIELDS:
            module[name] = value
        elif name == "batch_size":
            data[name] = value
        else:
            raise ValueError(f"{name!r} is neither a DLNConfig field, a DLNForecaster argument "
                             f"nor batch_size; known: {sorted(NET_FIELDS | MODULE_FIELDS)}")
    if isinstance(net.get("scales"), str):
        net["scales"] = [int(s) for s in net["scales"].split(",")]
    elif isinstance(net.get("scales"), (tuple, list)):
        net["scales"] = [int(s) for s in net["scales"]]
    if net.get("parametrization") == "flow":
        module["optimizer"] = "flow"
    elif module.get("optimizer") == "flow":
        module["optimizer"] = "adam"
    return net, module, data


class _BestMetric(pl.Callback):
    """Remember the lowest value of ``monitor`` over validation epochs."""

    def __init__(self, monitor: str) -> None:
        self.monitor, self.best = monitor, float("inf")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and not trainer.sanity_checking:
            self.best = min(self.best, float(value))


class LightningObjective(Objective):
    """Tune ``DLNForecaster`` (see the module docstring).

    Args:
        cfg: the tuning run; ``cfg.trainer`` holds the per-trial Trainer arguments.

    Raises:
        ValueError: the dataset cannot be found (checked now, before any trial).

    """

    monitor = "val_mse"

    def __init__(self, cfg: TuneConfig) -> None:
        super().__init__(cfg)
        data_module(cfg.data)  # resolves the CSV now: a missing dataset fails before trial 0
        require("optuna_integration")  # missing pruning support fails now, not at trial 0

    def trainer_kwargs(self) -> dict[str, Any]:
        """Return the Trainer arguments of one trial (also written to the exported fit YAML)."""
        return {"deterministic": True, "num_sanity_val_steps": 0, **self.cfg.trainer}

    def build(self, params: dict[str, Any]) -> tuple[DLNForecaster, Any]:
        """Seed, then the data module and the model of ``params`` (LightningCLI's order)."""
        net, module, data = split_params(params)
        pl.seed_everything(self.cfg.seed, verbose=False)
        dm = data_module(self.cfg.data, **data)
        model = DLNForecaster(dm.lookback, dm.horizon, dm.n_channels, net=net, **module)
        return model, dm

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Train; the best epoch's ``val_mse`` (and ``test_mse`` of that epoch when ``test``)."""
        model, dm = self.build(params)
        best = _BestMetric("val_mse")
        callbacks: list[Any] = [best, *self.stopping_callbacks(pl, trial)]
        kwargs = {**self.trainer_kwargs(), **QUIET}
        with tempfile.TemporaryDirectory(prefix="dln_tune_") as ckpt_dir:
            if test:  # keep the best epoch, as the exported fit config does
                callbacks.append(pl.callbacks.ModelCheckpoint(
                    dirpath=ckpt_dir, monitor="val_mse", mode="min", save_top_k=1))
                kwargs["enable_checkpointing"] = True
            trainer = pl.Trainer(callbacks=callbacks, **kwargs)
            trainer.fit(model, datamodule=dm)
            out = {"val_mse": best.best, "epochs": trainer.current_epoch}
            if test:
                metrics = trainer.test(model, datamodule=dm, ckpt_path="best", verbose=False)[0]
                out["test_mse"], out["test_mae"] = metrics["test_mse"], metrics["test_mae"]
        return out
