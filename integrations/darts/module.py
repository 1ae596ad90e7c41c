"""The darts ``PLForecastingModule`` wrapping the core :class:`DeepLinearTimeSeries` unchanged.

Shape legend (darts' words -> ours):

- ``B``: batch size (darts' ``batch_size``, or samples x series at prediction).
- ``L``: ``input_chunk_length`` (our lookback).
- ``H``: ``output_chunk_length`` (our horizon); ``output_chunk_shift`` only moves the window.
- ``C``: target components, ``n_targets`` (our channels).
- ``Q``: ``nr_params`` = ``likelihood.num_parameters``, or 1 (our ``n_outputs``).
- ``P``: past covariate components + historic future covariate components (our past covariates).
- ``F``: future covariate components (our future covariates, ``(B, H, F)``).
- ``S``: static covariates flattened, components x static features (our static covariates).

darts calls :meth:`DLNModule.forward` with a ``PLModuleInput``; we route its tensors to the core
forward ``(x, past_covariates, future_covariates, static_covariates) -> (B, H, C, Q)``.
"""

from __future__ import annotations

import torch
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.utils.data.torch_datasets.utils import ModuleStage, PLModuleInput, PLModuleOutput
from torch import Tensor

from lightning_dln.distributed import destroy_process_group_at_exit
from lightning_dln.models import CollapsedForecaster, DeepLinearTimeSeries


class DLNModule(PLForecastingModule):
    """Deep linear network as a darts Lightning module (``pytorch_lightning`` namespace).

    Args:
        n_targets: target components ``C``.
        config: the architecture, a dict of :class:`~lightning_dln.models.DLNConfig` fields
            (plain types, so that checkpoints load safely).
        nr_params: outputs per step ``Q`` (``likelihood.num_parameters`` or 1).
        n_past_covariates: ``P``, past plus historic future covariate components.
        n_future_covariates: ``F``, future covariate components.
        n_static_covariates: ``S``, flattened static covariates.
        **kwargs: darts' :class:`PLForecastingModule` arguments (chunk lengths, loss, likelihood,
            optimizer, scheduler, ``use_reversible_instance_norm``, ...).

    """

    def __init__(self, n_targets: int, config: dict, nr_params: int = 1,
                 n_past_covariates: int = 0, n_future_covariates: int = 0,
                 n_static_covariates: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = DeepLinearTimeSeries(
            self.input_chunk_length, self.output_chunk_length, n_targets, config,
            n_outputs=nr_params, n_past_covariates=n_past_covariates,
            n_future_covariates=n_future_covariates, n_static_covariates=n_static_covariates)
        self.collapsed_predict = False
        self._collapsed: list[CollapsedForecaster] = []  # a list keeps it out of state_dict
        self._collapsed_key: tuple | None = None

    @io_processor
    def forward(self, x_in: PLModuleInput) -> PLModuleOutput:
        """Forecast ``(B, H, C, Q)`` from darts' named input tensors."""
        past = [t for t in (x_in.past_covariates, x_in.historic_future_covariates)
                if t is not None]
        past = torch.cat(past, dim=2) if past else None  # (B, L, P)
        future = x_in.future_covariates
        if future is not None and future.shape[1] < self.output_chunk_length:
            # darts passes fewer than H steps when predicting n < H: pad, as NLinear does
            future = torch.nn.functional.pad(
                future, (0, 0, 0, self.output_chunk_length - future.shape[1]))  # (B, H, F)
        static = x_in.static_covariates
        static = static.flatten(1) if static is not None else None  # (B, S)
        use_collapsed = (self.collapsed_predict and self._collapsed
                         and x_in.stage is ModuleStage.PREDICT)
        net = self._collapsed[0] if use_collapsed else self.net
        return PLModuleOutput(prediction=net(x_in.past_target, past, future, static))

    def collapse(self) -> CollapsedForecaster:
        """Return the exact end-to-end affine map of :attr:`net`, accumulated in float64.

        Returns:
            A :class:`~lightning_dln.models.CollapsedForecaster` in the dtype and on the
            device of :attr:`net`, with the same forward.

        """
        param = next(self.net.parameters())
        return self.net.collapse(torch.float64).to(device=param.device, dtype=param.dtype)

    def setup(self, stage: str) -> None:
        """Register the process-group teardown at exit (see :mod:`lightning_dln.distributed`)."""
        super().setup(stage)
        if self._trainer is not None and self.trainer.world_size > 1:
            destroy_process_group_at_exit()

    def on_predict_start(self) -> None:
        """Collapse the current weights, once per change of weights, for collapsed prediction."""
        super().on_predict_start()
        if not self.collapsed_predict:
            return
        # optimizer steps and load_state_dict bump _version; .to() moves data_ptr
        key = tuple((p.data_ptr(), p.dtype, p._version) for p in self.net.parameters())
        if key != self._collapsed_key:
            self._collapsed, self._collapsed_key = [self.collapse()], key

    def linear_operator(self) -> tuple[Tensor, Tensor]:
        """Return the normalised-space operator (see ``DeepLinearTimeSeries.linear_operator``)."""
        return self.net.linear_operator()
