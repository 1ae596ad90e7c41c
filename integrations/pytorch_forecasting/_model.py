"""``DeepLinear``: the deep linear forecaster as a pytorch-forecasting (v1) ``BaseModel``.

The model wraps :class:`~lightning_dln.models.DeepLinearTimeSeries` unchanged. It reads the
targets' encoder history and the real covariates from pytorch-forecasting's continuous inputs
(already scaled by the dataset's normalizers), and its forecast, in the target normalizer's space,
is rescaled by ``transform_output`` with the batch's ``target_scale``. The core's own instance
norm (``instance_norm``, default ``revin``) then works per window on top of the dataset's
normalizer: both are invertible, so predictions stay in the target's units.

Shape legend (pytorch-forecasting's words -> ours): ``B`` batch; ``L`` = ``max_encoder_length``
(lookback); ``H`` = ``max_prediction_length`` (horizon); ``C`` = number of targets (channels);
``Q`` = ``output_size`` (1 for point losses, the number of quantiles for ``QuantileLoss``; the
largest one when targets differ); ``P``/``F``/``S`` = past (encoder reals), future (decoder known
reals) and static real covariates. Output ``prediction``: ``(B, H, Q)``, or one per target.
"""

from __future__ import annotations

from typing import Any

from pytorch_forecasting.metrics import MAE, MAPE, MASE, RMSE, SMAPE, DistributionLoss, MultiLoss
from pytorch_forecasting.models.base import BaseModel
from torch import Tensor, nn

from lightning_dln.models import CollapsedForecaster, DeepLinearTimeSeries, DLNConfig

from ._inputs import (
    core_inputs,
    dataset_inputs,
    positions,
)

#: Arguments derived from the ``TimeSeriesDataSet`` by ``from_dataset`` (never pass them there).
DATASET_ARGUMENTS = ("encoder_length", "prediction_length", "targets", "x_reals", "past_reals",
                     "future_reals", "static_reals")
#: Arguments pytorch-forecasting's ``BaseModel`` owns (accepted through ``**kwargs``).
HOST_ARGUMENTS = ("dataset_parameters", "log_interval", "log_val_interval", "learning_rate",
                  "log_gradient_flow", "reduce_on_plateau_patience", "reduce_on_plateau_reduction",
                  "reduce_on_plateau_min_lr", "weight_decay", "optimizer_params",
                  "monotone_constraints", "output_transformer", "optimizer")
DLN_OPTIONS = tuple(DLNConfig.__dataclass_fields__)


class DeepLinear(BaseModel):
    """Deep linear network forecaster for pytorch-forecasting.

    Build it with :meth:`from_dataset`; DLN options (:class:`~lightning_dln.models.DLNConfig`
    fields such as ``depth``, ``width``, ``factor``, ``residual``, ``init``, ``instance_norm``)
    are given there as keywords, or here as one ``dln`` dict.

    Args:
        encoder_length: lookback ``L`` (the dataset's fixed ``max_encoder_length``).
        prediction_length: horizon ``H`` (the dataset's fixed ``max_prediction_length``).
        targets: target names (channels ``C``).
        x_reals: order of the continuous columns in ``encoder_cont``/``decoder_cont``.
        past_reals: time-varying reals read over the encoder (past covariates).
        future_reals: known reals read over the decoder (future covariates).
        static_reals: static reals (static covariates).
        output_size: outputs per step, one int or one per target (set by ``from_dataset``).
        dln: the architecture, a dict of :class:`~lightning_dln.models.DLNConfig` fields.
        loss: a pytorch-forecasting point or quantile loss (default ``MAE()``).
        logging_metrics: metrics logged in training and validation.
        **kwargs: arguments of pytorch-forecasting's ``BaseModel`` (see ``HOST_ARGUMENTS``).

    Example:
        >>> from pytorch_forecasting import TimeSeriesDataSet
        >>> from lightning_dln.integrations.pytorch_forecasting import DeepLinear, synthetic_panel
        >>> data = synthetic_panel(n_series=2, length=30)
        >>> dataset = TimeSeriesDataSet(
        ...     data, time_idx="time_idx", target="target", group_ids=["agency", "sku"],
        ...     max_encoder_length=12, min_encoder_length=12, max_prediction_length=4,
        ...     min_prediction_length=4, time_varying_unknown_reals=["target"])
        >>> model = DeepLinear.from_dataset(dataset, depth=3, width=16)
        >>> model.network.lookback, model.network.horizon, len(model.network.stacks[0].factors)
        (12, 4, 3)

    """

    @classmethod
    def _pkg(cls) -> type:
        """Package class registering the model with pytorch-forecasting's test suite."""
        from ._pkg import DeepLinear_pkg

        return DeepLinear_pkg

    def __init__(
        self,
        encoder_length: int,
        prediction_length: int,
        targets: list[str],
        x_reals: list[str],
        past_reals: list[str] | None = None,
        future_reals: list[str] | None = None,
        static_reals: list[str] | None = None,
        output_size: int | list[int] = 1,
        dln: dict[str, Any] | None = None,
        loss: Any = None,
        logging_metrics: nn.ModuleList | None = None,
        **kwargs: Any,
    ) -> None:
        if loss is None:
            loss = MAE()
        if logging_metrics is None:
            logging_metrics = nn.ModuleList([SMAPE(), MAE(), RMSE(), MAPE(), MASE()])
        self.save_hyperparameters(ignore=["loss", "logging_metrics"])
        super().__init__(loss=loss, logging_metrics=logging_metrics, **kwargs)
        _check_loss(self.loss)
        config = DLNConfig.coerce(dln)
        if config.parametrization == "flow":
            raise ValueError("parametrization='flow' trains with the closed-form depth flow, "
                             "which pytorch-forecasting's optimizers do not run; use "
                             "parametrization='explicit' here (or lightning_dln.module."
                             "DLNForecaster with optimizer='flow')")
        sizes = list(output_size) if isinstance(output_size, (list, tuple)) \
            else [output_size] * len(targets)
        if len(sizes) != len(targets) or not all(isinstance(q, int) and q >= 1 for q in sizes):
            raise ValueError(f"output_size must be an int >= 1 or one per target {targets}, "
                             f"got {output_size!r}")
        self.output_sizes = sizes
        past, future, static = past_reals or [], future_reals or [], static_reals or []
        for name, names in (("target", targets), ("past", past), ("future", future),
                            ("static", static)):
            self.register_buffer(f"_{name}_idx", positions(list(x_reals), list(names)),
                                 persistent=False)
        self.network = DeepLinearTimeSeries(
            encoder_length, prediction_length, len(targets), config, n_outputs=max(sizes),
            n_past_covariates=len(past), n_future_covariates=len(future),
            n_static_covariates=len(static))

    @classmethod
    def from_dataset(cls, dataset: Any, ignore_categoricals: bool = False,
                     **kwargs: Any) -> DeepLinear:
        """Build the model from a ``TimeSeriesDataSet`` (sizes, targets and covariates).

        Args:
            dataset: the training ``TimeSeriesDataSet`` (fixed encoder and prediction lengths;
                the targets among ``time_varying_unknown_reals``).
            ignore_categoricals: drop categorical variables instead of raising ``ValueError``.
            **kwargs: DLN options (``depth=``, ``width=``, ... or ``dln={...}``), ``loss``,
                ``logging_metrics`` and pytorch-forecasting's ``BaseModel`` arguments.

        Raises:
            ValueError: a dataset the linear model cannot use, invalid DLN options or loss.

        """
        derived = [k for k in DATASET_ARGUMENTS if k in kwargs]
        if derived:
            raise ValueError(f"{derived} are derived from the dataset; do not pass them")
        options = {k: kwargs.pop(k) for k in DLN_OPTIONS if k in kwargs}
        dln = dict(kwargs.pop("dln", None) or {})
        clash = sorted(set(options) & set(dln))
        if clash:
            raise ValueError(f"DLN options {clash} given both as keywords and in dln")
        kwargs["dln"] = DLNConfig.coerce({**dln, **options}).to_dict()
        kwargs.update(dataset_inputs(dataset, ignore_categoricals))
        kwargs.update(cls.deduce_default_output_parameters(dataset, kwargs, MAE()))
        _check_loss(kwargs.get("loss"))
        return super().from_dataset(dataset, **kwargs)

    def core_inputs(self, x: dict[str, Tensor]) -> dict[str, Tensor | None]:
        """Translate a batch ``x`` into the core forecaster's keyword inputs (normalised space)."""
        hp = self.hparams
        return core_inputs(x, hp.encoder_length, hp.prediction_length, len(hp.x_reals),
                           self._target_idx, self._past_idx, self._future_idx, self._static_idx)

    def forward(self, x: dict[str, Tensor]) -> dict[str, Any]:
        """Forecast a pytorch-forecasting batch; ``prediction`` is ``(B, H, Q)`` per target."""
        out = self.network(**self.core_inputs(x))  # (B, H, C, Q)
        prediction = [out[:, :, c, :q] for c, q in enumerate(self.output_sizes)]  # (B, H, Q_c)
        if len(prediction) == 1:
            prediction = prediction[0]
        prediction = self.transform_output(prediction, target_scale=x["target_scale"])
        return self.to_network_output(prediction=prediction)

    def collapse(self, dtype: Any = None) -> CollapsedForecaster:
        """Return the exact end-to-end affine map of the trained network, as one linear layer.

        Its forward on :meth:`core_inputs` equals ``self.network``'s (to float tolerance) at the
        cost of one matrix product, whatever the depth. See
        :meth:`lightning_dln.models.DeepLinearTimeSeries.collapse`.
        """
        return self.network.collapse(dtype)


def _check_loss(loss: Any) -> None:
    metrics = loss.metrics if isinstance(loss, MultiLoss) else [loss]
    bad = [type(m).__name__ for m in metrics if isinstance(m, DistributionLoss)]
    if bad:
        raise ValueError(f"DeepLinear supports point and quantile losses (MAE, RMSE, SMAPE, "
                         f"QuantileLoss, ...), not distribution losses {bad}")
