"""Why the grid's darts Transformer cells stop at short horizons on a CPU: its decode cost.

darts' ``TransformerModel`` (0.48) forecasts autoregressively outside training: one decoder
pass per forecast step over all the steps so far, without a cache, so a window costs about
``H^2`` decoder-token passes. This times ``predict`` on random ``L x C`` windows (one batch,
one torch thread, the grid's settings: reversible instance norm, darts defaults otherwise;
the weights do not change the cost) and turns the seconds per window into a lower bound on a
``full.yaml`` cell: its validation passes (``max_epochs x limit_val_batches x batch_size``
windows) plus every test window (the count each dataset's rows record in the grid CSV), the
teacher-forced training steps not counted. Each horizon is timed twice: darts' own loop and
the harness's key/value-cached decoder (``benchmarks/harness/adapters/transformer_cache.py``,
the same forecasts), which the grid's ``darts_transformer`` uses.

Usage: ``python -m benchmarks.transformer_cost [--horizons 96 192 336 720] [--windows 16]``.
Writes ``benchmarks/results/transformer_cost.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness.grid import cells, load_grid, read_rows
from benchmarks.harness.models import machine, versions

HERE = Path(__file__).resolve().parent
GRID = HERE / "grids" / "full.yaml"
RUNS = HERE / "results" / "harness" / "full" / "runs.csv"
OUT = HERE / "results" / "transformer_cost.md"
L, C = 336, 7


def seconds_per_window(horizon: int, windows: int, seed: int = 0, kv_cache: bool = False) -> float:
    """Wall seconds per window of one batched ``predict(n=horizon)`` over ``windows`` windows."""
    from darts import TimeSeries
    from darts.models import TransformerModel

    from benchmarks.harness.adapters.transformer_cache import kv_cached_decoding

    rng = np.random.default_rng(seed)
    train = TimeSeries.from_values(rng.standard_normal((L + horizon + 64, C)).astype(np.float32))
    model = TransformerModel(
        input_chunk_length=L, output_chunk_length=horizon, batch_size=32, n_epochs=1,
        use_reversible_instance_norm=True, random_state=seed,
        pl_trainer_kwargs={"accelerator": "cpu", "limit_train_batches": 1, "logger": False,
                           "enable_progress_bar": False, "enable_model_summary": False})
    model.fit(train, verbose=False)  # one step: predict needs a fitted model, not a good one
    batch = [TimeSeries.from_values(rng.standard_normal((L, C)).astype(np.float32))
             for _ in range(windows)]
    with kv_cached_decoding() if kv_cache else contextlib.nullcontext():
        start = time.perf_counter()
        model.predict(n=horizon, series=batch, batch_size=windows, verbose=False)
        return (time.perf_counter() - start) / windows


def windows_per_task(runs: Path) -> dict[tuple[str, int], int]:
    """Test windows per (dataset, horizon), as the grid's rows recorded them."""
    return {(row["dataset"], int(row["horizon"])): int(float(row["n_test_windows"]))
            for row in read_rows(runs) if row["status"] == "ok" and row["n_test_windows"]}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transformer_cost",
                                     description=__doc__)
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--windows", type=int, default=16, help="windows in the timed batch")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.windows < 1:
        raise ValueError(f"--windows must be >= 1, got {args.windows}")
    if any(h < 1 for h in args.horizons):
        raise ValueError(f"--horizons must be positive, got {args.horizons}")
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    torch.set_num_threads(1)

    grid = load_grid(GRID)
    # the budget a cell gets (grid < model < dataset overrides); ETTh1 stands for every set but
    # ILI. darts' validation loader uses the training batch size, not eval_batch_size.
    budget = cells(grid, models=["darts_transformer"], datasets=["ETTh1"])[0].budget
    val_windows = budget.max_epochs * budget.limit_val_batches * budget.batch_size
    spec = next(m for m in grid["models"] if m["name"] == "darts_transformer")
    timeout_h = spec.get("cell_timeout_s", grid["cell_timeout_s"]) / 3600  # its own beats grid's
    counts = windows_per_task(RUNS)
    datasets = [d["name"] for d in grid["datasets"]]

    lines = [
        "# darts TransformerModel: decode cost per window and what it means for a grid cell", "",
        f"`python -m benchmarks.transformer_cost --horizons {' '.join(map(str, args.horizons))} "
        f"--windows {args.windows}`: one `predict` of {args.windows} random windows "
        f"(L = {L}, C = {C}) in one batch, 1 torch thread; {machine('cpu')}; "
        f"{versions()}.", "",
        f"Lower bound on a `full.yaml` cell = seconds per window x ({val_windows} validation "
        f"windows: {budget.max_epochs} epochs x {budget.limit_val_batches} batches x "
        f"{budget.batch_size} + every test window); training steps not counted. The grid "
        f"stops a Transformer cell after {timeout_h:.1f} h. `-`: the grid has no rows for that "
        "dataset at this horizon (national_illness uses H = 24-60).", "",
        "decoder `darts`: darts' own loop (H decoder passes over all steps so far); `kv_cache`: "
        "the grid's cached decoder, one token per step (same forecasts); `speed-up`: darts' "
        "seconds over the cache's, measured side by side.", "",
        "| H | decoder | s / window | speed-up | "
        + " | ".join(f"{d} cell, h" for d in datasets) + " |",
        "|---|---|---|---|" + "---|" * len(datasets),
    ]
    for horizon in args.horizons:
        timed = {name: seconds_per_window(horizon, args.windows, kv_cache=name == "kv_cache")
                 for name in ("darts", "kv_cache")}
        for decoder, per_window in timed.items():
            hours = []
            for name in datasets:
                n_test = counts.get((name, horizon))
                hours.append("-" if n_test is None else
                             f"{per_window * (val_windows + n_test) / 3600:.2f}")
            ratio = f"{timed['darts'] / per_window:.1f}x"
            lines.append(f"| {horizon} | {decoder} | {per_window:.3f} | {ratio} | "
                         + " | ".join(hours) + " |")
            print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
