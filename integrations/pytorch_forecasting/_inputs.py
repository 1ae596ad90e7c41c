"""Translate a ``TimeSeriesDataSet`` and its batches into the core forecaster's inputs.

No maths here: only which continuous column of pytorch-forecasting's ``x_reals`` feeds which
input of :class:`~lightning_dln.models.DeepLinearTimeSeries`, plus the checks that make a
dataset the linear model cannot use fail early with a ``ValueError``.

Shape legend (pytorch-forecasting's words -> ours): ``B`` batch; ``L`` = ``max_encoder_length``
(lookback); ``H`` = ``max_prediction_length`` (horizon); ``R`` = ``len(x_reals)`` continuous
columns of ``encoder_cont``/``decoder_cont``; ``C`` = number of targets (channels);
``P`` past reals (known and unknown time-varying reals other than the targets, encoder part);
``F`` known reals (``time_varying_known_reals``, decoder part); ``S`` static reals.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def dataset_inputs(dataset: Any, ignore_categoricals: bool = False) -> dict[str, Any]:
    """Sizes and column roles of a ``TimeSeriesDataSet``, checked for a linear model.

    Args:
        dataset: the ``TimeSeriesDataSet`` (training set).
        ignore_categoricals: drop categorical variables instead of raising (a linear model of
            the reals cannot use them; one-hot encode them as reals to use them).

    Returns:
        ``encoder_length``, ``prediction_length``, ``targets``, ``x_reals``, ``past_reals``,
        ``future_reals`` and ``static_reals`` (keyword arguments of ``DeepLinear``).

    Raises:
        ValueError: categorical target, variable encoder or prediction length, targets missing
            from the reals, or categorical variables without ``ignore_categoricals``.

    """
    from pytorch_forecasting.data.encoders import MultiNormalizer, NaNLabelEncoder

    normalizers = dataset.target_normalizer.normalizers \
        if isinstance(dataset.target_normalizer, MultiNormalizer) else [dataset.target_normalizer]
    if any(isinstance(n, NaNLabelEncoder) for n in normalizers):
        raise ValueError("DeepLinear forecasts numeric targets only; the dataset has a "
                         "categorical target (NaNLabelEncoder target_normalizer)")
    if dataset.min_encoder_length != dataset.max_encoder_length:
        raise ValueError(
            "DeepLinear needs a fixed encoder length: build the TimeSeriesDataSet with "
            f"min_encoder_length = max_encoder_length (got {dataset.min_encoder_length} and "
            f"{dataset.max_encoder_length})")
    if dataset.min_prediction_length != dataset.max_prediction_length:
        raise ValueError(
            "DeepLinear needs a fixed prediction length: build the TimeSeriesDataSet with "
            f"min_prediction_length = max_prediction_length (got {dataset.min_prediction_length}"
            f" and {dataset.max_prediction_length})")
    if dataset.randomize_length is not None:
        raise ValueError("DeepLinear needs fixed lengths: build the TimeSeriesDataSet with "
                         f"randomize_length=None, got {dataset.randomize_length!r}")
    targets = list(dataset.target_names)
    x_reals = list(dataset.reals)
    missing = [t for t in targets if t not in dataset._time_varying_unknown_reals]
    if missing:
        raise ValueError(
            f"DeepLinear reads the targets' history from the continuous inputs, but {missing} "
            "is not among time_varying_unknown_reals; add it there (categorical-only inputs "
            "give a linear model nothing to read)")
    categoricals = list(dataset.flat_categoricals)
    if categoricals and not ignore_categoricals:
        raise ValueError(
            f"DeepLinear is linear in the continuous inputs and cannot use the categorical "
            f"variables {categoricals}; drop them from the TimeSeriesDataSet, encode them as "
            "reals (e.g. one-hot columns in time_varying_known_reals), or pass "
            "ignore_categoricals=True to from_dataset")
    known = list(dataset._time_varying_known_reals)
    return {
        "encoder_length": int(dataset.max_encoder_length),
        "prediction_length": int(dataset.max_prediction_length),
        "targets": targets,
        "x_reals": x_reals,
        "past_reals": [n for n in known + list(dataset._time_varying_unknown_reals)
                       if n not in targets],
        "future_reals": [n for n in known if n not in targets],
        "static_reals": list(dataset._static_reals),
    }


def positions(x_reals: list[str], names: list[str]) -> Tensor:
    """Column indices of ``names`` in ``x_reals`` (a long tensor, possibly empty)."""
    unknown = [n for n in names if n not in x_reals]
    if unknown:
        raise ValueError(f"{unknown} are not among x_reals {x_reals}")
    return torch.tensor([x_reals.index(n) for n in names], dtype=torch.long)


def core_inputs(x: dict[str, Tensor], encoder_length: int, prediction_length: int,
                n_reals: int, target_idx: Tensor, past_idx: Tensor, future_idx: Tensor,
                static_idx: Tensor) -> dict[str, Tensor | None]:
    """Keyword arguments of the core forward from one pytorch-forecasting batch ``x``.

    Raises:
        ValueError: the batch's encoder length, prediction length or number of continuous
            columns differs from what the model was built for.

    """
    enc, dec = x["encoder_cont"], x["decoder_cont"]  # (B, L, R), (B, H, R)
    lengths = x.get("encoder_lengths")
    if enc.shape[1] != encoder_length or (lengths is not None and bool(
            (lengths != encoder_length).any())):
        got = sorted({int(v) for v in lengths.tolist()}) if lengths is not None else enc.shape[1]
        raise ValueError(
            f"this batch has encoder length {got} but DeepLinear was built for "
            f"max_encoder_length={encoder_length}; predict with a TimeSeriesDataSet made by "
            "TimeSeriesDataSet.from_dataset(training, ...) or with the same fixed "
            "min_encoder_length = max_encoder_length")
    if dec.shape[1] != prediction_length:
        raise ValueError(f"this batch has prediction length {dec.shape[1]} but DeepLinear was "
                         f"built for max_prediction_length={prediction_length}")
    if enc.shape[-1] != n_reals:
        raise ValueError(f"this batch has {enc.shape[-1]} continuous columns but DeepLinear was "
                         f"built for the dataset's {n_reals} reals")
    return {
        "x": enc[..., target_idx],  # (B, L, C)
        "past_covariates": enc[..., past_idx] if past_idx.numel() else None,  # (B, L, P)
        "future_covariates": dec[..., future_idx] if future_idx.numel() else None,  # (B, H, F)
        "static_covariates": enc[:, 0, static_idx] if static_idx.numel() else None,  # (B, S)
    }
