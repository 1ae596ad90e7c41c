"""Figures. Every function returns a matplotlib ``Figure`` and never calls ``plt.show()``.

matplotlib is an optional extra (``pip install "lightning-dln[plots]"``), imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            'plots need matplotlib: pip install "lightning-dln[plots]"') from err
    return plt


def plot_forecast(x: Tensor, y: Tensor | None, pred: Tensor, channel: int = 0,
                  quantiles: Sequence[float] | None = None, title: str | None = None) -> Any:
    """Lookback, truth and forecast of one window and channel, with quantile bands.

    Args:
        x: lookback ``(L, C)``.
        y: true future ``(H, C)`` or ``None``.
        pred: forecast ``(H, C)`` or ``(H, C, Q)`` with ``quantiles``.
        channel: channel index to draw.
        quantiles: the quantile levels of the last axis of ``pred``.
        title: figure title.
    """
    if x.dim() != 2 or not 0 <= channel < x.shape[1]:
        raise ValueError(f"channel must be in [0, {x.shape[-1]}) for x of shape "
                         f"{tuple(x.shape)}, got {channel}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    lookback, horizon = x.shape[0], pred.shape[0]
    past = torch.arange(-lookback + 1, 1)
    future = torch.arange(1, horizon + 1)
    ax.plot(past, x[:, channel].detach().cpu(), color="0.35", lw=1, label="lookback")
    if y is not None:
        ax.plot(future, y[:, channel].detach().cpu(), color="black", lw=1.2, label="truth")
    pred = pred.detach().cpu()
    if pred.dim() == 3:
        levels = list(quantiles) if quantiles is not None else list(range(pred.shape[-1]))
        mid = min(range(len(levels)), key=lambda i: abs(levels[i] - 0.5))
        if len(levels) >= 2:
            ax.fill_between(future, pred[:, channel, 0], pred[:, channel, -1], color="C0",
                            alpha=0.25, label=f"{levels[0]:g}-{levels[-1]:g} quantiles")
        ax.plot(future, pred[:, channel, mid], color="C0", lw=1.4, label="forecast (median)")
    else:
        ax.plot(future, pred[:, channel], color="C0", lw=1.4, label="forecast")
    ax.axvline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("step relative to forecast origin")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
