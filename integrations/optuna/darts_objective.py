"""Any darts torch forecasting model on the LTSF splits, scored like the core.

Series are the scaled rows of :mod:`._series` (darts gets a plain integer time index): darts
trains on rows ``[0, train_end)`` and computes its per-epoch ``val_loss`` on the validation rows
``[train_end - L, val_end)``; that loss is what the pruner sees. The trial's value is exact and
the core's: ``historical_forecasts(start=train_end, forecast_horizon=H, stride=1,
retrain=False)`` on rows ``[0, val_end)`` forecasts every validation window once, and the MSE is
taken over every window, step and channel. ``evaluate`` does the same for the test rows.
Both score the weights of the epoch with the lowest ``val_loss`` (kept in memory and restored
after ``fit``), as the core objective scores its best epoch: a darts model that overfits after
its first epoch is judged, like a DLN, by its best epoch and not its last. With ``patience`` in
the config, ``EarlyStopping`` on ``val_loss`` ends the trial early.

The pruning callback goes to a ``pytorch_lightning.Trainer`` passed to ``fit(trainer=...)``,
never to ``pl_trainer_kwargs`` (darts pickles those into the model and its safe loading then
rejects the callback).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._deps import require
from ._series import ltsf_arrays
from .config import TuneConfig
from .objectives import QUIET, Objective, import_class


def resolve_model_class(target: str) -> type:
    """Import ``module:Class`` and check it is a darts ``TorchForecastingModel``.

    Raises:
        ImportError: darts (or the darts adapter) is not installed.
        ValueError: the class does not exist or is not a darts torch model.

    """
    require("darts")
    from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel

    return import_class(target, TorchForecastingModel, "darts TorchForecastingModel (the darts "
                        "objective trains torch models through Lightning)")


def keep_best_weights(pl: Any, monitor: str) -> Any:
    """Build a ``pl.Callback`` that keeps (in memory) the state dict of the best epoch.

    Built per call because the darts objective uses the ``pytorch_lightning`` namespace darts
    trains with, not ``lightning.pytorch``.
    """

    class KeepBestWeights(pl.Callback):
        def __init__(self) -> None:
            self.best, self.state = float("inf"), None

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            value = trainer.callback_metrics.get(monitor)
            if trainer.sanity_checking or value is None or not float(value) < self.best:
                return
            self.best = float(value)
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    return KeepBestWeights()


class DartsObjective(Objective):
    """Tune a darts torch model (see the module docstring).

    Args:
        cfg: the tuning run; ``cfg.trainer`` holds the per-trial ``pytorch_lightning.Trainer``
            arguments (``max_epochs``, ``limit_train_batches``, ``accelerator``, ...).

    Raises:
        ImportError: darts or pytorch_lightning is missing.
        ValueError: unknown model class or missing data (checked now, before any trial).

    """

    monitor = "val_loss"

    def __init__(self, cfg: TuneConfig) -> None:
        super().__init__(cfg)
        self.cls = resolve_model_class(cfg.spec.target)
        self.pl = require("pytorch_lightning")
        require("optuna_integration")  # missing pruning support fails now, not at trial 0
        from darts import TimeSeries

        self.arrays = ltsf_arrays(cfg.data)
        self.series = TimeSeries.from_values(self.arrays.values,
                                             columns=list(self.arrays.channels))

    def model_kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        """Build the constructor arguments: windows, sampled/fixed values, seed, quiet predict.

        ``lr`` and ``weight_decay`` go into ``optimizer_kwargs``; a string ``scales`` becomes
        a tuple and ``parametrization="flow"`` selects the ``DepthFlow`` optimizer
        (``DeepLinearModel``).
        """
        a = self.arrays
        kw = {**self.cfg.spec.windows(a.lookback, a.horizon), **params}
        opt = dict(kw.pop("optimizer_kwargs", None) or {})
        for key in ("lr", "weight_decay"):
            if key in kw:
                opt[key] = kw.pop(key)
        if isinstance(kw.get("scales"), str):
            kw["scales"] = tuple(int(s) for s in kw["scales"].split(","))
        if kw.get("parametrization") == "flow":
            from lightning_dln.theory import DepthFlow

            kw["optimizer_cls"] = DepthFlow
        accelerator = self.cfg.trainer.get("accelerator", "cpu")
        kw.update(optimizer_kwargs=opt, random_state=self.cfg.seed,
                  n_epochs=int(self.cfg.trainer.get("max_epochs", 1)),
                  pl_trainer_kwargs={"accelerator": accelerator, **QUIET})
        return kw

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Fit on the training rows; score every validation (and test) window."""
        model = self.cls(**self.model_kwargs(params))
        keep = keep_best_weights(self.pl, self.monitor)
        callbacks = [keep, *self.stopping_callbacks(self.pl, trial)]
        trainer_kwargs = {"deterministic": True, "num_sanity_val_steps": 0, "max_epochs": 1,
                          **self.cfg.trainer, **QUIET}
        trainer = self.pl.Trainer(callbacks=callbacks, **trainer_kwargs)
        a = self.arrays
        val_rows = self.series[a.train_end - a.lookback:a.val_end]
        model.fit(self.series[:a.train_end], val_series=val_rows, trainer=trainer, verbose=False)
        if keep.state is not None:  # score the best epoch, not the last
            model.model.load_state_dict(keep.state)
        out = {"val_mse": self.windows_mse(model, "val"), "epochs": trainer.current_epoch}
        if test:
            out["test_mse"] = self.windows_mse(model, "test")
        return out

    def windows_mse(self, model: Any, stage: str) -> float:
        """MSE over every ``stage`` window (``val`` or ``test``), step and channel."""
        start, end = self.arrays.split(stage)
        forecasts = model.historical_forecasts(
            self.series[:end], start=start, start_format="position",
            forecast_horizon=self.arrays.horizon, stride=1, retrain=False,
            last_points_only=False, verbose=False)
        pred = np.stack([fc.values() for fc in forecasts])  # (N, H, C)
        truth = self.arrays.targets(stage)
        if pred.shape != truth.shape:
            raise RuntimeError(f"historical_forecasts gave {pred.shape}, expected {truth.shape}")
        if not np.isfinite(pred).all():
            raise ValueError("the model forecasts non-finite values")
        return float(np.mean((pred - truth) ** 2))
