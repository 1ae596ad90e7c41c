"""The closed form's regularisation path: what validation picks against what the test rewards.

For each task, ``RidgeIN`` (ridge + Toner & Darlow's instance norm, the harness's closed form)
is solved once for a wide grid of relative ridge strengths, and every solution is scored on
every validation and every test window. The harness picks alpha on validation from
``ALPHA_GRID``; this shows where that choice sits on the test curve, and where the best
explicitly regularised linear map would sit if the test set were allowed to pick, next to the
grid's best DLN (``benchmarks/results/harness/full/runs.csv``, mean over its seeds). A DLN can
beat the closed form only by regularising it (THEORY.md section 6); this measures how much
room explicit ridge leaves, and whether validation can find it.

Usage: ``python -m benchmarks.ridge_path [--datasets ETTh1 ETTm1] [--data-dir DIR]``.
Writes ``benchmarks/results/ridge_path.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from benchmarks.harness.closed_form import ALPHA_GRID, RidgeIN
from benchmarks.harness.models import machine, versions
from benchmarks.harness.task import Task

HERE = Path(__file__).resolve().parent
RUNS = HERE / "results" / "harness" / "full" / "runs.csv"
PATH_ALPHAS = (*ALPHA_GRID, 3.0, 10.0, 30.0)
HORIZONS = (96, 192, 336, 720)


def best_dln(runs: Path, dataset: str, horizon: int) -> tuple[str, float, int] | None:
    """The grid's linear DLN with the lowest mean test MSE over its seeds at this task."""
    if not runs.is_file():
        return None
    by_model: dict[str, list[float]] = {}
    with open(runs, newline="") as f:
        for r in csv.DictReader(f):
            if (r["dataset"], r["horizon"], r["lookback"], r["status"]) == \
                    (dataset, str(horizon), "336", "ok") and r["family"].startswith("dln") \
                    and r["family"] != "dln_control":
                by_model.setdefault(r["model"], []).append(float(r["mse"]))
    if not by_model:
        return None
    name = min(by_model, key=lambda m: statistics.fmean(by_model[m]))
    return name, statistics.fmean(by_model[name]), len(by_model[name])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ETTh1", "ETTm1"])
    parser.add_argument("--horizons", nargs="+", type=int, default=list(HORIZONS))
    parser.add_argument("--data-dir", default=None, help="folder of the LTSF CSVs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ridge_path.md")
    args = parser.parse_args(argv)
    rows, summary = [], []
    start = time.perf_counter()
    for dataset in args.datasets:
        for horizon in args.horizons:
            task = Task(dataset, 336, horizon, args.data_dir)
            model = RidgeIN(336, horizon, norm="mean", alphas=PATH_ALPHAS)
            model.fit(task.segment("train"), *task.windows("val"))
            test = model.mse_by_alpha(*task.windows("test"))
            for alpha in PATH_ALPHAS:
                rows.append({"dataset": dataset, "horizon": horizon, "alpha": alpha,
                             "val_mse": model.val_mse[alpha], "test_mse": test[alpha]})
            picked = min(ALPHA_GRID, key=model.val_mse.__getitem__)
            oracle = min(PATH_ALPHAS, key=test.__getitem__)
            summary.append((dataset, horizon, picked, test[picked], oracle, test[oracle],
                            model.val_mse[oracle] - model.val_mse[picked],
                            best_dln(RUNS, dataset, horizon)))
            print(summary[-1], flush=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# The closed form's regularisation path (ridge + instance norm, L = 336)", "",
        f"Command: `python -m benchmarks.ridge_path --datasets {' '.join(args.datasets)}`; "
        f"{machine()}; {versions()}; {time.perf_counter() - start:.0f} s. Alpha is relative to "
        "the mean eigenvalue of the Gram matrix; every solution is exact over every training "
        "window and scored on every validation and test window (scaled data). The harness "
        f"picks alpha on validation from {list(ALPHA_GRID)}; the path adds "
        f"{list(PATH_ALPHAS[len(ALPHA_GRID):])}. Best DLN: the grid's linear DLN of lowest "
        "mean test MSE (picked on the test set, as the overview's 'best DLN' column).", "",
        "| dataset | H | alpha picked on val | its test MSE | alpha best on test | its test MSE "
        "| its val MSE minus the picked one's | best DLN (grid, n seeds) |",
        "|---|---|---|---|---|---|---|---|"]
    for dataset, horizon, picked, t_picked, oracle, t_oracle, dval, dln in summary:
        dln_text = "" if dln is None else f"{dln[0]} {dln[1]:.4f} (n={dln[2]})"
        lines.append(f"| {dataset} | {horizon} | {picked:g} | {t_picked:.4f} | {oracle:g} | "
                     f"{t_oracle:.4f} | {dval:+.4f} | {dln_text} |")
    lines += ["", "Full path (val / test MSE per alpha): the CSV beside this file.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
