"""``DeepLinearModel``: the core deep linear forecaster as a darts ``MixedCovariatesTorchModel``.

Shape legend (darts' words -> ours): ``L``: ``input_chunk_length`` (lookback), ``H``:
``output_chunk_length`` (horizon), ``C``: target components (channels), ``Q``: ``nr_params`` of
the likelihood (``n_outputs``), ``P``: past + historic future covariate components, ``F``: future
covariate components, ``S``: static covariates (components x features, flattened).

Two decisions, documented here once:

- **Instance norm.** The core's ``instance_norm`` (default ``"revin"``, as in the core) is part of
  the network. darts' ``use_reversible_instance_norm`` (default ``False``) stays available and wraps
  the network from outside (darts' ``RINorm``); with both on, the core normalises an already
  normalised window, which is harmless. Use ``instance_norm="none"`` to let darts alone normalise.
- **Several devices.** Fitting follows ``pl_trainer_kwargs`` (``ddp`` and ``ddp_spawn`` work).
  Prediction (``predict``, ``historical_forecasts``, ``backtest``, ``residuals``) is routed to a
  single-device trainer with the same settings when those kwargs ask for several devices, because
  darts' multi-device prediction loses or crashes on series (darts issues #1945, #2265). Pass
  ``trainer=`` to ``predict`` to override.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import torch
from darts.models.forecasting.torch_forecasting_model import (
    MixedCovariatesTorchModel,
    TorchForecastingModel,
)
from darts.utils.data.torch_datasets.utils import TorchTrainingSample
from darts.utils.serialization import add_safe_globals

from lightning_dln.models import CollapsedForecaster, DLNConfig
from lightning_dln.theory import DepthFlow

from .devices import single_device_trainer_params, uses_many_devices
from .module import DLNModule

DLN_ARGS = tuple(f.name for f in dataclasses.fields(DLNConfig))
"""Constructor arguments that belong to the core architecture (the rest belong to darts)."""

_SERIES_ARGS = ("series", "past_covariates", "future_covariates", "val_series",
                "val_past_covariates", "val_future_covariates")


class DeepLinearModel(MixedCovariatesTorchModel):
    """Deep linear network forecaster for darts, used like ``NLinearModel`` or ``TiDEModel``.

    Args:
        input_chunk_length: ``L``, steps of history the network reads.
        output_chunk_length: ``H``, steps it forecasts at once.
        output_chunk_shift: steps between the input's end and the output's start.
        depth, width, factor, rank, residual, init, init_scale, activation, channels, scales,
        temporal_mixing, channel_mixing, channel_depth, instance_norm, affine_norm, bias,
        parametrization: the architecture; each is the field of the same name of
            :class:`~lightning_dln.models.DLNConfig` (documented there), validated there.
            ``parametrization="flow"`` needs ``optimizer_cls=lightning_dln.theory.DepthFlow``.
        use_static_covariates: use the static covariates of the series when they have some.
        **kwargs: every standard darts torch-model argument (``batch_size``, ``n_epochs``,
            ``likelihood``, ``loss_fn``, ``torch_metrics``, ``optimizer_cls/kwargs``,
            ``lr_scheduler_cls/kwargs``, ``use_reversible_instance_norm``, ``random_state``,
            ``pl_trainer_kwargs``, ``save_checkpoints``, ``add_encoders``, ...).

    Raises:
        ValueError: at construction, for any invalid architecture argument.

    """

    def __init__(
        self,
        input_chunk_length: int,
        output_chunk_length: int,
        output_chunk_shift: int = 0,
        depth: int | str = 4,
        width: int | None = None,
        factor: str = "dense",
        rank: int | None = None,
        residual: bool = False,
        init: str = "balanced",
        init_scale: float = 0.1,
        activation: str | None = None,
        channels: str = "shared",
        scales: tuple[int, ...] = (1,),
        temporal_mixing: bool = False,
        channel_mixing: bool = False,
        channel_depth: int = 1,
        instance_norm: str = "revin",
        affine_norm: bool = False,
        bias: bool = True,
        parametrization: str = "explicit",
        use_static_covariates: bool = True,
        **kwargs: Any,
    ) -> None:
        params = self.model_params
        config = DLNConfig(**{name: params[name] for name in DLN_ARGS})  # raises ValueError
        for name, value in (("input_chunk_length", input_chunk_length),
                            ("output_chunk_length", output_chunk_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if max(config.scales) > input_chunk_length:
            raise ValueError(f"every scale must be <= input_chunk_length={input_chunk_length}, "
                             f"got scales={config.scales}")
        optimizer_cls = kwargs.get("optimizer_cls") or torch.optim.Adam
        is_flow_optimizer = isinstance(optimizer_cls, type) and issubclass(optimizer_cls,
                                                                           DepthFlow)
        if (config.parametrization == "flow") != is_flow_optimizer:
            raise ValueError("parametrization='flow' and optimizer_cls=DepthFlow go together, "
                             f"got parametrization={config.parametrization!r}, "
                             f"optimizer_cls={getattr(optimizer_cls, '__name__', optimizer_cls)}")
        super().__init__(**self._extract_torch_model_params(**params))
        self.pl_module_params = self._extract_pl_module_params(**params)
        if is_flow_optimizer:
            opt_kwargs = dict(self.pl_module_params.get("optimizer_kwargs") or {})
            opt_kwargs.setdefault("depth", config.flow_depth)
            self.pl_module_params["optimizer_kwargs"] = opt_kwargs
        self._considers_static_covariates = use_static_covariates
        self._predict_collapsed = False

    @property
    def dln_config(self) -> DLNConfig:
        """The architecture, rebuilt from the constructor arguments."""
        return DLNConfig(**{name: self.model_params[name] for name in DLN_ARGS})

    def _create_model(self, train_sample: TorchTrainingSample) -> DLNModule:
        # train_sample holds numpy arrays (time, components); static covariates (rows, features)
        static = train_sample.static_covariates
        n_past = sum(cov.shape[1] for cov in (train_sample.past_covariates,
                                              train_sample.historic_future_covariates)
                     if cov is not None)
        future = train_sample.future_covariates
        return DLNModule(
            n_targets=train_sample.past_target.shape[1],
            config=self.dln_config.to_dict(),
            nr_params=1 if self.likelihood is None else self.likelihood.num_parameters,
            n_past_covariates=n_past,
            n_future_covariates=future.shape[1] if future is not None else 0,
            n_static_covariates=int(np.prod(static.shape)) if static is not None else 0,
            **self.pl_module_params,
        )

    @property
    def supports_static_covariates(self) -> bool:
        """Static covariates enter the network as one flattened vector."""
        return True

    def collapse(self) -> CollapsedForecaster:
        """Return the exact end-to-end affine map of the trained network (one matrix product).

        Returns:
            The core :class:`~lightning_dln.models.CollapsedForecaster`; its forward takes
            ``(B, L, C)`` plus covariates and equals the deep network's to float tolerance.

        Raises:
            ValueError: before ``fit``, or for the nonlinear control (``activation`` set).

        """
        self._check_collapsible()
        return self.model.collapse()

    def use_collapsed(self, enabled: bool = True) -> DeepLinearModel:
        """Predict through the collapsed map (cached; rebuilt whenever the weights change).

        Training always uses the deep network. The setting is saved with the model.

        Args:
            enabled: ``True`` to predict through :meth:`collapse`, ``False`` for the deep net.

        Returns:
            The model itself.

        """
        if enabled:
            self._check_collapsible()
        self._predict_collapsed = bool(enabled)
        return self

    def _check_collapsible(self) -> None:
        if self.model is None:
            raise ValueError("the model has no weights yet; call fit() (or load one) first")
        if self.dln_config.activation is not None:
            raise ValueError(f"activation={self.dln_config.activation!r}: the nonlinear control "
                             "does not collapse to one linear map")

    def fit(self, *args: Any, **kwargs: Any) -> DeepLinearModel:
        """Darts' ``fit``; NaN/inf in any series or covariate raises ``ValueError`` first."""
        _check_finite(TorchForecastingModel.fit, self, args, kwargs)
        return super().fit(*args, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Darts' ``predict``; NaN/inf in any input series raises ``ValueError`` first."""
        _check_finite(TorchForecastingModel.predict, self, args, kwargs)
        return super().predict(*args, **kwargs)

    def historical_forecasts(self, *args: Any, **kwargs: Any) -> Any:
        """Darts' ``historical_forecasts``; NaN/inf in any input raises ``ValueError`` first."""
        _check_finite(MixedCovariatesTorchModel.historical_forecasts, self, args, kwargs)
        return super().historical_forecasts(*args, **kwargs)

    def _setup_for_predict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # every prediction path (predict, predict_from_dataset, fast historical_forecasts) ends here
        if kwargs.get("trainer") is None and uses_many_devices(self.trainer_params):
            params = single_device_trainer_params(self.trainer_params, kwargs.get("verbose"))
            kwargs["trainer"] = self._init_trainer(trainer_params=params, max_epochs=self.n_epochs)
        self.model.collapsed_predict = self._predict_collapsed
        return super()._setup_for_predict(*args, **kwargs)


def _check_finite(method: Any, model: DeepLinearModel, args: tuple, kwargs: dict) -> None:
    """Raise ``ValueError`` naming the argument when an input series holds NaN or inf."""
    bound = inspect.signature(method).bind_partial(model, *args, **kwargs).arguments
    for name in _SERIES_ARGS:
        value = bound.get(name)
        if value is None:
            continue
        for i, ts in enumerate([value] if hasattr(value, "all_values") else value):
            if not np.isfinite(ts.all_values(copy=False)).all():
                where = name if hasattr(value, "all_values") else f"{name}[{i}]"
                raise ValueError(f"{where} contains NaN or inf values; fill or drop them first "
                                 "(e.g. darts.utils.missing_values.fill_missing_values)")


add_safe_globals([DeepLinearModel, DLNModule, DLNConfig])
