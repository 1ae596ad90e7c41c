"""Markdown tables, a summary CSV and figures from the runs CSV of a grid.

Per dataset: MSE/MAE mean +- std over seeds for every model and horizon (best per horizon in
bold), the winner of each horizon with its lead over the runner-up and whether that lead
exceeds the spread (``lead > std_best + std_runner_up``; undecidable with one seed), the cost of
each model (parameters, training seconds, inference per window, peak memory, epochs, budget),
and two figures: MSE vs DLN depth, accuracy vs training time.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness.grid import KEY, UNTRAINED, read_rows

EXACT = tuple(UNTRAINED.values())
"""Budgets of deterministic models (closed forms, naive forecasts): one run is the answer."""
STATS = ("mse", "mae", "train_seconds", "infer_seconds_per_window", "peak_memory_mb")


def _latest_ok(rows: list[dict[str, str]]) -> dict[tuple, dict[str, str]]:
    """The last ok row of each (dataset, horizon, model, seed), by key."""
    return {tuple(r[k] for k in KEY): r for r in rows if r["status"] == "ok"}


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (NaN for a single value) over seeds."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def aggregate(rows: list[dict[str, str]], models: list[str] | None = None) -> list[dict[str, Any]]:
    """Mean and std over seeds per (dataset, horizon, model), from the last ok row of each key;
    ``n_failed`` counts the seeds with no ok row.

    Models are listed in the order of ``models`` (the grid's), then in order of appearance.
    """
    latest = _latest_ok(rows)
    groups: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for r in latest.values():
        groups[(r["dataset"], int(r["horizon"]), r["model"])].append(r)
    # seeds that never ran ok (diverged, crashed, timed out): a mean over the survivors alone
    # would flatter a model that fails, so the tables say how many there were
    failed: dict[tuple, int] = defaultdict(int)
    for key in {tuple(r[k] for k in KEY) for r in rows if r["status"] != "ok"} - latest.keys():
        row = dict(zip(KEY, key, strict=True))
        failed[(row["dataset"], int(row["horizon"]), row["model"])] += 1
    order = {m: i for i, m in enumerate(dict.fromkeys([*(models or []),
                                                          *(r["model"] for r in rows)]))}
    out = []
    for (dataset, horizon, model), runs in groups.items():
        agg: dict[str, Any] = {"dataset": dataset, "horizon": horizon, "model": model,
                               "family": runs[0]["family"], "depth": runs[0]["depth"],
                               "n_seeds": len(runs), "params": runs[0]["params"],
                               "n_failed": failed[(dataset, horizon, model)],
                               "epochs": statistics.mean(float(r["epochs"] or 0) for r in runs),
                               "budget": runs[0]["budget"], "order": order[model],
                               "n_test_windows": int(runs[0]["n_test_windows"] or 0)}
        for name in STATS:
            agg[name], agg[f"{name}_std"] = _mean_std([float(r[name]) for r in runs])
        out.append(agg)
    return sorted(out, key=lambda a: (a["dataset"], a["horizon"], a["order"]))


def _num(x: float) -> str:
    """Four decimals, or three significant digits for a blown-up error (a finite divergence)."""
    return f"{x:.3g}" if abs(x) >= 1e4 else f"{x:.4f}"


def _fmt(mean: float, std: float, bold: bool) -> str:
    text = _num(mean) + ("" if math.isnan(std) else f" ± {_num(std)}")
    return f"**{text}**" if bold else text


def verdicts(aggs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dataset, horizon): best model, runner-up, lead, spread, and the DLN vs the rest."""
    by_cell: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for a in aggs:
        by_cell[(a["dataset"], a["horizon"])].append(a)
    out = []
    for (dataset, horizon), group in sorted(by_cell.items()):
        ranked = sorted(group, key=lambda a: a["mse"])
        best = ranked[0]
        row = {"dataset": dataset, "horizon": horizon, "best": best["model"],
               "best_mse": best["mse"], "runner_up": "", "lead": math.nan,
               "spread": math.nan, "decided": "n/a (1 model)"}
        if len(ranked) > 1:
            second = ranked[1]
            spread = (best["mse_std"] if not math.isnan(best["mse_std"]) else 0.0) + \
                (second["mse_std"] if not math.isnan(second["mse_std"]) else 0.0)
            exact = best["budget"] in EXACT and second["budget"] in EXACT
            one_seed = best["n_seeds"] < 2 and second["n_seeds"] < 2 and not exact
            lead = second["mse"] - best["mse"]
            row.update(runner_up=second["model"], lead=lead,
                       spread=math.nan if one_seed else spread,
                       decided="n/a (1 seed)" if one_seed else
                       ("yes (both exact)" if exact else "yes" if lead > spread else "no"))
        dln = [a for a in ranked if _is_dln(a["family"])]
        rest = [a for a in ranked if not a["family"].startswith("dln")]
        if dln and rest:
            row["best_dln"], row["best_dln_mse"] = dln[0]["model"], dln[0]["mse"]
            row["best_other"], row["best_other_mse"] = rest[0]["model"], rest[0]["mse"]
            row["dln_wins"] = "yes" if dln[0]["mse"] < rest[0]["mse"] else "no"
        out.append(row)
    return out


KINDS = (  # (column, does a summary row belong to it?), for the overview table
    ("best DLN", lambda a: _is_dln(a["family"])),
    ("best darts linear", lambda a: a["family"] == "linear"),
    ("best nonlinear", lambda a: a["family"] in ("nonlinear", "dln_control")),
)
"""The best-of-a-kind columns of :func:`overview`; the ReLU stack is the nonlinear control."""
CHOSEN = "DLN chosen on validation"
OVERVIEW_COLUMNS = (KINDS[0][0], CHOSEN, *(k for k, _ in KINDS[1:]))
"""The per-kind columns of :func:`overview`, in order: the validation pick beside the best DLN."""


def _is_dln(family: str) -> bool:
    """A linear deep network (explicit stack or depth flow), not the ReLU control."""
    return family.startswith("dln") and family != "dln_control"


def _best_val_mse(row: dict[str, str]) -> float:
    """The ``best_val_mse=...`` that the DLN adapter writes into a row's notes (NaN if absent)."""
    for part in row.get("notes", "").split():
        if part.startswith("best_val_mse="):
            return float(part.split("=", 1)[1])
    return math.nan


def validation_choice(rows: list[dict[str, str]]) -> dict[tuple, dict[str, Any]]:
    """The DLN a user would pick without seeing the test set, per (dataset, horizon).

    For each seed, the linear DLN variant with the lowest best-epoch validation MSE (every
    validation window, recorded by the DLN adapter) is picked and its test MSE kept; the
    result is the mean ± std of those test MSEs over seeds, with the picks counted. The "best
    DLN" of :func:`overview` is the variant with the lowest *test* MSE among ~14, which flatters
    depth; this column does not.
    """
    latest = _latest_ok(rows)
    by_seed: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for r in latest.values():
        if _is_dln(r["family"]) and not math.isnan(_best_val_mse(r)):
            by_seed[(r["dataset"], int(r["horizon"]), r["seed"])].append(r)
    picks: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for (dataset, horizon, _), candidates in sorted(by_seed.items()):
        picks[(dataset, horizon)].append(min(candidates, key=_best_val_mse))
    out = {}
    for key, chosen in picks.items():
        mse, mse_std = _mean_std([float(r["mse"]) for r in chosen])
        out[key] = {"mse": mse, "mse_std": mse_std, "n_seeds": len(chosen),
                    "picks": Counter(r["model"] for r in chosen)}
    return out


def _chosen_cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    picks = ", ".join(m + (f" x{k}" if k > 1 else "") for m, k in c["picks"].most_common())
    return _fmt(c["mse"], c["mse_std"], bold=False) + f" (n={c['n_seeds']}: {picks})"


def _cell(a: dict[str, Any] | None, name: bool = True) -> str:
    if a is None:
        return ""
    failed = f", {a['n_failed']} failed" if a.get("n_failed") else ""
    return ((f"{a['model']} " if name else "") + _fmt(a["mse"], a["mse_std"], bold=False)
            + f" (n={a['n_seeds']}{failed})")


def overview(aggs: list[dict[str, Any]],
             chosen: dict[tuple, dict[str, Any]] | None = None) -> list[str]:
    """One row per (dataset, horizon): the best model overall, the closed forms, the best of
    each kind of :data:`KINDS`, the DLN chosen on validation (``chosen``, from
    :func:`validation_choice`) and the lookback-mean forecast (test MSE, mean ± std, n seeds).
    """
    chosen = chosen or {}
    lines = ["| dataset | H | best overall | closed form | reduced-rank closed form | "
             + " | ".join(OVERVIEW_COLUMNS) + " | window mean |",
             "|" + "---|" * (6 + len(OVERVIEW_COLUMNS))]
    for dataset, horizon in sorted({(a["dataset"], a["horizon"]) for a in aggs}):
        rows = [a for a in aggs if a["dataset"] == dataset and a["horizon"] == horizon]
        by = {a["model"]: a for a in rows}
        best = {k: _cell(min((a for a in rows if pick(a)), key=lambda a: a["mse"], default=None))
                for k, pick in KINDS}
        best[CHOSEN] = _chosen_cell(chosen.get((dataset, horizon)))
        fixed = [_cell(by.get(m), name=False) for m in ("closed_form", "closed_form_rrr")]
        lines.append(f"| {dataset} | {horizon} | {_cell(min(rows, key=lambda a: a['mse']))} | "
                     + " | ".join(fixed + [best[k] for k in OVERVIEW_COLUMNS])
                     + f" | {_cell(by.get('naive_mean'), False)} |")
    return lines


def markdown(aggs: list[dict[str, Any]], title: str, notes: str = "",
             chosen: dict[tuple, dict[str, Any]] | None = None) -> str:
    """The results as markdown: an overview, then one section per dataset."""
    lines = [f"# {title}", ""] + ([notes, ""] if notes else [])
    if aggs:
        lines += ["## Overview: the best of each kind", "",
                  "Test MSE, mean ± std over seeds (n = seeds; closed forms and naive forecasts "
                  "are exact, one run). Models of each kind are in the per-dataset tables below. "
                  "The best of a kind is picked on the test set, so it flatters that kind; "
                  "\"DLN chosen on validation\" picks, per seed, the linear DLN with the lowest "
                  "validation MSE and averages its test MSE, as a user would.",
                  "", *overview(aggs, chosen), ""]
    wins = {(v["dataset"], v["horizon"]): v for v in verdicts(aggs)}
    for dataset in sorted({a["dataset"] for a in aggs}):
        rows = [a for a in aggs if a["dataset"] == dataset]
        horizons = sorted({a["horizon"] for a in rows})
        models = sorted({a["model"]: a["order"] for a in rows}.items(), key=lambda kv: kv[1])
        cell = {(a["model"], a["horizon"]): a for a in rows}
        lines += [f"## {dataset}", "", "MSE / MAE on the scaled data, every test window, mean ± "
                  "std over seeds (n = seeds); best MSE per horizon in bold.", ""]
        head = ["model", "n"] + [f"H={h} MSE" for h in horizons] + [f"H={h} MAE" for h in horizons]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model, _ in models:
            seeds = max(cell[(model, h)]["n_seeds"] for h in horizons if (model, h) in cell)
            failed = sum(cell[(model, h)]["n_failed"] for h in horizons if (model, h) in cell)
            parts = [model, f"{seeds} ({failed} failed)" if failed else str(seeds)]
            for metric in ("mse", "mae"):
                for h in horizons:
                    a = cell.get((model, h))
                    best = wins[(dataset, h)]["best"] == model and metric == "mse"
                    parts.append("" if a is None else _fmt(a[metric], a[f"{metric}_std"], best))
            lines.append("| " + " | ".join(parts) + " |")
        lines += ["", "| H | best | MSE | runner-up | lead | spread (std sum) | lead > spread | "
                  "best DLN | best non-DLN | DLN wins |", "|" + "---|" * 10]
        for h in horizons:
            v = wins[(dataset, h)]
            dln = f"{v['best_dln']} ({v['best_dln_mse']:.4f})" if "best_dln" in v else ""
            other = f"{v['best_other']} ({v['best_other_mse']:.4f})" if "best_other" in v else ""
            spread = "n/a" if math.isnan(v["spread"]) else f"{v['spread']:.4f}"
            lines.append(f"| {h} | {v['best']} | {v['best_mse']:.4f} | {v['runner_up']} | "
                         f"{v['lead']:.4f} | {spread} | {v['decided']} | {dln} | "
                         f"{other} | {v.get('dln_wins', '')} |")
        train_h = sum(a["train_seconds"] * a["n_seeds"] for a in rows) / 3600
        test_h = sum(a["infer_seconds_per_window"] * a["n_test_windows"] * a["n_seeds"]
                     for a in rows) / 3600
        lines += ["", f"Compute of the {sum(a['n_seeds'] for a in rows)} runs above: "
                  f"{train_h:.2f} h of training and {test_h:.2f} h of test forecasting (wall "
                  "seconds summed over runs, as recorded in runs.csv)."]
        lines += ["", "Cost (mean over seeds and horizons): parameters trained, training wall "
                  "seconds, inference seconds per test window (batched), peak RSS growth, "
                  "epochs run, budget.", "",
                  "| model | params | train s | infer ms/window | peak MB | epochs | budget |",
                  "|---|---|---|---|---|---|---|"]
        for model, _ in models:
            runs = [a for a in rows if a["model"] == model]
            mean = {k: statistics.mean(a[k] for a in runs) for k in STATS + ("epochs",)}
            lines.append(f"| {model} | {runs[0]['params']} | {mean['train_seconds']:.1f} | "
                         f"{1e3 * mean['infer_seconds_per_window']:.3f} | "
                         f"{mean['peak_memory_mb']:.0f} | {mean['epochs']:.1f} | "
                         f"{runs[0]['budget']} |")
        lines.append("")
    return "\n".join(lines)


def write_summary(aggs: list[dict[str, Any]], path: Path) -> None:
    """The aggregates as CSV."""
    keys = [k for k in aggs[0] if k != "order"] if aggs else []
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(aggs)


def write_report(csv_path: Path, out: Path, title: str = "Harness results", notes: str = "",
                 figures: bool = True, models: list[str] | None = None) -> list[Path]:
    """Write ``results.md``, ``summary.csv`` and (optionally) figures; return the paths.

    ``models``: the grid's model names, the row order of the tables.
    """
    rows = read_rows(csv_path)
    aggs = aggregate(rows, models)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.md", out / "summary.csv"]
    paths[0].write_text(markdown(aggs, title, notes, validation_choice(rows)))
    write_summary(aggs, paths[1])
    if figures and aggs:
        from benchmarks.harness.figures import accuracy_vs_time, mse_vs_depth

        for dataset in sorted({a["dataset"] for a in aggs}):
            rows = [a for a in aggs if a["dataset"] == dataset]
            for name, plot in (("mse_vs_depth", mse_vs_depth), ("accuracy_vs_time",
                                                                  accuracy_vs_time)):
                fig = plot(rows, dataset)
                if fig is not None:
                    paths.append(out / f"{name}_{dataset}.png")
                    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    return paths
