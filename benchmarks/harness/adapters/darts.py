"""Adapter of darts torch models (``NLinearModel``, ``TiDEModel``, ..., our ``DeepLinearModel``).

Shape legend (darts' words -> ours): ``input_chunk_length`` = ``L``, ``output_chunk_length`` =
``H``, components = channels ``C``. darts fits one multivariate ``TimeSeries`` (the scaled train
segment) and validates on the scaled validation segment; early stopping on ``val_loss`` with the
budget's patience, the best epoch restored (``load_best=True``).

Forecasts: the harness builds every test window itself and calls ``predict(n=H, series=[...])``
on the list of lookback series in one call (darts batches them with the budget's
``eval_batch_size``); ``benchmarks/dlinear_anchor.py`` checks that this equals
``historical_forecasts(retrain=False, last_points_only=False, stride=1)`` and times both.

Spec keys: ``cls`` (a ``darts.models`` name or ``DeepLinearModel``), ``lr`` (Adam),
``lr_scheduler`` (``{cls: <torch.optim.lr_scheduler name>, kwargs: {...}}``), ``kwargs``
(constructor arguments, e.g. ``use_reversible_instance_norm: true``); ``RNNModel`` takes
``training_length`` (default ``L + H``) instead of ``output_chunk_length``; ``kv_cache: true``
(``TransformerModel`` only) validates and predicts through
``benchmarks/harness/adapters/transformer_cache.py``: darts' autoregressive decoder with a
key/value cache, the same forecasts at O(H) instead of O(H^2) decoder passes.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from darts import TimeSeries

from benchmarks.harness.adapters.transformer_cache import kv_cached_decoding
from benchmarks.harness.models import Budget, Fitted
from benchmarks.harness.task import Task

for _name in ("darts", "pytorch_lightning", "lightning.pytorch"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def model_class(name: str) -> type:
    """A darts forecasting model class by name (``DeepLinearModel``: the lightning-dln adapter)."""
    if name == "DeepLinearModel":
        from lightning_dln.integrations.darts import DeepLinearModel

        return DeepLinearModel
    import darts.models

    cls = getattr(darts.models, name, None)
    if cls is None:
        raise ValueError(f"cls={name!r} is not a darts.models class")
    return cls


class EpochCounter(pl.Callback):
    """Counts finished training epochs (darts resets ``epochs_trained`` on ``load_best``)."""

    def __init__(self) -> None:
        self.epochs = 0

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs = trainer.current_epoch + 1


def build(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str,
          callbacks: list | None = None) -> Any:
    """Construct the darts model of a grid entry (not yet fitted)."""
    cls = model_class(spec["cls"])
    if spec.get("kv_cache") and spec["cls"] != "TransformerModel":
        raise ValueError(f"kv_cache applies to cls=TransformerModel only, got cls={spec['cls']!r}")
    kwargs = dict(spec.get("kwargs", {}))
    if spec["cls"] == "RNNModel":
        kwargs.setdefault("training_length", task.lookback + task.horizon)
    else:
        kwargs["output_chunk_length"] = task.horizon
    trainer_kwargs = budget.trainer_kwargs(
        [pl.callbacks.EarlyStopping("val_loss", patience=budget.patience), *(callbacks or [])])
    sched = spec.get("lr_scheduler")
    if sched is not None:  # e.g. {cls: ExponentialLR, kwargs: {gamma: 0.5}}: stepped per epoch
        kwargs["lr_scheduler_cls"] = getattr(torch.optim.lr_scheduler, sched["cls"])
        kwargs["lr_scheduler_kwargs"] = dict(sched.get("kwargs", {}))
    return cls(input_chunk_length=task.lookback, batch_size=budget.batch_size,
               n_epochs=budget.max_epochs, random_state=seed,
               optimizer_kwargs={"lr": spec.get("lr", 1e-3)}, save_checkpoints=True,
               force_reset=True, model_name=f"{spec['cls']}_{seed}", work_dir=work_dir,
               pl_trainer_kwargs=trainer_kwargs, **kwargs)


def series(values: np.ndarray) -> TimeSeries:
    """A darts series of scaled rows ``(T, C)`` on an integer index."""
    return TimeSeries.from_values(np.ascontiguousarray(values, dtype=np.float32))


def fit(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str) -> Fitted:
    """Fit on the train segment with validation, return a batched window forecaster."""
    counter = EpochCounter()
    model = build(spec, task, seed, budget, work_dir, [counter])
    # validation (inside fit) and predict decode autoregressively: both go through the cache
    decoding = kv_cached_decoding if spec.get("kv_cache") else contextlib.nullcontext
    with decoding():
        model.fit(series(task.segment("train")), val_series=series(task.segment("val")),
                  load_best=True, verbose=False)
    horizon, eval_batch = task.horizon, budget.eval_batch_size

    def predict(x: np.ndarray) -> np.ndarray:
        with decoding():
            out = model.predict(n=horizon, series=[series(w) for w in x], batch_size=eval_batch,
                                verbose=False, show_warnings=False)
        return np.stack([s.values(copy=False) for s in out])  # (B, H, C)

    params = sum(p.numel() for p in model.model.parameters() if p.requires_grad)
    notes = {"cls": spec["cls"], "lr": spec.get("lr", 1e-3)}
    if spec.get("kv_cache"):
        notes["decode"] = "kv_cache"
    return Fitted(predict, params, counter.epochs, chunk=4096, notes=notes, network=model.model)
