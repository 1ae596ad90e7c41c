"""LightningModule training a :class:`~lightning_dln.models.DeepLinearTimeSeries` (LTSF protocol).

Batches are ``(x (B, L, C), y (B, H, C))`` on the scaled data (see :mod:`lightning_dln.data`);
metrics (torchmetrics MSE/MAE, synced across processes) are on the scaled data as in the
literature. With quantiles the loss is the pinball loss and metrics use the median forecast.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from lightning_dln.distributed import destroy_process_group_at_exit
from lightning_dln.models import DeepLinearTimeSeries, DLNConfig

OPTIMIZERS = {"adam": "torch.optim.Adam", "adamw": "torch.optim.AdamW", "sgd": "torch.optim.SGD",
              "flow": "lightning_dln.theory.DepthFlow"}
SCHEDULERS = {"cosine": "torch.optim.lr_scheduler.CosineAnnealingLR",
              "step": "torch.optim.lr_scheduler.StepLR",
              "exponential": "torch.optim.lr_scheduler.ExponentialLR"}
LOSSES = ("mse", "mae", "huber")


def _import(path: str, what: str, table: dict[str, str]) -> Any:
    target = table.get(path, path)
    module, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"{what} must be one of {sorted(table)} or an importable dotted path, "
                         f"got {path!r}") from None


class DLNForecaster(pl.LightningModule):
    """Deep linear forecaster for Lightning.

    Args:
        lookback: input window ``L`` (linked from the data module by the CLI).
        horizon: forecast steps ``H`` (linked from the data module).
        n_channels: channels ``C`` (linked from the data module).
        net: the architecture (:class:`~lightning_dln.models.DLNConfig`).
        quantiles: forecast these quantiles (pinball loss) instead of a point forecast.
        loss: point loss: ``mse``, ``mae`` or ``huber``.
        optimizer: ``adam``, ``adamw``, ``sgd``, ``flow`` (the closed-form depth flow; needs
            ``net.parametrization='flow'``) or a dotted class path.
        lr: learning rate.
        weight_decay: weight decay.
        optimizer_kwargs: extra keyword arguments of the optimizer.
        scheduler: ``None``, ``cosine`` (over ``max_epochs``), ``step``, ``exponential`` or a
            dotted class path; stepped once per epoch.
        scheduler_kwargs: keyword arguments of the scheduler.

    """

    def __init__(
        self,
        lookback: int = 336,
        horizon: int = 96,
        n_channels: int = 7,
        net: DLNConfig | None = None,
        quantiles: list[float] | None = None,
        loss: Literal["mse", "mae", "huber"] = "mse",
        optimizer: str = "adam",
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        optimizer_kwargs: dict[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        net = DLNConfig.coerce(net)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        if quantiles is not None:
            quantiles = [float(q) for q in quantiles]
            if not quantiles or any(not 0 < q < 1 for q in quantiles) or \
                    sorted(set(quantiles)) != quantiles:
                raise ValueError(f"quantiles must be increasing, distinct values in (0, 1), "
                                 f"got {quantiles!r}")
        _import(optimizer, "optimizer", OPTIMIZERS)  # fail now, not at fit time
        if scheduler is not None:
            _import(scheduler, "scheduler", SCHEDULERS)
        if (optimizer == "flow") != (net.parametrization == "flow"):
            raise ValueError("optimizer='flow' and net.parametrization='flow' go together, got "
                             f"optimizer={optimizer!r}, parametrization={net.parametrization!r}")
        self.save_hyperparameters(ignore=["net"])
        self.hparams["net"] = net.to_dict()  # plain types: safe checkpoints
        self.net_config = net
        self.quantiles = quantiles
        self.model = DeepLinearTimeSeries(lookback, horizon, n_channels, net,
                                          n_outputs=len(quantiles) if quantiles else None)
        self.metrics = torch.nn.ModuleDict({
            f"{stage}_{name}": cls() for stage in ("val", "test")
            for name, cls in (("mse", MeanSquaredError), ("mae", MeanAbsoluteError))
        })

    def forward(self, x: Tensor) -> Tensor:
        """Forecast ``(B, L, C) -> (B, H, C)`` (or ``(B, H, C, Q)`` with quantiles)."""
        return self.model(x)

    def point(self, out: Tensor) -> Tensor:
        """Return the point forecast: the output itself, or the quantile closest to the median."""
        if self.quantiles is None:
            return out
        median = min(range(len(self.quantiles)), key=lambda i: abs(self.quantiles[i] - 0.5))
        return out[..., median]

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        """Training loss of a forecast against the targets ``(B, H, C)``."""
        if self.quantiles is not None:
            q = out.new_tensor(self.quantiles)
            err = y.unsqueeze(-1) - out  # (B, H, C, Q)
            return torch.maximum(q * err, (q - 1) * err).mean()
        name = self.hparams.loss
        if name == "mse":
            return torch.nn.functional.mse_loss(out, y)
        if name == "mae":
            return torch.nn.functional.l1_loss(out, y)
        return torch.nn.functional.huber_loss(out, y)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """Take one training step; stop with advice on a non-finite loss."""
        x, y = batch
        loss = self.loss(self(x), y)
        if not torch.isfinite(loss):
            raise ValueError(
                f"non-finite training loss ({loss.item()}) at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); try a lower lr (now "
                f"{self.hparams.lr}), a smaller net.init_scale, gradient clipping "
                "(--trainer.gradient_clip_val 1.0) or net.init='identity_residual'"
            )
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=x.shape[0])
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        x, y = batch
        out = self(x)
        pred = self.point(out)
        for name in ("mse", "mae"):
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(pred.reshape(-1), y.reshape(-1))
            self.log(f"{stage}_{name}", metric, prog_bar=name == "mse", on_epoch=True,
                     batch_size=x.shape[0])
        self.log(f"{stage}_loss", self.loss(out, y), on_epoch=True, sync_dist=True,
                 batch_size=x.shape[0])

    def setup(self, stage: str) -> None:
        """Register the process-group teardown at exit (see :mod:`lightning_dln.distributed`)."""
        if self._trainer is not None and self.trainer.world_size > 1:
            destroy_process_group_at_exit()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Log validation loss, MSE and MAE (torchmetrics, synced across processes)."""
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Log test loss, MSE and MAE (torchmetrics, synced across processes)."""
        self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Forecast a batch of windows ``(B, L, C)``."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf values; clean or impute the data first")
        return self(x)

    def configure_optimizers(self) -> Any:
        """Build the configured optimizer and optional scheduler."""
        hp = self.hparams
        cls = _import(hp.optimizer, "optimizer", OPTIMIZERS)
        kwargs = dict(hp.optimizer_kwargs or {})
        params = self.parameters()
        if hp.optimizer == "flow":
            # The temporal end-to-end matrices follow the depth-N flow; everything else (biases,
            # norm, covariates, channel mixing) takes plain gradient steps (depth 1).
            depth = kwargs.pop("depth", self.net_config.flow_depth)
            flow = [p for stack in self.model.stacks for p in stack.factors.parameters()]
            ids = {id(p) for p in flow}
            rest = [p for p in self.parameters() if id(p) not in ids]
            params = [{"params": flow, "depth": depth}] + \
                ([{"params": rest, "depth": 1}] if rest else [])
            kwargs["depth"] = depth
        optimizer = cls(params, lr=hp.lr, weight_decay=hp.weight_decay, **kwargs)
        if hp.scheduler is None:
            return optimizer
        sched_cls = _import(hp.scheduler, "scheduler", SCHEDULERS)
        skw = dict(hp.scheduler_kwargs or {})
        if hp.scheduler == "cosine":
            skw.setdefault("T_max", max(int(self.trainer.max_epochs or 1), 1))
        if hp.scheduler == "step":
            skw.setdefault("step_size", 1)
        if hp.scheduler == "exponential":
            skw.setdefault("gamma", 0.5)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": sched_cls(optimizer, **skw), "interval": "epoch"}}

    def collapse(self, dtype: torch.dtype | None = None):
        """Return the exact end-to-end affine forecaster (see ``DeepLinearTimeSeries.collapse``)."""
        return self.model.collapse(dtype)
