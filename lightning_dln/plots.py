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
    _check_finite("x", x, dims=(2,))
    _check_finite("pred", pred, dims=(2, 3))
    if isinstance(channel, bool) or not isinstance(channel, int) or \
            not 0 <= channel < x.shape[1]:
        raise ValueError(f"channel must be in [0, {x.shape[-1]}) for x of shape "
                         f"{tuple(x.shape)}, got {channel!r}")
    if pred.shape[1] != x.shape[1]:
        raise ValueError(f"pred must have x's {x.shape[1]} channels, got shape {tuple(pred.shape)}")
    if y is not None:
        _check_finite("y", y, dims=(2,))
        if tuple(y.shape) != tuple(pred.shape[:2]):
            raise ValueError(f"y must have shape (H, C) = {tuple(pred.shape[:2])} like pred, "
                             f"got {tuple(y.shape)}")
    if quantiles is not None and (pred.dim() != 3 or len(quantiles) != pred.shape[-1]):
        raise ValueError(f"quantiles must name the {pred.shape[-1] if pred.dim() == 3 else 0} "
                         f"levels of pred's last axis (pred {tuple(pred.shape)}), got {quantiles}")
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


def _check_finite(name: str, x: object, dims: tuple[int, ...]) -> None:
    if not isinstance(x, Tensor) or x.dim() not in dims:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor with {' or '.join(map(str, dims))} dims, "
                         f"got {shape}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf entries)")


def _check_history(history: object, keys: tuple[str, ...]) -> None:
    """Check that ``history`` is a non-empty list of ``TheoryDiagnostics`` records with ``keys``."""
    if not isinstance(history, Sequence) or isinstance(history, str) or not history:
        raise ValueError("history is empty: record some steps with TheoryDiagnostics first")
    for i, record in enumerate(history):
        missing = [k for k in keys if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"history[{i}] must be a TheoryDiagnostics record with keys "
                             f"{list(keys)}; missing {missing}")


def _records(history: Sequence[dict[str, Any]], tag: str | None) -> tuple[str, list[dict]]:
    """Return the tag and the records of one map of a ``TheoryDiagnostics`` history."""
    _check_history(history, ("step", "tag", "singular_values", "effective_rank"))
    tags = list(dict.fromkeys(r["tag"] for r in history))
    tag = tags[0] if tag is None else tag
    if tag not in tags:
        raise ValueError(f"tag must be one of {tags}, got {tag!r}")
    return tag, [r for r in history if r["tag"] == tag]


def plot_spectrum_trajectory(history: Sequence[dict[str, Any]], tag: str | None = None,
                             top_k: int | None = 10, title: str | None = None) -> Any:
    """Singular values and effective rank of one end-to-end map over training.

    Args:
        history: ``TheoryDiagnostics.history`` (records with ``step``, ``tag``,
            ``singular_values`` and ``effective_rank``).
        tag: the map to draw (default: the first recorded).
        top_k: draw the ``top_k`` largest singular values (``None``: all).
        title: figure title.

    """
    tag, recs = _records(history, tag)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None or an integer >= 1, got {top_k!r}")
    plt = _pyplot()
    steps = [r["step"] for r in recs]
    spectra = torch.tensor([r["singular_values"] for r in recs], dtype=torch.float64)  # (T, k)
    k = spectra.shape[1] if top_k is None else min(top_k, spectra.shape[1])
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = plt.cm.viridis(torch.linspace(0, 0.9, k).tolist())
    for i in range(k):
        ax_s.plot(steps, spectra[:, i].clamp_min(1e-300), color=colors[i], lw=1.2,
                  label=f"$\\sigma_{{{i + 1}}}$" if i < 5 or i == k - 1 else None)
    ax_s.set_yscale("log")
    ax_s.set_xlabel("step")
    ax_s.set_ylabel("singular value")
    ax_s.legend(fontsize=7, ncol=2)
    ax_e.plot(steps, [r["effective_rank"] for r in recs], color="C3", lw=1.4)
    ax_e.set_xlabel("step")
    ax_e.set_ylabel("effective rank exp H(s / sum s)")
    fig.suptitle(title or f"spectrum of {tag}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_balancedness(history: Sequence[dict[str, Any]], title: str | None = None) -> Any:
    """Relative imbalance ``max_j ||D_j|| / max_j ||W_j W_j^T||`` of every map over training.

    Exact zeros (depth 1, the flow parametrisation) are drawn at the bottom of the log axis.

    Args:
        history: ``TheoryDiagnostics.history`` (records with ``step``, ``tag``, ``balancedness``).
        title: figure title.

    """
    _check_history(history, ("step", "tag", "balancedness"))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    floor = 1e-17
    for tag in dict.fromkeys(r["tag"] for r in history):
        recs = [r for r in history if r["tag"] == tag]
        ax.plot([r["step"] for r in recs], [max(r["balancedness"], floor) for r in recs],
                lw=1.4, marker=".", label=tag)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("relative imbalance")
    ax.legend(fontsize=8)
    ax.set_title(title or "balancedness (0 = exactly balanced)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_flow_vs_explicit(runs: dict[Any, dict[str, Sequence[float]]],
                          steps: Sequence[float] | None = None, title: str | None = None) -> Any:
    """Explicit balanced gradient descent vs the closed-form depth flow, one line per depth.

    Args:
        runs: ``{depth: {"explicit_loss": [...], "flow_loss": [...], "distance": [...]}}`` with
            ``distance`` the relative Frobenius distance ``||W_explicit - W_flow|| / ||W_flow||``
            of the end-to-end matrices, all recorded at the same ``steps``.
        steps: the recorded steps (default ``0, 1, 2, ...``).
        title: figure title.

    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must hold at least one depth")
    for depth, run in runs.items():
        curves = ("explicit_loss", "flow_loss", "distance")
        if not isinstance(run, dict) or any(k not in run for k in curves):
            raise ValueError(f"runs[{depth!r}] must be a mapping with keys {list(curves)}")
        n = len(run["flow_loss"]) if steps is None else len(steps)
        if any(len(run[k]) != n for k in curves):
            raise ValueError(f"runs[{depth!r}]: every curve must have {n} points (one per step), "
                             f"got {[len(run[k]) for k in curves]}")
    plt = _pyplot()
    fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (depth, run) in enumerate(runs.items()):
        xs = list(range(len(run["flow_loss"]))) if steps is None else list(steps)
        ax_l.plot(xs, run["explicit_loss"], color=f"C{i}", lw=1.6, label=f"explicit N={depth}")
        ax_l.plot(xs, run["flow_loss"], color=f"C{i}", lw=1.2, ls="--", label=f"flow N={depth}")
        ax_d.plot(xs, [max(d, 1e-17) for d in run["distance"]], color=f"C{i}", lw=1.4,
                  label=f"N={depth}")
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss")
    ax_l.set_yscale("log")
    ax_l.legend(fontsize=7, ncol=2)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("||W_explicit - W_flow|| / ||W_flow||")
    ax_d.set_yscale("log")
    ax_d.legend(fontsize=8)
    fig.suptitle(title or "explicit balanced GD (lr0/N per layer) vs depth flow", fontsize=10)
    fig.tight_layout()
    return fig
