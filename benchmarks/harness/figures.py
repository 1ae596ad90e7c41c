"""Figures of the harness (matplotlib, returned as Figures; never shown)."""

from __future__ import annotations

import math
import statistics
from typing import Any

INF_X = 1e4  # where depth 'inf' (the N = infinity flow) is drawn
OFF_SCALE = 10.0  # a point above this many times the panel's median MSE is drawn at the top edge


def _cap(values: list[float]) -> float | None:
    """The panel's y ceiling when a blown-up run (a finite divergence) would flatten the rest.

    A depth flow that diverged without reaching inf scored 2.97e20 on weather; drawn as is, it
    squashes every other point onto one line. Such points are drawn at the cap, marked and
    labelled with their value instead.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    cap = OFF_SCALE * statistics.median(finite)
    return cap if max(finite) > cap else None


def _mark_off_scale(ax, points: list[tuple[float, float]], cap: float | None) -> None:
    """Draw ``(x, y)`` points above ``cap`` at the cap with their value, and cut the axis there."""
    if cap is None:
        return
    for x, y in points:
        if y > cap:
            ax.scatter([x], [cap], marker="^", color="k", zorder=5)
            ax.annotate(f"{y:.3g} (off scale)", (x, cap), fontsize=6, ha="center",
                        va="top", xytext=(0, -6), textcoords="offset points")
    ax.set_ylim(top=cap * 1.05)


def _depth(value: str) -> float:
    return INF_X if value == "inf" else float(value)


def _panels(horizons: list[int]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(horizons), figsize=(4.2 * len(horizons), 3.6), squeeze=False)
    return fig, axes[0]


def mse_vs_depth(rows: list[dict[str, Any]], dataset: str):
    """Test MSE vs depth per DLN family (mean ± std), the closed form as a dashed line."""
    dln = [a for a in rows if a["family"].startswith("dln") and a["depth"]]
    if not dln:
        return None
    horizons = sorted({a["horizon"] for a in rows})
    families = sorted({a["family"] for a in dln})
    colors = {family: f"C{i}" for i, family in enumerate(families)}  # same colour in every panel
    closed_rows = [a for a in rows if a["family"] == "closed_form"]
    closed = sorted({a["model"] for a in closed_rows})
    styles = dict(zip(closed, ["--", ":", "-."] * len(closed), strict=False))
    fig, axes = _panels(horizons)
    for ax, h in zip(axes, horizons, strict=True):
        cap = _cap([a["mse"] for a in dln + closed_rows if a["horizon"] == h])
        for family in families:
            pts = sorted((_depth(a["depth"]), a["mse"], a["mse_std"]) for a in dln
                         if a["family"] == family and a["horizon"] == h)
            if pts:
                xs, ys, es = zip(*pts, strict=True)
                off = [cap is not None and y > cap for y in ys]
                shown = [cap if o else y for y, o in zip(ys, off, strict=True)]
                es = [0 if o or math.isnan(e) else e for e, o in zip(es, off, strict=True)]
                ax.errorbar(xs, shown, yerr=es, marker="o", capsize=3, label=family,
                            color=colors[family])
                _mark_off_scale(ax, list(zip(xs, ys, strict=True)), cap)
        for a in closed_rows:
            if a["horizon"] == h:
                ax.axhline(a["mse"], ls=styles[a["model"]], color="k", lw=1, label=a["model"])
        ax.set_xscale("log")
        ax.set_title(f"{dataset} H={h}")
        ax.set_xlabel("depth N (rightmost: inf)")
        ax.set_ylabel("test MSE")
        ax.grid(alpha=0.3)
    legend = {}  # one legend for the figure: every family, whichever panel has it
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=len(legend),
               fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def accuracy_vs_time(rows: list[dict[str, Any]], dataset: str):
    """Test MSE vs training seconds, one point per trained model (naive references left out)."""
    horizons = sorted({a["horizon"] for a in rows})
    fig, axes = _panels(horizons)
    for ax, h in zip(axes, horizons, strict=True):
        shown = [a for a in rows if a["horizon"] == h and a["family"] != "naive"]
        cap = _cap([a["mse"] for a in shown])
        for a in shown:
            marker = "o" if a["family"].startswith("dln") else ("s" if a["family"] in (
                "linear", "closed_form") else "^")
            x, y = max(a["train_seconds"], 1e-2), a["mse"]
            if cap is not None and y > cap:
                _mark_off_scale(ax, [(x, y)], cap)
                y = cap
            else:
                ax.scatter(x, y, marker=marker)
            ax.annotate(a["model"], (x, y), fontsize=6)
        ax.set_xscale("log")
        ax.set_title(f"{dataset} H={h} (o DLN, s linear, ^ nonlinear)")
        ax.set_xlabel("training seconds")
        ax.set_ylabel("test MSE")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
