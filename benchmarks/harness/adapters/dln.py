"""Adapter of the core deep linear forecaster (``DLNForecaster`` + ``LTSFDataModule``).

Spec keys: ``net`` (a :class:`~lightning_dln.models.DLNConfig` dict), ``module`` (other
``DLNForecaster`` arguments: ``optimizer``, ``lr``, ``weight_decay``, ``scheduler``, ...),
``gradient_clip_val``. Training: Lightning, early stopping on ``val_mse`` with the budget's
patience, the best epoch restored. Linear nets forecast through their collapsed map (one matrix
product at any depth); the activation control through its deep forward.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as lpl
import numpy as np
import torch

from benchmarks.harness.models import Budget, Fitted
from benchmarks.harness.task import Task
from lightning_dln.module import DLNForecaster


def fit(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str) -> Fitted:
    """Train with Lightning, restore the best validation epoch, return the forecaster."""
    dm = task.datamodule
    dm.batch_size, dm.eval_batch_size = budget.batch_size, budget.eval_batch_size
    model = DLNForecaster(task.lookback, task.horizon, task.n_channels,
                          net=dict(spec.get("net", {})), **spec.get("module", {}))
    ckpt = lpl.callbacks.ModelCheckpoint(dirpath=work_dir, monitor="val_mse", mode="min",
                                         save_top_k=1, save_weights_only=True)
    stop = lpl.callbacks.EarlyStopping(monitor="val_mse", mode="min", patience=budget.patience)
    trainer = lpl.Trainer(
        max_epochs=budget.max_epochs, **budget.trainer_kwargs([ckpt, stop]), deterministic=True,
        gradient_clip_val=spec.get("gradient_clip_val"), num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    if ckpt.best_model_path:
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
    model = model.cpu().eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    notes: dict[str, Any] = {"best_val_mse": round(float(ckpt.best_model_score or np.nan), 5)}
    net = model.model
    if net.is_linear:
        net = net.collapse()
        notes["collapsed_params"] = sum(p.numel() for p in net.parameters())
    net.eval()

    @torch.no_grad()
    def predict(x: np.ndarray) -> np.ndarray:
        return net(torch.from_numpy(np.ascontiguousarray(x))).numpy()  # (B, L, C) -> (B, H, C)

    return Fitted(predict, params, trainer.current_epoch, notes=notes, network=net)
