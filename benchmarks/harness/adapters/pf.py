"""Adapter of pytorch-forecasting models (``NHiTS``, ``NBeats``, ``DeepAR``) on LTSF windows.

p-f trains through its own ``TimeSeriesDataSet``: the scaled train segment in long format, one
group per channel (a global univariate model shared by all channels, like DLinear with shared
weights), encoder ``L`` and decoder ``H`` steps, ``EncoderNormalizer`` (the target normalised by
the statistics of each encoder window: instance norm). Validation: the scaled validation segment,
early stopping on ``val_loss`` with the budget's patience, best epoch restored.

Forecasts: every test window ``(L, C)`` becomes ``C`` groups of ``L`` known steps plus ``H``
decoder steps whose target is zero-filled (never read at prediction: NHiTS/NBeats use the
encoder only, DeepAR decodes autoregressively from its own samples). ``DeepAR``'s point forecast
is the mean of ``n_samples`` sampled paths (spec key ``n_samples``, default 100).

Spec keys: ``cls`` (``NHiTS``, ``NBeats``, ``DeepAR``), ``lr``, ``kwargs`` (``from_dataset``
arguments), ``n_samples``.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as lpl
import numpy as np
import pandas as pd
import torch

from benchmarks.harness.models import Budget, Fitted
from benchmarks.harness.task import Task
from lightning_dln.integrations.pytorch_forecasting import long_frame

logging.getLogger("pytorch_forecasting").setLevel(logging.ERROR)


def window_frame(x: np.ndarray, horizon: int) -> pd.DataFrame:
    """Windows ``(B, L, C)`` -> ``B * C`` groups ``"{b}_{c}"`` of ``L`` steps + ``H`` zeros."""
    b, lookback, c = x.shape
    padded = np.concatenate([x, np.zeros((b, horizon, c), x.dtype)], axis=1)  # (B, L + H, C)
    steps = lookback + horizon
    groups = [f"{i}_{j}" for i in range(b) for j in range(c)]
    return pd.DataFrame({"group": np.repeat(groups, steps),
                         "time_idx": np.tile(np.arange(steps), b * c),
                         "value": padded.transpose(0, 2, 1).reshape(-1).astype(np.float32)})


def fit(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str) -> Fitted:
    """Fit a p-f model on the channel groups of the train segment; return a window forecaster."""
    import pytorch_forecasting as pf
    from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder

    lookback, horizon = task.lookback, task.horizon
    train_ds = pf.TimeSeriesDataSet(
        long_frame(task.segment("train")), time_idx="time_idx", target="value",
        group_ids=["group"], max_encoder_length=lookback, min_encoder_length=lookback,
        max_prediction_length=horizon, min_prediction_length=horizon,
        time_varying_unknown_reals=["value"], target_normalizer=EncoderNormalizer(),
        categorical_encoders={"group": NaNLabelEncoder(add_nan=True)})
    val_ds = pf.TimeSeriesDataSet.from_dataset(train_ds, long_frame(task.segment("val"), "v"),
                                               stop_randomization=True)
    cls = getattr(pf, spec["cls"])
    model = cls.from_dataset(train_ds, learning_rate=spec.get("lr", 1e-3),
                             **spec.get("kwargs", {}))
    ckpt = lpl.callbacks.ModelCheckpoint(dirpath=work_dir, monitor="val_loss", mode="min",
                                         save_top_k=1)
    stop = lpl.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=budget.patience)
    trainer = lpl.Trainer(
        max_epochs=budget.max_epochs, **budget.trainer_kwargs([ckpt, stop]),
        gradient_clip_val=0.1, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=train_ds.to_dataloader(
                    train=True, batch_size=budget.batch_size, num_workers=0),
                val_dataloaders=val_ds.to_dataloader(
                    train=False, batch_size=budget.eval_batch_size, num_workers=0))
    if ckpt.best_model_path:
        model = cls.load_from_checkpoint(ckpt.best_model_path)
    model.eval()
    extra = {"n_samples": int(spec.get("n_samples", 100))} if spec["cls"] == "DeepAR" else {}

    def predict(x: np.ndarray) -> np.ndarray:
        b, _, c = x.shape
        ds = pf.TimeSeriesDataSet.from_dataset(train_ds, window_frame(x, horizon), predict=True,
                                               stop_randomization=True)
        out = model.predict(ds.to_dataloader(train=False, batch_size=budget.eval_batch_size,
                                             num_workers=0),
                            mode="prediction", return_index=True, **extra,
                            trainer_kwargs=dict(accelerator=budget.accelerator, logger=False,
                                                enable_progress_bar=False))  # fresh: p-f adds to it
        pred = torch.as_tensor(out.output).cpu().numpy()  # (B * C in index order, H)
        order = {g: i for i, g in enumerate(f"{i}_{j}" for i in range(b) for j in range(c))}
        rows = np.array([order[g] for g in out.index["group"]])
        result = np.empty((b * c, horizon), np.float32)
        result[rows] = pred
        return result.reshape(b, c, horizon).transpose(0, 2, 1)  # (B, H, C)

    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Fitted(predict, params, trainer.current_epoch, chunk=1024,
                  notes={"cls": spec["cls"], "lr": spec.get("lr", 1e-3), **extra}, network=model)
