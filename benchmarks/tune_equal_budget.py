"""Every model tuned with the same Optuna budget, then refit with several seeds and tested.

The head-to-head grid (``benchmarks/grids/full.yaml``) runs every model at one documented
configuration; its caveat is that the nonlinear baselines are untuned. This benchmark gives
each model of ``benchmarks/tune_equal_budget.yaml`` the same study (trial count, sampler,
pruner, per-trial Trainer budget, objective = MSE over every validation window) through
:mod:`lightning_dln.integrations.optuna`, then refits the best trial's parameters once per
refit seed at the same budget and scores every test window. The test split is read only by
those refits, after tuning.

Usage (from the repository root)::

    python -m benchmarks.tune_equal_budget [--quick] [--only LABEL ...] [--data-path DIR]
        [--dataset ETTm1] [--horizon 336] [--lookback 336]

Writes ``<dataset>_L<L>_H<H>.{md,csv}`` (``--quick``: ``..._quick.*``) to ``--out`` (default
``benchmarks/results/tuned``) after every study, so a long run leaves partial results behind;
``--resume`` keeps finished studies in the ``--work`` SQLite file instead of starting them
afresh. ``--dataset``/``--horizon``/``--lookback`` replace the YAML's ``data`` values.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml

from benchmarks.study_run import timed_study
from lightning_dln.integrations.optuna import TuneConfig

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "tune_equal_budget.yaml"
GRID_RUNS = HERE / "results" / "harness" / "full" / "runs.csv"
_STUDY_KEYS = {"label", "model", "grid_model", "space", "fixed"}


def load_studies(path: str | Path, quick: bool = False, data_path: str | None = None,
                 **data: Any) -> tuple[list[tuple[str, str | None, TuneConfig]], list[int]]:
    """Read the benchmark YAML: ``[(label, grid_model, TuneConfig)]`` and the refit seeds.

    ``data_path`` and the keyword arguments (``dataset``, ``horizon``, ``lookback``; ``None``
    keeps the YAML's value) replace entries of the YAML's ``data`` section.

    Raises:
        ValueError: a missing file, an unknown key, a duplicate label, or an invalid study
            (every study is validated now, before any trial runs).

    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config {str(path)!r} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = set(raw) - {"common", "refit_seeds", "quick", "studies"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; allowed: common, "
                         "refit_seeds, quick, studies")
    common = copy.deepcopy(raw.get("common") or {})
    seeds = raw.get("refit_seeds", [common.get("seed", 2024)])
    quick_raw = dict(raw.get("quick") or {})
    if quick:
        seeds = quick_raw.pop("refit_seeds", seeds)
    else:
        quick_raw.pop("refit_seeds", None)
    if not (isinstance(seeds, list) and seeds and
            all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ValueError(f"refit_seeds must be a non-empty list of integers, got {seeds!r}")
    studies, labels = [], set()
    for entry in raw.get("studies") or []:
        if not isinstance(entry, dict) or "label" not in entry or "model" not in entry:
            raise ValueError(f"each study needs a 'label' and a 'model', got {entry!r}")
        if set(entry) - _STUDY_KEYS:
            raise ValueError(f"study {entry['label']!r}: unknown keys "
                             f"{sorted(set(entry) - _STUDY_KEYS)}; allowed: {sorted(_STUDY_KEYS)}")
        if entry["label"] in labels:
            raise ValueError(f"duplicate study label {entry['label']!r}")
        labels.add(entry["label"])
        conf = {**copy.deepcopy(common), "model": entry["model"], "quick": quick_raw}
        for key in ("space", "fixed"):
            if entry.get(key):
                conf[key] = copy.deepcopy(entry[key])
        edits = {"path": data_path, **data}
        conf["data"] = {**(conf.get("data") or {}),
                        **{k: v for k, v in edits.items() if v is not None}}
        cfg = TuneConfig.from_dict(conf, quick=quick)  # fills in the default dataset/L/H
        # one study per model and task in a shared --work database
        cfg.study_name = f"{result_stem(cfg, quick=False)}_{_slug(entry['label'])}"
        studies.append((entry["label"], entry.get("grid_model"), cfg))
    if not studies:
        raise ValueError(f"{path}: no studies")
    return studies, seeds


def tune_and_refit(label: str, cfg: TuneConfig, seeds: list[int], work: Path,
                   resume: bool = False) -> dict[str, Any]:
    """Run one study, then refit its best parameters with each seed; return the result row."""
    cfg.storage = f"sqlite:///{work / 'studies.db'}"
    cfg.output_dir = str(work / cfg.study_name)
    run = timed_study(cfg, resume)
    best, objective = run.study.best_trial, run.objective
    params = {**cfg.space.fixed, **best.params}
    tests, start, study_seed = [], time.perf_counter(), cfg.seed
    try:
        for seed in seeds:  # the seed of the refit only (objective.cfg is cfg)
            cfg.seed = seed
            tests.append(objective.evaluate(params)["test_mse"])
    finally:
        cfg.seed = study_seed  # the table reports the study's seed
    row = {"label": label, "model": cfg.model, "trials": len(run.trials),
           "pruned": run.pruned, "failed": run.failed,
           "tune_s": round(run.seconds, 1), "refit_s": round(time.perf_counter() - start, 1),
           "best_trial": best.number, "best_val_mse": best.value,
           "test_mse_mean": statistics.fmean(tests),
           "test_mse_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
           "test_mse_seeds": " ".join(f"{t:.4f}" for t in tests),
           "best_params": params}
    print(label, {k: v for k, v in row.items() if k != "best_params"}, flush=True)
    return row


def grid_reference(grid_model: str | None, cfg: TuneConfig,
                   runs: Path = GRID_RUNS) -> tuple[float | None, float | None, int]:
    """Mean, std and count of the untuned grid row's test MSE at the same dataset/L/H."""
    if not grid_model or not runs.is_file():
        return None, None, 0
    with open(runs, newline="") as f:
        mses = [float(r["mse"]) for r in csv.DictReader(f)
                if r["model"] == grid_model and r["status"] == "ok"
                and r["dataset"] == cfg.data["dataset"]
                and int(r["horizon"]) == cfg.data["horizon"]
                and int(r["lookback"]) == cfg.data["lookback"]]
    if not mses:
        return None, None, 0
    return statistics.fmean(mses), (statistics.stdev(mses) if len(mses) > 1 else 0.0), len(mses)


_INTS = ("trials", "pruned", "failed", "best_trial", "grid_n")
_FLOATS = ("tune_s", "refit_s", "best_val_mse", "test_mse_mean", "test_mse_std", "grid_mean",
           "grid_std")


def result_stem(cfg: TuneConfig, quick: bool) -> str:
    """File name stem of a task's results, e.g. ``ETTh1_L336_H96``."""
    d = cfg.data
    return f"{d['dataset']}_L{d['lookback']}_H{d['horizon']}" + ("_quick" if quick else "")


def read_rows(csv_path: Path) -> list[dict]:
    """Rows of an earlier run's CSV, typed as ``tune_and_refit`` returns them (none: ``[]``).

    Rows written before the CSV had a ``command`` column take the ``Command:`` of the markdown
    table next to it.
    """
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    md = csv_path.with_suffix(".md")
    fallback = ""
    if md.is_file():
        for line in md.read_text().splitlines():
            if line.startswith("Command: `"):
                fallback = line.split("`")[1]
    for r in rows:
        for key in _INTS:
            r[key] = int(r[key]) if r.get(key) not in (None, "") else 0
        for key in _FLOATS:
            r[key] = float(r[key]) if r.get(key) not in (None, "") else None
        r["grid_model"] = r.get("grid_model") or None
        r["command"] = r.get("command") or fallback
    return rows


def merge_rows(previous: list[dict], new: list[dict], order: list[str]) -> list[dict]:
    """Earlier rows with this run's rows replacing those of the same label, in YAML order.

    Rows of labels no longer in the YAML are kept, last, rather than lost.
    """
    by_label = {r["label"]: r for r in previous}
    by_label.update({r["label"]: r for r in new})
    rank = {label: i for i, label in enumerate(order)}
    return sorted(by_label.values(), key=lambda r: rank.get(r["label"], len(rank)))


def write(rows: list[dict], cfg: TuneConfig, args: argparse.Namespace, seeds: list[int]) -> None:
    """Write the CSV and the markdown table of every finished study (best test MSE in bold)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = cfg.data
    stem = result_stem(cfg, args.quick)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    commands = list(dict.fromkeys(r["command"] for r in rows))
    cmd = "`; `".join(commands)
    best = min(r["test_mse_mean"] for r in rows)
    lines = [
        f"# Every model tuned with the same Optuna budget: {d['dataset']}, L={d['lookback']}, "
        f"H={d['horizon']}",
        "",
        f"Command{'s (a later run with `--only` replaced its rows)' if len(commands) > 1 else ''}"
        f": `{cmd}`; {platform.node()}, {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end of the last run, torch {torch.__version__}, optuna "
        f"{optuna.__version__}. Per study: {cfg.n_trials} trials, sampler {cfg.sampler}, "
        f"pruner {cfg.pruner}, study seed {cfg.seed}; per trial and per refit the Trainer "
        f"budget {cfg.trainer}, early-stopping patience {cfg.patience}, the best validation "
        "epoch's weights kept (DLN and darts alike). Objective: MSE over every validation "
        "window (scaled data). "
        f"Test MSE: the best trial's parameters refit with seeds {seeds} at the same budget, "
        "every test window, mean ± std. Grid column: the untuned `benchmarks/grids/full.yaml` row "
        "(its own budget), mean ± std over its seeds.",
        "",
        "| model | trials (pruned, failed) | tune s | best val MSE | test MSE, tuned "
        "| per seed | grid row | test MSE, grid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mse = f"{r['test_mse_mean']:.4f} ± {r['test_mse_std']:.4f}"
        if r["test_mse_mean"] == best:
            mse = f"**{mse}**"
        grid = "" if r["grid_mean"] is None else \
            f"{r['grid_mean']:.4f} ± {r['grid_std']:.4f} ({r['grid_n']})"
        lines.append(f"| {r['label']} | {r['trials']} ({r['pruned']}, {r['failed']}) | "
                     f"{r['tune_s']:.0f} | {r['best_val_mse']:.4f} | {mse} | "
                     f"{r['test_mse_seeds']} | {r['grid_model'] or ''} | {grid} |")
    lines += ["", "Best parameters:", ""]
    lines += [f"- {r['label']} (trial {r['best_trial']}): `{r['best_params']}`" for r in rows]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--quick", action="store_true", help="the YAML's quick preset")
    parser.add_argument("--only", nargs="+", metavar="LABEL",
                        help="run only the studies whose label starts with one of these")
    parser.add_argument("--data-path", default=None,
                        help="folder of the LTSF CSVs (default: LIGHTNING_DLN_DATA, ...)")
    parser.add_argument("--dataset", default=None, help="replaces the YAML's data.dataset")
    parser.add_argument("--horizon", type=int, default=None, help="replaces data.horizon")
    parser.add_argument("--lookback", type=int, default=None, help="replaces data.lookback")
    parser.add_argument("--resume", action="store_true", help="keep existing studies")
    parser.add_argument("--work", default="outputs/tune/equal_budget")
    parser.add_argument("--out", default="benchmarks/results/tuned")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the table's header
    try:
        studies, seeds = load_studies(args.config, args.quick, args.data_path,
                                      dataset=args.dataset, horizon=args.horizon,
                                      lookback=args.lookback)
    except ValueError as err:
        parser.error(str(err))
    order = [label for label, _, _ in studies]
    if args.only:
        studies = [s for s in studies if any(s[0].startswith(p) for p in args.only)]
        if not studies:
            parser.error(f"--only {args.only} matches no study label")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # Studies not run now keep their rows from an earlier run of the same task.
    previous = read_rows(Path(args.out) / f"{result_stem(studies[0][2], args.quick)}.csv")
    command = " ".join(["python -m benchmarks.tune_equal_budget", *args.argv])
    rows: list[dict] = []
    for label, grid_model, cfg in studies:
        row = tune_and_refit(label, cfg, seeds, work, args.resume)
        row["grid_model"] = grid_model
        row["grid_mean"], row["grid_std"], row["grid_n"] = grid_reference(grid_model, cfg)
        row["command"] = command
        rows.append(row)
        # after each study: partial results survive a stop
        write(merge_rows(previous, rows, order), cfg, args, seeds)
    return rows


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")


if __name__ == "__main__":
    main()
