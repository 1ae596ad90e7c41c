"""What a grid has run and what it still lacks: ``<out>/coverage.md``, from the grid and its CSV.

A long grid runs over many sessions, split over processes with ``--models``/``--datasets``.
This table is what a hand-over needs and used to be counted by hand: per dataset and model, how
many of the grid's cells ended ok, failed (divergences and crashes are results too), or never
ran, the compute the finished ones took, and an estimate of the missing ones' cost.

A missing cell is estimated only from finished runs of the same dataset, model *and horizon*
(median of training plus test-forecasting time). Costs do not transfer across horizons: the darts
Transformer decodes autoregressively, so its cell grows as H^2 (``benchmarks/transformer_cost.py``),
and an estimate from its short-horizon cells undercounted a long one by an order of magnitude.
Cells with no finished run at their horizon are counted apart, as having no estimate.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness.grid import KEY, cells, read_rows


def coverage(grid: dict[str, Any], rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One entry per (dataset, model) of the grid, in the grid's order.

    Keys: ``dataset``, ``model``, ``cells``, ``ok``, ``failed``, ``missing``, ``train_h`` and
    ``test_h`` (hours of training and of forecasting every test window, ok runs),
    ``missing_h`` (estimated hours, training plus test forecasting, of the missing cells that
    have a finished run at their horizon; ``None`` when none has) and ``missing_unknown`` (missing
    cells with no finished run at their horizon). Rows outside the grid are ignored.
    """
    status = {tuple(r[k] for k in KEY): r for r in rows}  # the resume key, as Cell.key
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    seconds: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    missing: list[tuple[tuple[str, str], int]] = []
    for cell in cells(grid):
        key = (cell.dataset, cell.spec["name"])
        entry = entries.setdefault(key, {"dataset": key[0], "model": key[1], "cells": 0, "ok": 0,
                                         "failed": 0, "missing": 0, "train_h": 0.0,
                                         "test_h": 0.0, "missing_h": None,
                                         "missing_unknown": 0})
        entry["cells"] += 1
        row = status.get(cell.key)
        if row is None:
            entry["missing"] += 1
            missing.append((key, cell.horizon))
        elif row["status"] == "ok":
            entry["ok"] += 1
            train = float(row["train_seconds"] or 0)
            test = float(row["infer_seconds_per_window"] or 0) * float(row["n_test_windows"] or 0)
            seconds[(*key, cell.horizon)].append(train + test)
            entry["train_h"] += train / 3600
            entry["test_h"] += test / 3600
        else:
            entry["failed"] += 1
    for key, horizon in missing:
        entry, done = entries[key], seconds[(*key, horizon)]
        if done:
            entry["missing_h"] = (entry["missing_h"] or 0.0) + statistics.median(done) / 3600
        else:
            entry["missing_unknown"] += 1
    return list(entries.values())


def markdown(entries: list[dict[str, Any]], title: str) -> str:
    """Per-dataset totals, then the (dataset, model) pairs that still miss cells."""
    lines = [f"# Coverage: {title}", "",
             "Regenerated with the report (`--report-only` too). Compute = the ok runs' "
             "training time plus the time to forecast every test window; a missing cell is "
             "estimated (training + test forecasting) from the median of the ok runs of the "
             "same dataset, model and horizon, and has no estimate where none has finished: "
             "cost does not transfer across horizons (the Transformer's grows as H^2).", "",
             "| dataset | cells | ok | failed | missing | train h | test h "
             "| missing: estimated h | missing with no estimate |",
             "|---|---|---|---|---|---|---|---|---|"]
    datasets = list(dict.fromkeys(e["dataset"] for e in entries))
    for name in [*datasets, None]:
        group = [e for e in entries if name is None or e["dataset"] == name]
        known = sum(e["missing_h"] or 0.0 for e in group)
        unknown = sum(e["missing_unknown"] for e in group)
        cols = [sum(e[k] for e in group) for k in ("cells", "ok", "failed", "missing")]
        label = "**all**" if name is None else name
        lines.append(f"| {label} | {' | '.join(map(str, cols))} | "
                     f"{sum(e['train_h'] for e in group):.2f} | "
                     f"{sum(e['test_h'] for e in group):.2f} | {known:.1f} | {unknown} cells |")
    lines += ["", "Missing cells by dataset and model:", "",
              "| dataset | model | missing of | failed | estimated h | cells with no estimate |",
              "|---|---|---|---|---|---|"]
    for e in entries:
        if e["missing"]:
            estimate = "-" if e["missing_h"] is None else f"{e['missing_h']:.2f}"
            lines.append(f"| {e['dataset']} | {e['model']} | {e['missing']} of {e['cells']} | "
                         f"{e['failed']} | {estimate} | {e['missing_unknown']} |")
    return "\n".join(lines) + "\n"


def write_coverage(grid: dict[str, Any], csv_path: Path, out: Path, title: str) -> Path:
    """Write ``<out>/coverage.md`` for ``grid`` from the runs in ``csv_path``."""
    path = out / "coverage.md"
    path.write_text(markdown(coverage(grid, read_rows(csv_path)), title))
    return path
