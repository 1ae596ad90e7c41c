"""Credibility check 2: darts' DLinearModel on ETTh1 (L = 336) vs the published re-run.

Settings of the DLinear paper for ETTh1 (LTSF-Linear ``scripts/EXP-LongForecasting/Linear``):
``individual=False`` (darts ``shared_weights=True``), moving-average kernel 25, Adam lr 0.005
halved after every epoch (``lradj=type1``), batch 32, at most 10 epochs, early stopping with
patience 3 on the validation loss, best epoch restored. Every test window is scored by the
harness' code (``run_cell``). Target: MSE 0.384 / 0.443 / 0.447 / 0.504 at H = 96 / 192 / 336 /
720 (every test window, no ``drop_last``), within 5%.

It also checks, at the first horizon, that the harness' batched ``predict(n=H, series=[...])``
over windows it builds itself equals darts' ``historical_forecasts(retrain=False,
last_points_only=False, stride=1, forecast_horizon=H)`` over the test segment, and times both.

Usage: ``python -m benchmarks.dlinear_anchor [--data-dir DIR] [--horizons 96 192 336 720]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness.adapters import darts as darts_adapter
from benchmarks.harness.models import Budget, machine, run_cell, versions
from benchmarks.harness.task import Task

TARGET = {96: 0.384, 192: 0.443, 336: 0.447, 720: 0.504}
TOLERANCE = 0.05
SPEC = {"name": "darts_dlinear_paper", "kind": "darts", "cls": "DLinearModel", "lr": 0.005,
        "lr_scheduler": {"cls": "ExponentialLR", "kwargs": {"gamma": 0.5}},
        "kwargs": {"shared_weights": True, "kernel_size": 25}}
BUDGET = Budget(max_epochs=10, patience=3, batch_size=32)


def check_predict_path(task: Task, seed: int) -> str:
    """Train 1 epoch; compare batched predict on our windows with historical_forecasts."""
    with tempfile.TemporaryDirectory() as work:
        budget = Budget(max_epochs=1, patience=3, batch_size=32)
        model = darts_adapter.build(SPEC, task, seed, budget, work)
        model.fit(darts_adapter.series(task.segment("train")),
                  val_series=darts_adapter.series(task.segment("val")), verbose=False)
        x, _ = task.windows("test")
        start = time.perf_counter()
        ours = model.predict(n=task.horizon, series=[darts_adapter.series(w) for w in x],
                             batch_size=256, verbose=False, show_warnings=False)
        ours = np.stack([s.values() for s in ours])
        ours_s = time.perf_counter() - start
        test = task.segment("test")  # starts L rows before the first test target
        start = time.perf_counter()
        hfc = model.historical_forecasts(darts_adapter.series(test), start=task.lookback,
                                         start_format="position", forecast_horizon=task.horizon,
                                         stride=1, retrain=False, last_points_only=False,
                                         verbose=False, show_warnings=False)
        hf_s = time.perf_counter() - start
        theirs = np.stack([s.values() for s in hfc])
    diff = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("nan")
    return (f"Prediction path (H={task.horizon}, 1-epoch model): batched `predict` on "
            f"{len(ours)} self-built windows vs `historical_forecasts` ({len(theirs)} "
            f"forecasts): max abs difference {diff:.2e}; wall time {ours_s:.2f} s vs "
            f"{hf_s:.2f} s.")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder of ETTh1.csv")
    parser.add_argument("--horizons", type=int, nargs="*", default=list(TARGET))
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dlinear_anchor.md"))
    args = parser.parse_args(argv)
    lines = ["# DLinear anchor: darts DLinearModel on ETTh1, L = 336, every test window", "",
             "Command: `python -m benchmarks.dlinear_anchor --data-dir <LTSF CSVs>`; seed "
             f"{args.seed}; {machine()}; {versions()}.", "",
             "Settings: shared weights (individual=False), kernel 25, Adam lr 0.005 halved every "
             "epoch, batch 32, <= 10 epochs, early stopping patience 3 on val loss, best epoch.",
             "", "| H | test MSE | test MAE | target MSE | rel. diff | within 5% | epochs | "
             "train s | windows |", "|---|---|---|---|---|---|---|---|---|"]
    path_note = check_predict_path(Task("ETTh1", 336, args.horizons[0], args.data_dir),
                                   args.seed)
    print(path_note, flush=True)
    for horizon in args.horizons:
        task = Task("ETTh1", 336, horizon, args.data_dir)
        row = run_cell(SPEC, task, args.seed, BUDGET)
        rel = row["mse"] / TARGET[horizon] - 1
        lines.append(f"| {horizon} | {row['mse']:.4f} | {row['mae']:.4f} | {TARGET[horizon]} | "
                     f"{100 * rel:+.2f}% | {'yes' if abs(rel) <= TOLERANCE else 'no'} | "
                     f"{row['epochs']} | {row['train_seconds']:.0f} | {row['n_test_windows']} |")
        print(lines[-1], flush=True)
        text = "\n".join(lines + ["", path_note, ""])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)  # after every horizon: partial results survive
    return text


if __name__ == "__main__":
    main()
