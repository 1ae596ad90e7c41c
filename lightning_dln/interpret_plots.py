"""Interpretation figures. Every function returns a matplotlib ``Figure``; none calls ``show()``.

Axes are in the data's time units: pass the data module's ``freq`` (``'1h'`` -> hours, see
:func:`lightning_dln.interpret.time_unit`). Lags count back from the forecast origin (lag 1 is
the last observed step); forecast steps count forward (step 1 is the first forecast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_dln.interpret import time_unit
from lightning_dln.plots import _pyplot

_SHORT = {"hours": "h", "minutes": "min", "days": "d", "weeks": "w", "seconds": "s",
          "steps": "steps"}


def _matrix(name: str, x: object, ndim: int) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != ndim or 0 in x.shape:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty {ndim}-D tensor, got {got}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf entries)")
    return x.detach().cpu().double()


def plot_lag_horizon(weights: Tensor, freq: str | None = None, title: str | None = None) -> Any:
    """Heatmap of the temporal map: weight of each lag (x) for each forecast step (y).

    Args:
        weights: ``(H, L)`` lag weights in normalised space (one group, one output ``q``).
        freq: pandas frequency of the data (axes in its time units).
        title: figure title.

    """
    w = _matrix("weights", weights, 2)
    step, unit = time_unit(freq)
    horizon, lookback = w.shape
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    # robust colour range: a few large recent-lag weights would wash out the seasonal stripes
    vmax = float(torch.quantile(w.abs().flatten(), 0.995)) or float(w.abs().max()) or 1.0
    # column l holds lag L - l: flip so lags grow to the right
    image = ax.imshow(w.flip(-1).numpy(), aspect="auto", origin="lower", cmap="RdBu_r",
                      interpolation="nearest",
                      vmin=-vmax, vmax=vmax,
                      extent=(0.5 * step, (lookback + 0.5) * step, 0.5 * step,
                              (horizon + 0.5) * step))
    ax.set_xlabel(f"lag before the forecast origin ({unit})")
    ax.set_ylabel(f"forecast step ({unit} ahead)")
    fig.colorbar(image, ax=ax, extend="both", label="weight (normalised; clipped at 99.5 %)")
    ax.set_title(title or "lag x horizon weights", fontsize=10)
    fig.tight_layout()
    return fig


def plot_frequency_response(freqs: Tensor, response: Tensor, freq: str | None = None,
                            periods: Sequence[float] = (), title: str | None = None) -> Any:
    """Gain per input frequency: mean over forecast steps, and the first and last step.

    Args:
        freqs: ``(F,)`` frequencies in cycles per time unit (from ``frequency_response`` with
            the data's step).
        response: ``(H, F)`` complex response or gain per forecast step.
        freq: pandas frequency of the data (axis labels).
        periods: seasonal periods (time units) found in the data, marked as dashed lines.
        title: figure title.

    """
    f = _matrix("freqs", freqs, 1)
    gain = _matrix("response", response.abs() if isinstance(response, Tensor) else response, 2)
    if gain.shape[1] != f.shape[0]:
        raise ValueError(f"response must have shape (H, F={f.shape[0]}), got {tuple(gain.shape)}")
    _, unit = time_unit(freq)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(f, gain.mean(0), color="C0", lw=1.6, label="mean over forecast steps")
    ax.plot(f, gain[0], color="C1", lw=0.9, alpha=0.8, label="step 1")
    ax.plot(f, gain[-1], color="C2", lw=0.9, alpha=0.8, label=f"step {gain.shape[0]}")
    for p in periods:
        if p > 0 and f[-1] >= 1.0 / p:
            ax.axvline(1.0 / p, color="0.4", lw=0.8, ls="--")
            ax.text(1.0 / p, 0.98, f" {p:.4g} {_SHORT.get(unit, unit)}", rotation=90,
                    va="top", ha="left", fontsize=7, color="0.3",
                    transform=ax.get_xaxis_transform())  # x in data, y in axes units
    ax.set_xlabel(f"input frequency (cycles per {unit.rstrip('s')})")
    ax.set_ylabel("gain |H(f)|")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "frequency response of the temporal map (dashed: data periods)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_spectra(spectra: Mapping[str, Tensor], ranks: Mapping[str, float] | None = None,
                 title: str | None = None) -> Any:
    """Singular values of several temporal maps side by side (e.g. models of different depth).

    Args:
        spectra: label -> singular values ``(r,)`` (descending).
        ranks: label -> effective rank, shown in each panel's title.
        title: figure title.

    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise ValueError("spectra must be a non-empty mapping label -> singular values")
    checked = {label: _matrix(f"spectra[{label!r}]", s, 1) for label, s in spectra.items()}
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(spectra), figsize=(3.2 * len(spectra) + 1, 3.2),
                             squeeze=False, sharey=True)
    for ax, (label, s) in zip(axes[0], checked.items(), strict=True):
        ax.semilogy(torch.arange(1, len(s) + 1), s.clamp_min(1e-12), marker=".", ms=3, lw=0.8)
        rank = f", erank {ranks[label]:.1f}" if ranks and label in ranks else ""
        ax.set_title(f"{label}{rank}", fontsize=9)
        ax.set_xlabel("index i")
    axes[0][0].set_ylabel("singular value sigma_i")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_attribution(contributions: Tensor, x: Tensor, freq: str | None = None,
                     title: str | None = None) -> Any:
    """One forecast's exact attribution over lags, under the input window it explains.

    Args:
        contributions: ``(L,)`` contributions of each lag (oldest first, as ``x``).
        x: ``(L,)`` the input channel's window.
        freq: pandas frequency of the data.
        title: figure title.

    """
    c = _matrix("contributions", contributions, 1)
    v = _matrix("x", x, 1)
    if v.shape != c.shape:
        raise ValueError(f"x must have shape {tuple(c.shape)} like contributions, "
                         f"got {tuple(v.shape)}")
    step, unit = time_unit(freq)
    lags = torch.arange(len(c), 0, -1) * step
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
    top.plot(lags, v, color="0.3", lw=1)
    top.set_ylabel("input")
    bottom.bar(lags, c, width=step, color=["C3" if a < 0 else "C0" for a in c.tolist()])
    bottom.set_ylabel("contribution")
    bottom.set_xlabel(f"lag before the forecast origin ({unit})")
    bottom.invert_xaxis()  # time runs left to right
    top.set_title(title or "exact attribution over lags", fontsize=10)
    fig.tight_layout()
    return fig


def plot_darts_forecast(series: Any, forecast: Any, low_quantile: float = 0.1,
                        high_quantile: float = 0.9, past_steps: int | None = None,
                        title: str | None = None) -> Any:
    """Plot a darts forecast with its quantile band, drawn with darts' own ``TimeSeries.plot``.

    Works for any darts model: a stochastic ``forecast`` (``num_samples > 1``, e.g. from
    ``QuantileRegression``) gets the ``low_quantile``-``high_quantile`` band.

    Args:
        series: the observed darts ``TimeSeries``.
        forecast: the forecast ``TimeSeries``.
        low_quantile: lower edge of the band, in ``(0, high_quantile)``.
        high_quantile: upper edge of the band, in ``(low_quantile, 1)``.
        past_steps: show only this many last observed steps (``None``: all).
        title: figure title.

    """
    for name, ts in (("series", series), ("forecast", forecast)):
        if not callable(getattr(ts, "plot", None)) or not hasattr(ts, "n_samples"):
            raise ValueError(f"{name} must be a darts TimeSeries, got {type(ts).__name__}")
    if not 0 < low_quantile < high_quantile < 1:
        raise ValueError(f"low_quantile and high_quantile must satisfy 0 < low < high < 1, got "
                         f"{low_quantile!r}, {high_quantile!r}")
    if past_steps is not None:
        if isinstance(past_steps, bool) or not isinstance(past_steps, int) or past_steps < 1:
            raise ValueError(f"past_steps must be None or an integer >= 1, got {past_steps!r}")
        series = series[-past_steps:]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.4))
    series.plot(ax=ax, label="actual")
    forecast.plot(ax=ax, low_quantile=low_quantile, high_quantile=high_quantile,
                  label="forecast")
    ax.set_xlabel(ax.get_xlabel() or "time")
    ax.set_ylabel("value")
    ax.set_title(title or f"forecast with {low_quantile:g}-{high_quantile:g} quantile band",
                 fontsize=10)
    fig.tight_layout()
    return fig


def interpretation_figures(model: Any, freq: str | None = None, periods: Sequence[float] = (),
                           group: int = 0) -> dict[str, Any]:
    """Draw the model-only figures: lag x horizon map, frequency response and spectrum.

    Args:
        model: a linear DLN (anything :func:`lightning_dln.interpret.collapsed` accepts).
        freq: pandas frequency of the data (axes in its time units).
        periods: seasonal periods of the data to mark on the frequency response.
        group: which temporal map of a per-channel model (channel index); 0 when shared.

    Returns:
        ``{"lag_horizon": Figure, "frequency_response": Figure, "spectrum": Figure}``.

    """
    from lightning_dln.interpret import check_index, horizon_weights, spectrum
    from lightning_dln.theory.interpret import frequency_response

    weights = horizon_weights(model, torch.float64)  # (G, H, Q, L)
    g = check_index("group", group, weights.shape[0]) if weights.shape[0] > 1 else 0
    w = weights[g, :, weights.shape[2] // 2]  # (H, L): the middle output (median quantile)
    step, _ = time_unit(freq)
    freqs, response = frequency_response(w, step)
    s, ranks = spectrum(model)
    return {
        "lag_horizon": plot_lag_horizon(w, freq),
        "frequency_response": plot_frequency_response(freqs, response, freq, periods),
        "spectrum": plot_spectra({"temporal map": s[g]}, {"temporal map": float(ranks[g])}),
    }
