"""Figures of the harness (matplotlib, returned as Figures; never shown)."""

from __future__ import annotations

import math
from typing import Any

INF_X = 1e4  # where depth 'inf' (the N = infinity flow) is drawn


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
    closed = sorted({a["model"] for a in rows if a["family"] == "closed_form"})
    styles = dict(zip(closed, ["--", ":", "-."] * len(closed), strict=False))
    fig, axes = _panels(horizons)
    for ax, h in zip(axes, horizons, strict=True):
        for family in families:
            pts = sorted((_depth(a["depth"]), a["mse"], a["mse_std"]) for a in dln
                         if a["family"] == family and a["horizon"] == h)
            if pts:
                xs, ys, es = zip(*pts, strict=True)
                es = [0 if math.isnan(e) else e for e in es]
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=family,
                            color=colors[family])
        for a in rows:
            if a["horizon"] == h and a["family"] == "closed_form":
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
        for a in (a for a in rows if a["horizon"] == h and a["family"] != "naive"):
            marker = "o" if a["family"].startswith("dln") else ("s" if a["family"] in (
                "linear", "closed_form") else "^")
            ax.scatter(max(a["train_seconds"], 1e-2), a["mse"], marker=marker)
            ax.annotate(a["model"], (max(a["train_seconds"], 1e-2), a["mse"]), fontsize=6)
        ax.set_xscale("log")
        ax.set_title(f"{dataset} H={h} (o DLN, s linear, ^ nonlinear)")
        ax.set_xlabel("training seconds")
        ax.set_ylabel("test MSE")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
