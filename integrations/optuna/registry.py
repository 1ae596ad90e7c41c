"""The tunable models: name -> :class:`ModelSpec` (objective kind, model class, default space).

``dln`` is the core Lightning path (:class:`~lightning_dln.module.DLNForecaster` on
:class:`~lightning_dln.data.LTSFDataModule`); ``nlinear`` ... ``transformer`` and ``deeplinear``
are darts torch models; ``pf_nhits`` and ``pf_deepar`` are pytorch-forecasting models trained
through their own ``TimeSeriesDataSet`` (:mod:`.pf_objective`); ``linear`` is a closed-form
ridge regression on instance-normalised windows; ``toy`` is an analytic function for smoke
tests of storages and workers. Any other darts torch model is reachable as
``darts:<ClassName>`` (e.g. ``darts:TCNModel``) with a default space of ``lr`` and
``batch_size`` that the YAML's ``space`` section extends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .spaces import Param, SearchSpace

OBJECTIVE_KINDS = ("lightning", "darts", "pf", "linear", "toy")


def _lr(low: float = 1e-5, high: float = 1e-2) -> Param:
    return Param("float", low, high, log=True)


def _batch() -> Param:
    return Param("categorical", choices=(16, 32, 64, 128))


def _dropout() -> Param:
    return Param("float", 0.0, 0.5)


def dln_space() -> SearchSpace:
    """Architecture, optimiser and batch size of the deep linear network (core or darts)."""
    return SearchSpace({
        "parametrization": Param("categorical", choices=("explicit", "flow")),
        "depth": Param("int", 1, 1024, log=True),
        "width": Param("categorical", choices=(None, 64, 128, 256, 512)),
        "factor": Param("categorical", choices=("dense", "lowrank", "diagonal")),
        "rank": Param("int", 2, 64, log=True, when=("factor", ("lowrank",))),
        "init": Param("categorical", choices=("balanced", "orthogonal", "identity_residual",
                                              "small")),
        "init_scale": Param("float", 0.01, 1.0, log=True),
        "residual": Param("categorical", choices=(False, True)),
        "scales": Param("categorical", choices=("1", "1,4", "1,4,24")),
        "temporal_mixing": Param("categorical", choices=(False, True)),
        "channel_mixing": Param("categorical", choices=(False, True)),
        "instance_norm": Param("categorical", choices=("revin", "last", "none")),
        "lr": _lr(),
        "weight_decay": Param("float", 1e-8, 1e-2, log=True),
        "batch_size": _batch(),
    })


def _space(**params: Param) -> Callable[[], SearchSpace]:
    return lambda: SearchSpace({**params, "lr": _lr(1e-4, 1e-2), "batch_size": _batch()})


def _chunks(lookback: int, horizon: int) -> dict[str, int]:
    return {"input_chunk_length": lookback, "output_chunk_length": horizon}


def _rnn_chunks(lookback: int, horizon: int) -> dict[str, int]:
    # RNNModel is autoregressive (output_chunk_length 1); it trains on sequences of L + H steps.
    return {"input_chunk_length": lookback, "training_length": lookback + horizon}


@dataclass(frozen=True)
class ModelSpec:
    """How to tune one model.

    Attributes:
        name: registry name.
        kind: objective kind: ``lightning``, ``darts``, ``pf``, ``linear`` or ``toy``.
        space: the default search space (a fresh one per call).
        target: darts or p-f class as ``module:Class`` (darts and p-f models only).
        windows: darts constructor arguments of the window sizes ``(L, H)``.
        fixed: constructor arguments fixed for every trial (e.g. RNNModel's ``model="LSTM"``).

    """

    name: str
    kind: str
    space: Callable[[], SearchSpace]
    target: str | None = None
    windows: Callable[[int, int], dict[str, int]] = _chunks
    fixed: tuple[tuple[str, Any], ...] = ()


_D = "darts.models"
_PF = "pytorch_forecasting"
MODELS: dict[str, ModelSpec] = {
    "dln": ModelSpec("dln", "lightning", dln_space),
    "linear": ModelSpec("linear", "linear", lambda: SearchSpace({
        "alpha": Param("float", 1e-4, 1e4, log=True),
        "norm": Param("categorical", choices=("mean", "last", "none"))})),
    "toy": ModelSpec("toy", "toy", lambda: SearchSpace(
        {"x": Param("float", -5.0, 5.0), "y": Param("float", -5.0, 5.0)},
        {"steps": 5, "sleep": 0.0})),
    "nlinear": ModelSpec("nlinear", "darts", _space(
        normalize=Param("categorical", choices=(False, True))), f"{_D}:NLinearModel",
        fixed=(("shared_weights", True),)),
    "dlinear": ModelSpec("dlinear", "darts", _space(
        kernel_size=Param("categorical", choices=(13, 25, 49))), f"{_D}:DLinearModel",
        fixed=(("shared_weights", True),)),
    "tide": ModelSpec("tide", "darts", _space(
        num_encoder_layers=Param("int", 1, 3), num_decoder_layers=Param("int", 1, 3),
        hidden_size=Param("categorical", choices=(64, 128, 256)),
        decoder_output_dim=Param("categorical", choices=(4, 8, 16, 32)),
        dropout=_dropout(), use_layer_norm=Param("categorical", choices=(False, True))),
        f"{_D}:TiDEModel"),
    "tsmixer": ModelSpec("tsmixer", "darts", _space(
        hidden_size=Param("categorical", choices=(32, 64, 128)),
        ff_size=Param("categorical", choices=(32, 64, 128)), num_blocks=Param("int", 1, 4),
        dropout=_dropout()), f"{_D}:TSMixerModel"),
    "nbeats": ModelSpec("nbeats", "darts", _space(
        num_stacks=Param("int", 2, 30, log=True), num_blocks=Param("int", 1, 3),
        num_layers=Param("int", 2, 4), layer_widths=Param("categorical", choices=(128, 256, 512)),
        dropout=_dropout()), f"{_D}:NBEATSModel"),
    "nhits": ModelSpec("nhits", "darts", _space(
        num_stacks=Param("int", 1, 3), num_blocks=Param("int", 1, 2),
        num_layers=Param("int", 1, 3), layer_widths=Param("categorical", choices=(128, 256, 512)),
        dropout=_dropout()), f"{_D}:NHiTSModel"),
    "lstm": ModelSpec("lstm", "darts", _space(
        hidden_dim=Param("categorical", choices=(16, 32, 64, 128)),
        n_rnn_layers=Param("int", 1, 3), dropout=_dropout()), f"{_D}:RNNModel",
        windows=_rnn_chunks, fixed=(("model", "LSTM"),)),
    "transformer": ModelSpec("transformer", "darts", _space(
        d_model=Param("categorical", choices=(32, 64, 128)),
        nhead=Param("categorical", choices=(2, 4)), num_encoder_layers=Param("int", 1, 3),
        num_decoder_layers=Param("int", 1, 3),
        dim_feedforward=Param("categorical", choices=(64, 128, 256)), dropout=_dropout()),
        f"{_D}:TransformerModel"),
    "deeplinear": ModelSpec("deeplinear", "darts", dln_space,
                            "lightning_dln.integrations.darts:DeepLinearModel"),
    "pf_nhits": ModelSpec("pf_nhits", "pf", _space(
        hidden_size=Param("categorical", choices=(128, 256, 512)), n_layers=Param("int", 1, 3),
        dropout=_dropout(), weight_decay=Param("float", 1e-8, 1e-2, log=True)),
        f"{_PF}:NHiTS"),
    "pf_deepar": ModelSpec("pf_deepar", "pf", _space(
        hidden_size=Param("categorical", choices=(16, 32, 64, 128)),
        rnn_layers=Param("int", 1, 3), dropout=Param("float", 0.0, 0.3)),
        f"{_PF}:DeepAR", fixed=(("n_samples", 20),)),
}
"""Built-in models. ``deeplinear`` needs the darts adapter (checked when it is used)."""


def model_spec(name: str) -> ModelSpec:
    """Return the spec of ``name``: a registry key or ``darts:<ClassName>`` (darts model).

    Raises:
        ValueError: unknown name (the message lists the known ones).

    """
    if name in MODELS:
        return MODELS[name]
    if isinstance(name, str) and name.startswith("darts:") and name[6:].isidentifier():
        return ModelSpec(name, "darts", _space(), f"{_D}:{name[6:]}")
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)} or "
                     "'darts:<ClassName>' for any darts torch forecasting model")
