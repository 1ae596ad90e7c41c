"""Optuna on ETTh1 (L=336, H=96): a DLN study vs a darts NLinearModel study, and pruning.

1. ``configs/tune/etth1_dln.yaml``: the core DLNForecaster, median pruner.
2. ``configs/tune/etth1_nlinear.yaml``: darts' NLinearModel, the same trial budget and count.
3. The DLN study of (1) again without pruning (same sampler seeds): wall time, epochs trained
   and best val MSE with vs without the median pruner.

Each study starts fresh (``--resume`` keeps an existing one) in an SQLite file under
``--work``. The test split is read once per study, after tuning: the best trial's parameters
are refit (same seed, same budget; best epoch kept for the DLN) and scored on every test window.

Usage: ``python -m benchmarks.tune_etth1 [--quick] [--n-trials N] [--skip-pruning]``.
Writes ``tuning.md`` / ``tuning.csv`` (``--quick``: ``tuning_quick.*``) to ``--out``, and the
pruned studies' Optuna plots to ``--out/tuning_plots/<study>/`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
from pathlib import Path

import optuna
import torch

from benchmarks.study_run import State, timed_study
from lightning_dln.integrations.optuna import TuneConfig, export_best, write_plots


def study_row(label: str, config: str, args: argparse.Namespace, pruner: str | None = None,
              evaluate: bool = True) -> dict:
    suffix = ("_quick" if args.quick else "") + (f"_{pruner}" if pruner else "")
    name = Path(config).stem + suffix
    url = f"sqlite:///{Path(args.work) / 'bench.db'}"
    cfg = TuneConfig.from_yaml(config, quick=args.quick, storage=url, name=name,
                               n_trials=args.n_trials)
    cfg.output_dir = str(Path(args.work) / name)
    if pruner:
        cfg.pruner = {"name": pruner}
    run = timed_study(cfg, args.resume)
    study, objective, best, trials = run.study, run.objective, run.study.best_trial, run.trials
    row = {"study": label, "model": cfg.model, "trials": len(trials),
           "complete": sum(t.state == State.COMPLETE for t in trials),
           "pruned": run.pruned, "failed": run.failed,
           "epochs_trained": sum(len(t.intermediate_values) for t in trials),
           "wall_s": run.seconds, "best_trial": best.number, "best_val_mse": best.value,
           "best_params": best.params, "config": export_best(study, cfg)}
    print({k: v for k, v in row.items() if k != "best_params"}, flush=True)
    if not args.quick and pruner is None:  # drawn with the table, so the two cannot drift apart
        write_plots(study, Path(args.out) / "tuning_plots" / name)
    if evaluate:
        scores = objective.evaluate({**cfg.space.fixed, **best.params})
        row["refit_val_mse"], row["test_mse"] = scores["val_mse"], scores["test_mse"]
        print(label, scores, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the YAMLs' quick presets")
    parser.add_argument("--n-trials", type=int, default=None, help="trials per study")
    parser.add_argument("--skip-pruning", action="store_true", help="no unpruned DLN study")
    parser.add_argument("--resume", action="store_true", help="keep existing studies")
    parser.add_argument("--work", default="outputs/tune/bench")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    runs = [("DLN (core Lightning), median pruner", "configs/tune/etth1_dln.yaml", {}),
            ("NLinearModel (darts), median pruner", "configs/tune/etth1_nlinear.yaml", {})]
    if not args.skip_pruning:
        runs.append(("DLN (core Lightning), no pruning", "configs/tune/etth1_dln.yaml",
                     {"pruner": "none", "evaluate": False}))
    rows: list[dict] = []
    for label, config, kwargs in runs:
        rows.append(study_row(label, config, args, **kwargs))
        write(rows, args)  # after each study: a long run leaves partial results behind


def write(rows: list[dict], args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "tuning_quick" if args.quick else "tuning"
    keys = list(rows[0])
    with open(out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r},
                                                     key=lambda k: keys.index(k)
                                                     if k in keys else 99))
        writer.writeheader()
        writer.writerows(rows)
    cmd = "python -m benchmarks.tune_etth1" + (" --quick" if args.quick else "") + \
        (f" --n-trials {args.n_trials}" if args.n_trials else "")
    lines = [
        "# Optuna on ETTh1 (L=336, H=96): DLN vs darts NLinearModel, and pruning",
        "",
        f"Command: `{cmd}`; {platform.node()}, {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end, torch {torch.__version__}, optuna "
        f"{optuna.__version__}. "
        "Budgets per trial: the `trainer` sections of `configs/tune/etth1_dln.yaml` and "
        "`etth1_nlinear.yaml`" + (" (their `quick` presets)" if args.quick else "") + ". "
        "Val MSE over every validation window (scaled data), test MSE over every test window "
        "of the best trial refit once after tuning.",
        "",
        "| study | trials | complete | pruned | failed | epochs trained | wall s | best val MSE "
        "| refit val MSE | test MSE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['study']} | {r['trials']} | {r['complete']} | {r['pruned']} | "
                     f"{r['failed']} | {r['epochs_trained']} | {r['wall_s']:.0f} | "
                     f"{r['best_val_mse']:.4f} | {_f(r.get('refit_val_mse'))} | "
                     f"{_f(r.get('test_mse'))} |")
    lines += ["", "Best parameters:", ""]
    lines += [f"- {r['study']} (trial {r['best_trial']}): `{r['best_params']}`; config "
              f"`{r['config']}`" for r in rows]
    if len(rows) == 3:
        pruned, full = rows[0], rows[2]
        speed = full["wall_s"] / pruned["wall_s"]
        work = full["epochs_trained"] / max(pruned["epochs_trained"], 1)
        gap = pruned["best_val_mse"] / full["best_val_mse"] - 1
        lines += [
            "",
            f"Pruning: speed-up of the median-pruned DLN study over the unpruned one "
            f"(wall time unpruned / pruned) **{speed:.2f}x** ({full['wall_s']:.0f} s vs "
            f"{pruned['wall_s']:.0f} s; target >= 1.5x: {'met' if speed >= 1.5 else 'NOT met'}); "
            f"epochs trained unpruned / pruned {work:.2f}x ({full['epochs_trained']} vs "
            f"{pruned['epochs_trained']}, independent of the machine's load); best val MSE "
            f"pruned {pruned['best_val_mse']:.4f} vs unpruned {full['best_val_mse']:.4f} "
            f"({gap:+.2%}; target within 2%: {'met' if abs(gap) <= 0.02 else 'NOT met'}).",
        ]
        if args.quick:
            lines.append("(Quick preset: 4 trials with 2 random startup trials are too few "
                         "for this comparison to mean anything; see `tuning.md`.)")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
