"""The grid runner: YAML grid -> cells -> one CSV row per run, resumable, with progress.

A grid file (``benchmarks/grids/*.yaml``) names datasets with their horizons (and lookback),
seeds, a default training budget with per-dataset overrides, and models (see
``benchmarks/harness/models.py`` for the kinds). Cells run in order dataset -> horizon -> model
-> seed. After every cell its row is appended to ``<out>/runs.csv`` (flushed and synced), so a
killed run loses at most the cell in flight; a re-run skips every ``(dataset, horizon, model,
seed)`` already recorded (``--retry-errors`` re-runs failed ones).

With ``isolate: true`` each cell runs in a fresh spawned process: a crash or a leak cannot take
the grid down, ``cell_timeout_s`` can stop a runaway cell, and peak memory is that cell's alone.
"""

from __future__ import annotations

import copy
import csv
import logging
import multiprocessing as mp
import os
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from benchmarks.harness.models import Budget, machine, run_cell, versions
from benchmarks.harness.task import Task

COLUMNS = ("grid", "dataset", "lookback", "horizon", "model", "kind", "family", "depth", "seed",
           "status", "mse", "mae", "train_seconds", "infer_seconds_per_window", "params",
           "peak_memory_mb", "epochs", "n_test_windows", "budget", "notes", "error", "versions",
           "machine", "finished_at")
KEY = ("dataset", "horizon", "model", "seed")
GRID_KEYS = {"name", "lookback", "seeds", "datasets", "models", "budget", "budget_by_dataset",
             "isolate", "cell_timeout_s", "accelerator", "data_dir", "notes", "order",
             "threads"}
ORDER = ("dataset", "horizon", "model", "seed")
UNTRAINED = {"closed_form": "exact", "naive": "none"}
"""The budget column of kinds without a training loop."""


@dataclass
class Cell:
    """One run: a model on one dataset and horizon with one seed."""

    dataset: str
    lookback: int
    horizon: int
    spec: dict[str, Any]
    seed: int
    budget: Budget

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The resume key (as CSV strings)."""
        return self.dataset, str(self.horizon), self.spec["name"], str(self.seed)


def load_grid(path: str | os.PathLike[str], _loading: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read and check a grid YAML file, resolving models that ``extends`` another grid's.

    A model entry ``{extends: full.yaml#darts_tide, name: darts_tide_ep10, budget: {...}}`` is
    the named model of that grid (path relative to this file) with the entry's own keys on top
    (whole keys replace: a ``budget`` given here replaces the base's). One definition per model,
    so a probe grid cannot drift from the grid it re-runs.
    """
    path = Path(path).resolve()
    if path in _loading:
        raise ValueError(f"{path}: 'extends' loops through {[str(p) for p in _loading]}")
    if not path.is_file():
        raise ValueError(f"grid {str(path)!r} is not a file (see benchmarks/grids/*.yaml)")
    grid = yaml.safe_load(path.read_text())
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: a grid must be a YAML mapping, got {type(grid).__name__}")
    unknown = set(grid) - GRID_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown grid keys {sorted(unknown)}; "
                         f"allowed {sorted(GRID_KEYS)}")
    for key in ("datasets", "models"):
        if not grid.get(key):
            raise ValueError(f"{path}: '{key}' must be a non-empty list")
    for key in ("datasets", "models"):
        bad = [entry for entry in grid[key] if not isinstance(entry, dict)]
        if bad:
            raise ValueError(f"{path}: every entry of '{key}' must be a mapping, got {bad}")
    bases: dict[Path, dict[str, dict[str, Any]]] = {}
    grid["models"] = [_extended(spec, path, bases, (*_loading, path)) for spec in grid["models"]]
    names = [m.get("name") for m in grid["models"]]
    if None in names:
        raise ValueError(f"{path}: every model needs a 'name' (its own or its base's)")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: model names repeat: {names}")
    return grid


def _extended(spec: dict[str, Any], path: Path, bases: dict[Path, dict[str, dict[str, Any]]],
              loading: tuple[Path, ...]) -> dict[str, Any]:
    """``spec`` with its ``extends: FILE#MODEL`` base merged under it (unchanged without one)."""
    ref = spec.get("extends")
    if ref is None:
        return spec
    file, sep, name = str(ref).partition("#")
    if not (isinstance(ref, str) and sep and file and name):
        raise ValueError(f"{path}: extends={ref!r} must be 'GRID_FILE#MODEL_NAME', "
                         "e.g. 'full.yaml#darts_tide'")
    base_path = (path.parent / file).resolve()
    if not base_path.is_file():
        raise ValueError(f"{path}: extends={ref!r}: no grid file {base_path}")
    if base_path not in bases:
        base_grid = load_grid(base_path, loading)
        bases[base_path] = {m["name"]: m for m in base_grid["models"]}
    if name not in bases[base_path]:
        raise ValueError(f"{path}: extends={ref!r}: {file} has no model {name!r}; it has "
                         f"{sorted(bases[base_path])}")
    own = {k: v for k, v in spec.items() if k != "extends"}
    return {**copy.deepcopy(bases[base_path][name]), **own}


def cells(grid: dict[str, Any], models: list[str] | None = None,
          datasets: list[str] | None = None, horizons: list[int] | None = None,
          seeds: list[int] | None = None) -> list[Cell]:
    """Expand a grid into cells, filtered by model, dataset, horizon and seed, in the grid's
    ``order``.

    ``order`` is a permutation of ``(dataset, horizon, model, seed)`` (the default): the first
    key varies slowest; datasets, horizons, models and seeds keep their order in the file. A
    filter naming something the grid does not have is an error (a typo would run nothing).
    """
    order = tuple(grid.get("order", ORDER))
    if sorted(order) != sorted(ORDER):
        raise ValueError(f"order={list(order)} must be a permutation of {list(ORDER)}")
    _check_filter("models", models, [m["name"] for m in grid["models"]])
    _check_filter("datasets", datasets, [d["name"] for d in grid["datasets"]])
    _check_filter("horizons", horizons,
                  sorted({int(h) for d in grid["datasets"] for h in d["horizons"]}))
    grid_seeds = [int(s) for s in grid.get("seeds", [2024])]
    _check_filter("seeds", seeds, grid_seeds)
    out = []
    for ds in grid["datasets"]:
        if datasets and ds["name"] not in datasets:
            continue
        lookback = int(ds.get("lookback", grid.get("lookback", 336)))
        for horizon in ds["horizons"]:
            if horizons and int(horizon) not in horizons:
                continue
            for spec in grid["models"]:
                if models and spec["name"] not in models:
                    continue
                # most specific last: a dataset's override beats a model's own budget (a small
                # set needs more epochs whatever the model), a model's dataset override beats all
                budget = {"accelerator": grid.get("accelerator", "cpu"),
                          **grid.get("budget", {}),
                          **spec.get("budget", {}),
                          **grid.get("budget_by_dataset", {}).get(ds["name"], {}),
                          **spec.get("budget_by_dataset", {}).get(ds["name"], {})}
                # a model's own seed count takes the grid's first seeds (one for exact models),
                # so a seed filter naming a later seed leaves those models out
                for seed in grid_seeds[: int(spec.get("seeds", len(grid_seeds)))]:
                    if seeds and seed not in seeds:
                        continue
                    out.append(Cell(ds["name"], lookback, int(horizon), spec, seed,
                                    Budget.from_dict(budget)))
    rank = {"dataset": [d["name"] for d in grid["datasets"]], "seed": grid_seeds,
            "model": [m["name"] for m in grid["models"]]}

    def position(cell: Cell) -> tuple[int, ...]:
        values = {"dataset": cell.dataset, "seed": cell.seed, "model": cell.spec["name"],
                  "horizon": cell.horizon}
        return tuple(values["horizon"] if k == "horizon" else rank[k].index(values[k])
                     for k in order)

    return sorted(out, key=position)


def _check_filter(name: str, wanted: list[Any] | None, allowed: list[Any]) -> None:
    unknown = [w for w in wanted or [] if w not in allowed]
    if unknown:
        raise ValueError(f"{name}={unknown} not in this grid; it has {allowed}")


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """All rows of a runs CSV (empty when it does not exist)."""
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def append_row(csv_path: Path, row: dict[str, Any]) -> None:
    """Append one row (header first if the file is new), flushed to disk."""
    new = not csv_path.is_file() or csv_path.stat().st_size == 0
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def merge_rows(csv_path: Path, sources: list[Path]) -> int:
    """Fold the rows of other runs CSVs (other processes or machines) into ``csv_path``.

    One row per key survives: an ``ok`` row beats a failed one, and among equals the later
    ``finished_at`` wins (a re-run supersedes the run it repeats). The file is rewritten
    atomically, sorted by ``finished_at``. Returns the number of rows written.
    """
    for src in sources:
        if not Path(src).is_file():
            raise ValueError(f"merge source {src} is not a file")
    best: dict[tuple, dict[str, str]] = {}
    for path in [csv_path, *sources]:
        for row in read_rows(Path(path)):
            key = tuple(row[k] for k in KEY)
            rank = (row["status"] == "ok", row["finished_at"])
            old = best.get(key)
            if old is None or rank >= (old["status"] == "ok", old["finished_at"]):
                best[key] = row
    rows = sorted(best.values(), key=lambda r: r["finished_at"])
    tmp = csv_path.with_suffix(".csv.tmp")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    return len(rows)


_TASKS: dict[tuple, Task] = {}


def execute(cell: Cell, data_dir: str | None) -> dict[str, Any]:
    """Run a cell in this process; failures become a row with ``status=error``."""
    key = (cell.dataset, cell.lookback, cell.horizon, data_dir)
    if key not in _TASKS:
        _TASKS.clear()  # one task's windows at a time
        _TASKS[key] = Task(cell.dataset, cell.lookback, cell.horizon, data_dir)
    try:
        return {"status": "ok", **run_cell(cell.spec, _TASKS[key], cell.seed, cell.budget)}
    except Exception as err:  # noqa: BLE001 - a failed model must not stop the grid
        return {"status": "error", "error": f"{type(err).__name__}: {err}"[:500],
                "notes": traceback.format_exc(limit=3).replace("\n", " | ")[-800:]}


def quiet() -> None:
    """Silence the Lightning/darts banners and warnings (rows and the bar say what matters)."""
    for name in ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "darts",
                 "pytorch_forecasting"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _child(cell: Cell, data_dir: str | None, queue: mp.Queue, threads: int | None) -> None:
    quiet()
    if threads:
        import torch

        torch.set_num_threads(threads)
    queue.put(execute(cell, data_dir))


def execute_isolated(cell: Cell, data_dir: str | None, timeout: float | None,
                     threads: int | None = None) -> dict[str, Any]:
    """Run a cell in a fresh spawned process, stopping it after ``timeout`` seconds."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(cell, data_dir, queue, threads), daemon=True)
    proc.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: poll the child
            if not proc.is_alive():
                result = {"status": "error", "error": f"worker died (exit {proc.exitcode})"}
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                result = {"status": "timeout", "error": f"cell exceeded {timeout:.0f} s"}
                break
    proc.join(timeout=30)
    return result


def depth_of(spec: dict[str, Any]) -> str:
    """The DLN depth of a model entry ('' for other models)."""
    return str(spec.get("net", {}).get("depth", "")) if spec["kind"] == "dln" else ""


def run_grid(grid: dict[str, Any], out: Path, data_dir: str | None = None,
             models: list[str] | None = None, datasets: list[str] | None = None,
             retry_errors: bool = False, isolate: bool | None = None,
             progress: bool = True, after_cell: Callable[[Path], None] | None = None,
             horizons: list[int] | None = None, seeds: list[int] | None = None) -> Path:
    """Run every cell not yet recorded in ``out/runs.csv``; returns the CSV path.

    ``after_cell(csv_path)`` is called after every appended row (e.g. to refresh the tables).
    """
    selected = cells(grid, models, datasets, horizons, seeds)  # bad filters raise here
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "runs.csv"
    done_status = {"ok"} if retry_errors else {"ok", "error", "timeout"}
    done = {tuple(r[k] for k in KEY) for r in read_rows(csv_path) if r["status"] in done_status}
    todo = [c for c in selected if c.key not in done]
    isolate = grid.get("isolate", False) if isolate is None else isolate
    threads = grid.get("threads")  # torch threads per cell (1 avoids OpenMP stalls under load)
    if threads and not isolate:
        import torch

        torch.set_num_threads(int(threads))
    data_dir = data_dir or grid.get("data_dir") or os.environ.get("LIGHTNING_DLN_DATA")
    meta = {"grid": grid.get("name", "grid"), "versions": versions(),
            "machine": machine(grid.get("accelerator", "cpu"))}
    if threads:
        meta["machine"] = meta["machine"].split(", torch threads")[0] + f", torch threads {threads}"
    bar = tqdm(todo, desc=meta["grid"], unit="cell", disable=not progress, mininterval=5)
    for cell in bar:
        bar.set_postfix_str(f"{cell.dataset} H={cell.horizon} {cell.spec['name']} s{cell.seed}")
        if isolate:
            # a model's own cell_timeout_s beats the grid's (the Transformer's long horizons)
            timeout = cell.spec.get("cell_timeout_s", grid.get("cell_timeout_s"))
            result = execute_isolated(cell, data_dir, timeout, threads)
        else:
            result = execute(cell, data_dir)
        row = {**meta, "dataset": cell.dataset, "lookback": cell.lookback,
               "horizon": cell.horizon, "model": cell.spec["name"], "kind": cell.spec["kind"],
               "family": cell.spec.get("family", cell.spec["kind"]),
               "depth": depth_of(cell.spec), "seed": cell.seed,
               "budget": UNTRAINED.get(cell.spec["kind"], cell.budget.short()),
               "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), **result}
        append_row(csv_path, row)
        if after_cell is not None:
            after_cell(csv_path)
        mse = f"{row['mse']:.4f}" if row["status"] == "ok" else row["status"]
        bar.write(f"{cell.dataset} H={cell.horizon} {cell.spec['name']} seed={cell.seed}: "
                  f"mse={mse} train={row.get('train_seconds', 0):.1f}s {row.get('error', '')}")
    return csv_path
