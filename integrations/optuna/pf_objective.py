"""pytorch-forecasting models (``NHiTS``, ``DeepAR``, ...) on the LTSF splits, scored like the core.

p-f trains through its own ``TimeSeriesDataSet``: the scaled training rows ``[0, train_end)``
of :mod:`._series` in long format, one group per channel (a global model shared by all
channels), encoder ``L`` and decoder ``H`` steps exactly, ``EncoderNormalizer`` (each window's
target normalised by its own encoder: instance norm). The validation set is the same layout on
rows ``[train_end - L, val_end)``, so its samples are **every** validation window of every
channel, each once; p-f's per-epoch ``val_loss`` on it is what the pruner and early stopping
see. The trial's value is the core's: the best ``val_loss`` epoch's weights (kept in memory)
forecast every validation window, and the MSE is taken over every window, step and channel of
the scaled data. ``evaluate`` scores the test rows ``[val_end - L, test_end)`` the same way.

Parameters: ``lr`` becomes ``learning_rate``; ``batch_size`` sizes the training loader; every
other sampled or fixed value goes to ``Model.from_dataset``, except ``n_samples`` (the paths a
distribution model such as ``DeepAR`` averages into its point forecast; default 100).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ._deps import require
from ._series import ltsf_arrays
from .config import TuneConfig
from .darts_objective import keep_best_weights
from .objectives import QUIET, Objective, import_class

_HINT = 'p-f models need pytorch-forecasting: pip install "lightning-dln[pytorch-forecasting]"'


def resolve_pf_class(target: str) -> type:
    """Import ``module:Class`` and check it is a pytorch-forecasting ``BaseModel``.

    Raises:
        ImportError: pytorch-forecasting is not installed (with the install hint).
        ValueError: the class does not exist or is not a p-f model.

    """
    try:
        from pytorch_forecasting.models.base_model import BaseModel
    except ImportError as err:
        raise ImportError(f"{_HINT} ({err})") from err
    return import_class(target, BaseModel, "pytorch-forecasting BaseModel")


class PFObjective(Objective):
    """Tune a pytorch-forecasting model (see the module docstring).

    Args:
        cfg: the tuning run; ``cfg.trainer`` holds the per-trial ``lightning.pytorch.Trainer``
            arguments (``max_epochs``, ``limit_train_batches``, ``gradient_clip_val`` (default
            0.1, as p-f's tutorials), ...).

    Raises:
        ImportError: pytorch-forecasting or optuna-integration is missing.
        ValueError: unknown model class or missing data (checked now, before any trial).

    """

    monitor = "val_loss"

    def __init__(self, cfg: TuneConfig) -> None:
        super().__init__(cfg)
        self.cls = resolve_pf_class(cfg.spec.target)
        require("optuna_integration")  # missing pruning support fails now, not at trial 0
        import pytorch_forecasting as pf
        from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder

        from lightning_dln.integrations.pytorch_forecasting import long_frame

        self.pf, self.long_frame = pf, long_frame
        a = self.arrays = ltsf_arrays(cfg.data)
        self.train_set = pf.TimeSeriesDataSet(
            long_frame(a.values[:a.train_end]), time_idx="time_idx", target="value",
            group_ids=["group"], max_encoder_length=a.lookback, min_encoder_length=a.lookback,
            max_prediction_length=a.horizon, min_prediction_length=a.horizon,
            time_varying_unknown_reals=["value"], target_normalizer=EncoderNormalizer(),
            categorical_encoders={"group": NaNLabelEncoder(add_nan=True)})
        self.eval_sets = {stage: self.windows(stage) for stage in ("val", "test")}

    def windows(self, stage: str) -> Any:
        """Every ``stage`` window of every channel, each once, as a p-f dataset."""
        start, end = self.arrays.split(stage)
        frame = self.long_frame(self.arrays.values[start - self.arrays.lookback:end], stage)
        ds = self.pf.TimeSeriesDataSet.from_dataset(self.train_set, frame,
                                                    stop_randomization=True)
        expected = (end - start - self.arrays.horizon + 1) * len(self.arrays.channels)
        if len(ds) != expected:
            raise RuntimeError(f"the p-f {stage} set has {len(ds)} samples, expected "
                               f"{expected} (every window of every channel)")
        return ds

    def fit(self, params: dict[str, Any], trial: Any = None) -> tuple[Any, int, dict]:
        """Train with ``params``; return the best epoch's model, epochs run, ``predict`` kwargs.

        The ``predict`` arguments hold ``n_samples`` where the model samples (DeepAR).
        """
        import lightning.pytorch as pl

        kwargs = dict(params)
        batch_size = int(kwargs.pop("batch_size", 64))
        n_samples = int(kwargs.pop("n_samples", 100))
        if "lr" in kwargs:
            kwargs["learning_rate"] = kwargs.pop("lr")
        pl.seed_everything(self.cfg.seed, workers=True, verbose=False)
        model = self.cls.from_dataset(self.train_set, **kwargs)
        keep = keep_best_weights(pl, self.monitor)
        callbacks = [keep, *self.stopping_callbacks(pl, trial)]
        trainer = pl.Trainer(callbacks=callbacks, **{
            "num_sanity_val_steps": 0, "max_epochs": 1, "gradient_clip_val": 0.1,
            **self.cfg.trainer, **QUIET})
        trainer.fit(model, train_dataloaders=self.train_set.to_dataloader(
            train=True, batch_size=batch_size, num_workers=0),
            val_dataloaders=self.loader("val"))
        if keep.state is not None:  # score the best epoch, not the last
            model.load_state_dict(keep.state)
        model.eval()
        takes_samples = "n_samples" in inspect.signature(model.predict).parameters
        return model, trainer.current_epoch, {"n_samples": n_samples} if takes_samples else {}

    def run(self, params: dict[str, Any], trial: Any = None, test: bool = False) -> dict:
        """Fit on the training rows; score every validation (and test) window."""
        model, epochs, predict = self.fit(params, trial)
        out = {"val_mse": self.windows_mse(model, "val", predict), "epochs": epochs}
        if test:
            out["test_mse"] = self.windows_mse(model, "test", predict)
        return out

    def loader(self, stage: str) -> Any:
        """Return the evaluation loader of ``stage`` (fixed order, large batches)."""
        return self.eval_sets[stage].to_dataloader(train=False, batch_size=1024, num_workers=0)

    def windows_mse(self, model: Any, stage: str, predict: dict[str, Any]) -> float:
        """MSE over every ``stage`` window (``val`` or ``test``), step and channel."""
        a = self.arrays
        out = model.predict(self.loader(stage), mode="prediction", return_index=True,
                            trainer_kwargs={"accelerator": self.cfg.trainer.get(
                                "accelerator", "cpu"), **QUIET}, **predict)
        pred = np.asarray(out.output.detach().cpu() if hasattr(out.output, "detach")
                          else out.output, dtype=np.float64)  # (N * C, H)
        # The index names each row's channel and its first forecast step (time_idx counts from
        # the frame's first row, L rows before the split's first forecast row).
        window = out.index["time_idx"].to_numpy() - a.lookback
        channel = out.index["group"].str.removeprefix(stage).astype(int).to_numpy()
        truth = a.targets(stage)  # (N, H, C)
        if pred.shape != (truth.shape[0] * truth.shape[2], a.horizon):
            raise RuntimeError(f"p-f predicted {pred.shape}, expected "
                               f"{(truth.shape[0] * truth.shape[2], a.horizon)}")
        if not np.isfinite(pred).all():
            raise ValueError("the model forecasts non-finite values")
        return float(np.mean((pred - truth[window, :, channel]) ** 2))

