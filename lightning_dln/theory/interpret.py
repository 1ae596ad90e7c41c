"""Exact attributions and spectral read-outs of an affine forecaster (torch only).

Given a window's normalisation statistics, a deep linear forecaster is the affine map (shape
legend: ``B`` windows, ``C`` channels, ``L`` lookback, ``K = H * Q`` outputs per channel, ``G``
groups of the temporal map (1 shared, ``C`` per channel), ``S`` selected forecast steps)::

    y[b, c, k] = level[b, c] + out_scale[b, c] * (sum_{c'} M[c, c'] (W_{g(c')} z[b, c'])[k]
                                                  + b_out[c, k] + covariate terms)

with ``M`` the channel-mixing matrix (identity without mixing) and ``b_out`` the end-to-end bias.
For fixed statistics this is affine in ``z``, so the exact Shapley value of input ``(l, c')``
relative to a baseline ``z0`` is ``out_scale * M[c, c'] W[k, l] (z - z0)[c', l]`` and

    forecast = sum(inputs) + sum(covariates) + bias + level                      (exactly)

- ``bias = out_scale * (A z0 + b_out)``: the forecast of the baseline window in output units
  without its level, i.e. the learned biases (temporal stacks and channel mixer) propagated to
  the output, plus the response to ``z0`` (zero for the default ``z0 = 0``).
- ``level``: what the inverse normalisation adds back: the window's mean (``revin``), its last
  value (``last``), 0 (``none``); with an affine RevIN, minus ``beta * out_scale``.
- ``bias + level`` is the forecast at the baseline (covariates at zero). With RevIN the default
  baseline ``z0 = 0`` is the window's own mean, so attributions explain the forecast's deviation
  from "flat at the window mean, plus learned bias".

Lags are counted back from the forecast origin: lag ``1`` is the last observed step
(index ``l = L - 1``), lag ``L`` the oldest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lightning_dln.theory._checks import check_matrix, check_positive

REDUCTIONS = ("lag", "channel", "none")


@dataclass(frozen=True)
class Attribution:
    """An exact decomposition of forecasts at the selected steps (see the module docstring).

    Attributes:
        inputs: target-window contributions: ``(B, S, C, Q, L)`` for ``reduce="lag"`` (summed
            over input channels), ``(B, S, C, Q, C')`` for ``"channel"`` (summed over lags),
            ``(B, S, C, Q, L, C')`` for ``"none"``.
        bias: ``(B, S, C, Q)`` learned bias plus the baseline's response, in output units.
        level: ``(B, S, C, Q)`` the normalisation level added back.
        covariates: per block (``past``, ``future``, ``static``) contributions reduced like
            ``inputs`` (time axis ``L``/``H``; static covariates keep their feature axis).
        steps: ``(S,)`` forecast step indices (0-based).
        reduce: the reduction applied.

    """

    inputs: Tensor
    bias: Tensor
    level: Tensor
    steps: Tensor
    reduce: str
    covariates: dict[str, Tensor] = field(default_factory=dict)

    def baseline(self) -> Tensor:
        """``(B, S, C, Q)`` forecast at the baseline input (covariates at zero)."""
        return self.bias + self.level

    def total(self) -> Tensor:
        """``(B, S, C, Q)`` the sum of every term: equals the forecast at the selected steps."""
        out = self.baseline() + _sum_trailing(self.inputs, self.reduce == "none")
        for name, value in self.covariates.items():
            out = out + _sum_trailing(value, self.reduce == "none" and name != "static")
        return out


def _sum_trailing(x: Tensor, two: bool) -> Tensor:
    return x.sum(dim=(-2, -1)) if two else x.sum(dim=-1)


def linear_attributions(
    weight: Tensor, z: Tensor, horizon: int, *, bias: Tensor | None = None,
    out_scale: Tensor | None = None, level: Tensor | None = None,
    z_baseline: Tensor | None = None, channel_weight: Tensor | None = None,
    channel_bias: Tensor | None = None, steps: Tensor | list[int] | None = None,
    reduce: str = "lag", past: tuple[Tensor, Tensor, Tensor] | None = None,
    future: tuple[Tensor, Tensor, Tensor] | None = None,
    static: tuple[Tensor, Tensor] | None = None,
) -> Attribution:
    """Exact per-input contributions of an affine forecaster (see the module docstring).

    Args:
        weight: ``(G, K, L)`` temporal map, ``K = H * Q`` ordered ``(h, q)`` row-major.
        z: ``(B, C, L)`` normalised windows.
        horizon: ``H``.
        bias: ``(G, K)`` temporal bias (``None``: zero).
        out_scale: ``(B, C, 1)`` factor of the inverse normalisation (``None``: 1).
        level: ``(B, C, 1)`` level of the inverse normalisation (``None``: 0).
        z_baseline: ``(B, C, L)`` or ``(C, L)`` baseline in normalised space (``None``: 0).
        channel_weight: ``(C, C)`` channel mixing ``M``.
        channel_bias: ``(C,)`` bias of the channel mixing.
        steps: forecast step indices in ``[0, H)`` (``None``: all).
        reduce: ``"lag"``, ``"channel"`` or ``"none"``.
        past: ``(temporal (K, L), channel (C, P), values (B, L, P))`` covariate block.
        future: ``(temporal (K, H), channel (C, F), values (B, H, F))`` covariate block.
        static: ``(matrix (K*C, S_f), values (B, S_f))``, rows ordered ``(k, c)``.

    Returns:
        The :class:`Attribution`; ``total()`` equals the forecast to float tolerance.

    Raises:
        ValueError: naming the argument, for wrong shapes, dtypes or indices.

    """
    w = check_matrix("weight", weight)
    if w.ndim != 3:
        raise ValueError(f"weight must have shape (G, K, L), got {tuple(w.shape)}")
    g, k, n_lags = w.shape
    if not isinstance(z, Tensor) or not z.is_floating_point() or not _all_finite(z):
        raise ValueError("z must be a finite floating tensor (B, C, L)")
    if z.ndim != 3 or z.shape[2] != n_lags or g not in (1, z.shape[1]):
        raise ValueError(f"z must have shape (B, C, L={n_lags}) with C = G or G = 1 "
                         f"(G={g}), got {tuple(z.shape)}")
    n_b, n_c, _ = z.shape
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1 or k % horizon:
        raise ValueError(f"horizon must be an integer >= 1 dividing K={k}, got {horizon!r}")
    q = k // horizon
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    sel = check_steps(steps, horizon)
    rows = (sel[:, None] * q + torch.arange(q)[None]).reshape(-1).to(w.device)  # (S*Q,)
    stat_shape = (n_b, n_c, 1)
    so = _optional("out_scale", out_scale, stat_shape, z, 1.0)
    lev = _optional("level", level, stat_shape, z, 0.0)
    dz = z if z_baseline is None else z - _baseline(z_baseline, z)
    mix = torch.eye(n_c, dtype=z.dtype, device=z.device) if channel_weight is None else \
        _shaped("channel_weight", channel_weight, (n_c, n_c)).to(z.dtype)
    ws = w[:, rows].to(z.dtype).expand(n_c, -1, -1)  # (C', S*Q, L)
    so4 = so.view(n_b, n_c, 1, 1)
    if reduce == "lag" and channel_weight is None:  # channel-independent: c' = c only
        inputs = (dz * so)[:, :, None, :] * ws[None]  # (B, C, S*Q, L): one large product
    elif reduce == "lag":  # sum_c' M[c, c'] W_c'[k, l] dz[c', l]
        inputs = torch.einsum("dc,ckl,bcl->bdkl", mix, ws, dz) * so4
    elif reduce == "channel":
        inputs = torch.einsum("dc,bck->bdkc", mix, torch.einsum("ckl,bcl->bck", ws, dz)) * so4
    else:
        inputs = torch.einsum("dc,ckl,bcl->bdklc", mix, ws, dz) * so4[..., None]
    # bias in normalised space: M (W z0 + b) + channel bias, at the selected rows
    b_rows = torch.zeros(n_c, rows.numel(), dtype=z.dtype, device=z.device)
    if bias is not None:
        b_rows = b_rows + _shaped("bias", bias, (g, k)).to(z.dtype)[:, rows].expand(n_c, -1)
    b_norm = torch.einsum("dc,ck->dk", mix, b_rows).expand(n_b, -1, -1)  # (B, C, S*Q)
    if z_baseline is not None:
        z0 = _baseline(z_baseline, z)
        b_norm = b_norm + torch.einsum("dc,ckl,bcl->bdk", mix, ws, z0)
    if channel_bias is not None:
        b_norm = b_norm + _shaped("channel_bias", channel_bias, (n_c,)).to(z.dtype)[:, None]
    covs = _covariates(past, future, static, rows, n_c, k, so4, reduce, n_b)
    out_shape = (n_b, n_c, sel.numel(), q)

    def layout(x: Tensor) -> Tensor:  # (B, C, S*Q, ...) -> (B, S, C, Q, ...)
        return x.reshape(*out_shape, *x.shape[3:]).transpose(1, 2)

    return Attribution(
        inputs=layout(inputs), bias=layout(b_norm * so), level=layout(lev.expand(*out_shape[:2],
                                                                                 rows.numel())),
        steps=sel, reduce=reduce, covariates={name: layout(v) for name, v in covs.items()})


def _covariates(past, future, static, rows: Tensor, n_c: int, k: int, so4: Tensor,
                reduce: str, n_b: int) -> dict[str, Tensor]:
    out = {}
    for name, block in (("past", past), ("future", future)):
        if block is None:
            continue
        temporal, channel, values = block
        check_matrix(f"{name}[0] (temporal)", temporal)
        if temporal.ndim != 2 or temporal.shape[0] != k:
            raise ValueError(f"{name}[0] must have shape (K={k}, T), got {tuple(temporal.shape)}")
        channel = _shaped(f"{name}[1] (channel)", channel, (n_c, channel.shape[-1]))
        values = _shaped(f"{name}[2] (values)", values, (n_b, temporal.shape[1], channel.shape[1]))
        t = temporal[rows].to(so4.dtype)
        if reduce == "lag":
            v = torch.einsum("kt,btp,cp->bckt", t, values, channel)
        elif reduce == "channel":
            v = torch.einsum("kt,btp,cp->bckp", t, values, channel)
        else:
            v = torch.einsum("kt,btp,cp->bcktp", t, values, channel)
        out[name] = v * (so4 if reduce != "none" else so4[..., None])
    if static is not None:
        matrix, values = static
        matrix = _shaped("static[0] (matrix)", matrix, (k * n_c, matrix.shape[-1]))
        values = _shaped("static[1] (values)", values, (n_b, matrix.shape[1]))
        m = matrix.view(k, n_c, -1)[rows].to(so4.dtype)  # (S*Q, C, S_f)
        out["static"] = torch.einsum("kcs,bs->bcks", m, values) * so4
    return out


def check_steps(steps: Tensor | list[int] | None, horizon: int) -> Tensor:
    """Validate forecast step indices in ``[0, horizon)``; ``None`` means all steps."""
    if steps is None:
        return torch.arange(horizon)
    sel = torch.as_tensor(steps)
    if sel.dim() == 0:
        sel = sel[None]
    if sel.dim() != 1 or sel.numel() == 0 or sel.is_floating_point() or sel.dtype == torch.bool:
        raise ValueError(f"steps must be a non-empty list of integers in [0, {horizon}), "
                         f"got {steps!r}")
    if int(sel.min()) < 0 or int(sel.max()) >= horizon:
        raise ValueError(f"steps must lie in [0, {horizon}) (0-based forecast steps), "
                         f"got {sel.tolist()}")
    return sel.long()


def _all_finite(x: Tensor) -> bool:
    """``isfinite(x).all()`` at the cost of one sum when it holds (the common case)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _shaped(name: str, x: object, shape: tuple[int, ...]) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor of shape {shape}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if not _all_finite(x):
        raise ValueError(f"{name} must be finite (no NaN or inf entries)")
    return x


def _optional(name: str, x: Tensor | None, shape: tuple, ref: Tensor, fill: float) -> Tensor:
    if x is None:
        return ref.new_full(shape, fill)
    return _shaped(name, x, shape).to(ref.dtype)


def _baseline(z0: Tensor, z: Tensor) -> Tensor:
    if isinstance(z0, Tensor) and tuple(z0.shape) == tuple(z.shape[1:]):
        z0 = z0.expand_as(z)
    return _shaped("z_baseline", z0, tuple(z.shape)).to(z.dtype)


def frequency_response(weight: Tensor, step: float = 1.0) -> tuple[Tensor, Tensor]:
    """Complex response of each row of a lag filter, ``H_k(f) = sum_l W[k, l] e^{-2 pi i f tau_l}``.

    ``tau_l = L - 1 - l`` is the age of input ``l`` (0 for the last observed step). The gain
    ``|H_k(f)|`` says how strongly an input sinusoid of frequency ``f`` passes to output ``k``;
    the age convention only sets the phase.

    Args:
        weight: ``(..., L)`` rows of lag weights (e.g. ``(H, L)`` or ``(G, K, L)``).
        step: time units per step (e.g. 1 for hourly data in hours, 0.25 for 15 min in hours).

    Returns:
        ``freqs (L // 2 + 1,)`` in cycles per time unit and the response ``(..., L // 2 + 1)``.

    """
    if not isinstance(weight, Tensor) or not weight.is_floating_point() or weight.dim() < 1:
        raise ValueError("weight must be a floating tensor (..., L) of lag weights")
    if not bool(torch.isfinite(weight).all()):
        raise ValueError("weight must be finite (no NaN or inf entries)")
    d = check_positive("step", step)
    n = weight.shape[-1]
    response = torch.fft.rfft(weight.flip(-1), dim=-1)  # index tau = age of the input
    return torch.fft.rfftfreq(n, d=d, dtype=weight.dtype), response


def periodogram(series: Tensor, step: float = 1.0) -> tuple[Tensor, Tensor]:
    """Periodogram of each channel of a series ``(T, C)``: ``|rfft(x - mean)|^2 / T``.

    Returns:
        ``freqs (T // 2 + 1,)`` in cycles per time unit and power ``(T // 2 + 1, C)``
        (``(T // 2 + 1,)`` for a single series ``(T,)``).

    """
    single = isinstance(series, Tensor) and series.ndim == 1
    if not isinstance(series, Tensor) or series.ndim not in (1, 2) or series.shape[0] < 4:
        shape = tuple(series.shape) if isinstance(series, Tensor) else type(series).__name__
        raise ValueError(f"series must be a tensor of shape (T >= 4,) or (T >= 4, C), got {shape}")
    x = check_matrix("series", series.unsqueeze(-1) if single else series)
    d = check_positive("step", step)
    spec = torch.fft.rfft(x - x.mean(dim=0), dim=0)
    power = spec.abs() ** 2 / x.shape[0]
    return torch.fft.rfftfreq(x.shape[0], d=d, dtype=x.dtype), power[:, 0] if single else power


def dominant_periods(freqs: Tensor, power: Tensor, k: int = 5,
                     max_period: float | None = None) -> list[tuple[float, float]]:
    """Return the ``k`` strongest local maxima of a spectrum, as ``(period, value)`` by value.

    A peak within 5 % in frequency of a stronger one (a side lobe of the same line) is skipped.

    Args:
        freqs: ``(F,)`` increasing frequencies (cycles per time unit); ``f = 0`` is skipped.
        power: ``(F,)`` gain or power (average rows/channels first).
        k: number of peaks.
        max_period: ignore longer periods (e.g. the lookback: a longer cycle is a trend to the
            model, and a series' periodogram puts its trend there).

    """
    if not isinstance(freqs, Tensor) or not isinstance(power, Tensor) or freqs.dim() != 1 or \
            tuple(power.shape) != tuple(freqs.shape):
        raise ValueError("freqs and power must be 1-D tensors of the same length")
    if not (_all_finite(freqs) and _all_finite(power)):
        raise ValueError("freqs and power must be finite (no NaN or inf entries)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    p = power.detach().double().cpu()
    f = freqs.detach().double().cpu()
    left = torch.cat([p.new_tensor([-math.inf]), p[:-1]])
    right = torch.cat([p[1:], p.new_tensor([-math.inf])])
    low = 0.0 if max_period is None else 1.0 / check_positive("max_period", max_period)
    peaks = [i for i in range(len(p)) if f[i] > 0 and f[i] >= low and p[i] >= left[i]
             and p[i] > right[i]]
    peaks.sort(key=lambda i: -float(p[i]))
    chosen: list[int] = []
    for i in peaks:  # one peak per spectral line: skip side lobes within 5 % of a stronger one
        if all(abs(f[i] - f[j]) > 0.05 * f[j] for j in chosen):
            chosen.append(i)
    return [(1.0 / float(f[i]), float(p[i])) for i in chosen[:k]]


def top_lags(scores: Tensor, k: int = 5) -> tuple[Tensor, Tensor]:
    """Top-``k`` lags per row of ``scores (..., L)`` by absolute value.

    Returns:
        ``lags (..., k)`` counted back from the forecast origin (1 = last observed step) and the
        signed scores at those lags.

    """
    if not isinstance(scores, Tensor) or not scores.is_floating_point() or scores.dim() < 1:
        raise ValueError("scores must be a floating tensor (..., L)")
    if not _all_finite(scores):
        raise ValueError("scores must be finite (no NaN or inf entries)")
    n = scores.shape[-1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    idx = scores.abs().topk(k, dim=-1).indices
    return n - idx, scores.gather(-1, idx)
