"""Interpretation of trained deep linear forecasters: exact attributions, weight maps, spectra.

The maths lives in :mod:`lightning_dln.theory.interpret` (pure torch); this module connects it to
models: it unwraps a :class:`~lightning_dln.module.DLNForecaster`, a darts ``DeepLinearModel`` or
``DLNModule`` (duck-typed, darts is not imported) or a core forecaster, collapses it to one affine
map and reads the window statistics off its instance norm.

Shape legend: ``B`` windows, ``L`` lookback, ``H`` horizon, ``C`` channels, ``Q`` outputs per
step, ``G`` groups of the temporal map, ``S`` selected forecast steps.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from lightning_dln.models import CollapsedForecaster, DeepLinearTimeSeries
from lightning_dln.theory import effective_rank, singular_values
from lightning_dln.theory.interpret import Attribution, linear_attributions

_FORECASTERS = (DeepLinearTimeSeries, CollapsedForecaster)


def unwrap(model: Any) -> DeepLinearTimeSeries | CollapsedForecaster:
    """Return the core forecaster inside ``model`` (Lightning module, darts model or core).

    Raises:
        ValueError: when no deep linear forecaster is found, or darts' own reversible instance
            norm wraps the network (attributions would miss that outer normalisation).

    """
    obj = model
    for _ in range(4):
        if isinstance(obj, _FORECASTERS):
            return obj
        if getattr(obj, "use_reversible_instance_norm", False):
            raise ValueError("model uses darts' use_reversible_instance_norm: attributions cover "
                             "the network only; use the core's instance_norm='revin' instead")
        inner = getattr(obj, "net", None)
        obj = inner if isinstance(inner, torch.nn.Module) else getattr(obj, "model", None)
        if obj is None:
            break
    raise ValueError(f"model must be a DLNForecaster, a darts DeepLinearModel/DLNModule or a "
                     f"DeepLinearTimeSeries, got {type(model).__name__}")


def collapsed(model: Any, dtype: torch.dtype | None = None) -> CollapsedForecaster:
    """Return the exact affine map of ``model`` (one matrix per group, optional channel mixing).

    Raises:
        ValueError: for the nonlinear control (``activation`` set): it has no exact linear map,
            hence no exact attributions, weight maps or frequency responses.

    """
    core = unwrap(model)
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
    if isinstance(core, CollapsedForecaster):
        return core if dtype is None else copy.deepcopy(core).to(dtype)
    if not core.is_linear:
        raise ValueError(f"activation={core.config.activation!r}: the nonlinear control has no "
                         "single linear map, so collapse-based outputs (attributions, lag x "
                         "horizon maps, frequency responses, spectra) are undefined; train "
                         "with activation=None")
    return core.collapse(dtype)


def horizon_weights(model: Any, dtype: torch.dtype | None = None) -> Tensor:
    """Return the temporal map as lag x horizon weights ``(G, H, Q, L)`` in normalised space."""
    cf = collapsed(model, dtype)
    w = cf.weight.detach()
    return w.view(w.shape[0], cf.horizon, cf.q, cf.lookback)


def norm_terms(core: DeepLinearTimeSeries | CollapsedForecaster,
               x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Normalise ``x (B, L, C)``: ``z (B, C, L)``, ``out_scale`` and ``level`` ``(B, C, 1)``.

    ``forecast = level + out_scale * normalised_forecast`` (``None`` stands for 1 and 0).
    """
    core.check_input(x)
    norm = core.norm
    z, stats = norm.normalize(x)  # (B, C, L)
    if stats is None:
        return z, None, None
    loc, scale = stats
    out_scale = torch.ones_like(loc) if scale is None else scale
    level = loc
    if norm.weight is not None:  # affine RevIN: y = (y_n - beta) / (gamma + eps^2) * s + loc
        out_scale = out_scale / (norm.weight + norm.eps ** 2)
        level = loc - norm.bias * out_scale
    return z, out_scale, level


@torch.no_grad()
def attribute(model: Any, x: Tensor, *, steps: Tensor | list[int] | None = None,
              reduce: str = "lag", baseline: Tensor | None = None,
              past_covariates: Tensor | None = None, future_covariates: Tensor | None = None,
              static_covariates: Tensor | None = None,
              forecaster: CollapsedForecaster | None = None) -> Attribution:
    """Exact contributions of each input lag (and channel, covariate) to the forecasts.

    ``attribute(model, x).total()`` equals ``model(x)`` at the selected steps (as
    ``(B, S, C, Q)``) to float tolerance: these are the exact Shapley values of the affine map
    at the window's own normalisation statistics, relative to ``baseline`` (default: the
    window's level, i.e. ``z = 0``); see :mod:`lightning_dln.theory.interpret` for the terms.

    Args:
        model: a linear DLN (Lightning module, darts model/module, core or collapsed).
        x: windows ``(B, L, C)`` in the model's input units.
        steps: 0-based forecast steps (``None``: all ``H``; memory grows with ``S``).
        reduce: ``"lag"`` (sum over input channels), ``"channel"`` (sum over lags), ``"none"``.
        baseline: baseline windows ``(B, L, C)`` or ``(L, C)``, normalised with each window's
            own statistics (``None``: ``z0 = 0``).
        past_covariates: ``(B, L, P)`` as in the model's forward.
        future_covariates: ``(B, H, F)``.
        static_covariates: ``(B, S)``.
        forecaster: a precomputed :func:`collapsed` map of ``model`` (saves the collapse).

    """
    cf = forecaster if forecaster is not None else collapsed(model)
    x = x.to(cf.weight.dtype)
    z, out_scale, level = norm_terms(cf, x)
    z0 = None
    if baseline is not None:
        if not isinstance(baseline, Tensor) or tuple(baseline.shape) not in (
                tuple(x.shape), tuple(x.shape[1:])) or not bool(torch.isfinite(baseline).all()):
            shape = tuple(baseline.shape) if isinstance(baseline, Tensor) else type(baseline)
            raise ValueError(f"baseline must be a finite tensor of shape {tuple(x.shape)} or "
                             f"{tuple(x.shape[1:])} (windows like x), got {shape}")
        base = baseline.to(x.dtype).expand_as(x).transpose(1, 2)  # (B, C, L)
        loc, scale = _stats(cf, x)
        z0 = base if loc is None else base - loc if scale is None else (base - loc) / scale
        if cf.norm.weight is not None:
            z0 = z0 * cf.norm.weight + cf.norm.bias
    cov = cf.covariates
    cov.forward(x.shape[0], past_covariates, future_covariates, static_covariates)  # checks
    past = None if past_covariates is None else (cov.past_temporal, cov.past_channel,
                                                 past_covariates.to(x.dtype))
    future = None if future_covariates is None else (cov.future_temporal, cov.future_channel,
                                                     future_covariates.to(x.dtype))
    static = None if static_covariates is None else (cov.static, static_covariates.to(x.dtype))
    return attribute_normalised(cf, z, out_scale, level, steps=steps, reduce=reduce,
                                z_baseline=z0, past=past, future=future, static=static)


def attribute_normalised(cf: CollapsedForecaster, z: Tensor, out_scale: Tensor | None,
                         level: Tensor | None, **kwargs: Any) -> Attribution:
    """:func:`attribute` from :func:`norm_terms`' output (reuse one normalisation pass).

    Args:
        cf: the collapsed forecaster.
        z: ``(B, C, L)`` normalised windows.
        out_scale: ``(B, C, 1)`` or ``None``.
        level: ``(B, C, 1)`` or ``None``.
        **kwargs: keyword arguments of
            :func:`~lightning_dln.theory.interpret.linear_attributions` (``steps``, ...).

    """
    return linear_attributions(
        cf.weight.detach(), z, cf.horizon, bias=cf.bias.detach(), out_scale=out_scale,
        level=level,
        channel_weight=None if cf.channel_weight is None else cf.channel_weight.detach(),
        channel_bias=None if cf.channel_bias is None else cf.channel_bias.detach(), **kwargs)


def _stats(cf: CollapsedForecaster, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
    _, stats = cf.norm.normalize(x)
    return (None, None) if stats is None else stats


def spectrum(model: Any) -> tuple[Tensor, Tensor]:
    """Singular values ``(G, min(K, L))`` of the temporal map and their effective rank ``(G,)``."""
    w = collapsed(model, torch.float64).weight.detach()
    s = singular_values(w)
    return s, effective_rank(s, is_spectrum=True)


def check_index(name: str, value: object, size: int) -> int:
    """Return ``value`` as an index in ``[0, size)``; negative values count from the end.

    Raises:
        ValueError: naming ``name`` and the allowed range.

    """
    if isinstance(value, bool) or not isinstance(value, int) or not -size <= value < size:
        raise ValueError(f"{name} must be an integer in [0, {size}) (or [-{size}, 0) from the "
                         f"end), got {value!r}")
    return value % size


def time_unit(freq: str | None) -> tuple[float, str]:
    """Time units per step and the unit's name for a pandas frequency alias.

    ``'1h'`` -> ``(1.0, 'hours')``, ``'15min'`` -> ``(15.0, 'minutes')``, ``'1D'`` ->
    ``(1.0, 'days')``; ``None`` or a calendar frequency without fixed length -> ``(1, 'steps')``.
    """
    if freq is None:
        return 1.0, "steps"
    import pandas as pd

    try:
        seconds = pd.tseries.frequencies.to_offset(freq).nanos / 1e9
    except (ValueError, TypeError):
        return 1.0, "steps"
    for unit, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and (seconds % size == 0 or unit == "minutes"):
            return seconds / size, unit
    return seconds, "seconds"
