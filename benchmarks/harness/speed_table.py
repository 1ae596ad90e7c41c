"""Speed table: every model of a grid side by side, in one run, on one task.

Per model: trained parameters; training seconds per epoch (median wall time of a training
batch -- forward, backward, optimizer step -- times the batches of one full epoch, measured over
``--batches`` batches); inference seconds per window at batch 1 and batch 256, twice: the
network's forward alone (timed by forward hooks on the torch module that forecasts) and the
library's whole predict call (darts ``predict`` with its series bookkeeping, p-f's dataset and
trainer, our collapsed map); medians over repeated calls, so that a loaded machine's preemptions
do not dominate. One torch thread by default: on a machine shared with other jobs, OpenMP
barriers between two threads turn a 0.1 ms product into a 20 ms stall. Linear DLNs forecast
through their collapsed map.

Usage: ``python -m benchmarks.harness.speed_table --grid benchmarks/grids/full.yaml
[--dataset ETTh1 --horizon 96] [--models ...] [--out benchmarks/results/harness/speed]``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as lpl
import torch

from benchmarks.harness.grid import load_grid, quiet
from benchmarks.harness.models import EXTRA_CALLBACKS, Budget, adapter, machine, versions
from benchmarks.harness.task import Task

BATCHES = (1, 256)


class BatchTimer(lpl.Callback):
    """Times training batches (a ``lightning.pytorch`` callback; darts' Trainer accepts it too)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.per_epoch: int | None = None
        self._start = 0.0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        try:
            self.per_epoch = len(trainer.fit_loop._data_source.dataloader())
        except Exception:  # noqa: BLE001 - fall back to what the trainer reports
            self.per_epoch = None

    def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        self.times.append(time.perf_counter() - self._start)


class ForwardTimer:
    """Total seconds spent inside ``module.forward`` while attached."""

    def __init__(self, module: Any) -> None:
        self.total, self._start = 0.0, 0.0
        self.handles = [module.register_forward_pre_hook(self._pre),
                        module.register_forward_hook(self._post)] if module is not None else []

    def _pre(self, *args: Any) -> None:
        self._start = time.perf_counter()

    def _post(self, *args: Any) -> None:
        self.total += time.perf_counter() - self._start

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def measure(spec: dict[str, Any], task: Task, batches: int, repeats: int) -> dict[str, Any]:
    """Train briefly with a batch timer, then time inference at batch 1 and 256."""
    timer = BatchTimer()
    EXTRA_CALLBACKS[:] = [timer]
    budget = Budget(max_epochs=1, limit_train_batches=batches, limit_val_batches=2)
    x, _ = task.windows("test")
    with tempfile.TemporaryDirectory() as work_dir:
        start = time.perf_counter()
        fitted = adapter(spec["kind"])(spec, task, 0, budget, work_dir)
        fit_s = time.perf_counter() - start
        row: dict[str, Any] = {"model": spec["name"], "params": fitted.params}
        if timer.times:
            step = statistics.median(timer.times[2:] or timer.times)
            row["train_s_per_epoch"] = step * (timer.per_epoch or len(timer.times))
            row["batches_per_epoch"] = timer.per_epoch
        else:  # closed form: the exact solve is the whole training
            row["train_s_per_epoch"], row["batches_per_epoch"] = fit_s, 0
        for b in BATCHES:
            fitted.predict(x[:b])  # warm-up
            hooks = ForwardTimer(fitted.network)
            api, net, spent = [], [], 0.0
            while len(api) < repeats and (len(api) < 3 or spent < 60):  # median of calls
                before, start = hooks.total, time.perf_counter()
                fitted.predict(x[:b])
                api.append(time.perf_counter() - start)
                net.append(hooks.total - before if fitted.network is not None else api[-1])
                spent += api[-1]
            hooks.remove()
            row[f"net_s_per_window_b{b}"] = statistics.median(net) / b
            row[f"api_s_per_window_b{b}"] = statistics.median(api) / b
    EXTRA_CALLBACKS.clear()
    return row


def write(rows: list[dict[str, Any]], out: Path, header: str) -> None:
    """``speed.csv`` and ``speed.md`` with ratios to the fastest collapsed DLN."""
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "speed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = [header, "", "| model | params | train s/epoch | net ms/window b1 | net ms/window "
             "b256 | API ms/window b1 | API ms/window b256 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']} | {r['train_s_per_epoch']:.1f} | "
                     + " | ".join(f"{1e3 * r[k]:.4f}" for k in (
                         "net_s_per_window_b1", "net_s_per_window_b256",
                         "api_s_per_window_b1", "api_s_per_window_b256")) + " |")
    by = {r["model"]: r for r in rows}
    dlns = [r for r in rows if r["model"].startswith("dln") and "relu" not in r["model"]]
    lines.append("")
    for ref in ("darts_transformer", "darts_lstm"):
        if ref in by and dlns:
            for b in BATCHES:
                key = f"net_s_per_window_b{b}"
                worst = max(dlns, key=lambda r: r[key])
                lines.append(f"- net forward, batch {b}: {ref} / slowest collapsed DLN "
                             f"({worst['model']}) = {by[ref][key] / worst[key]:.0f}x")
    (out / "speed.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", type=Path, default=Path("benchmarks/grids/full.yaml"))
    parser.add_argument("--dataset", default="ETTh1")
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--lookback", type=int, default=336)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--batches", type=int, default=12, help="training batches timed")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed predict calls per batch size (fewer past 60 s; median)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: no OpenMP barrier stalls on a loaded machine)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/harness/speed"))
    args = parser.parse_args(argv)
    quiet()
    torch.set_num_threads(args.threads)
    task = Task(args.dataset, args.lookback, args.horizon, args.data_dir)
    rows = []
    for spec in load_grid(args.grid)["models"]:
        if args.models and spec["name"] not in args.models:
            continue
        # kv_cache is the harness's faster decoder; the speed table times darts as users get it
        spec = {k: v for k, v in spec.items() if k != "kv_cache"}
        rows.append(measure(spec, task, args.batches, args.repeats))
        print(rows[-1], flush=True)
        header = (f"# Speed table: {args.dataset}, L={args.lookback}, H={args.horizon}, one run\n\n"
                  f"`python -m benchmarks.harness.speed_table --grid {args.grid}`; {machine()}; "
                  f"{versions()}. Training: median batch time (batch 32) x batches per epoch, "
                  f"from {args.batches} batches. Inference: median of up to {args.repeats} calls "
                  "(at least 3; fewer when they take over 60 s).")
        write(rows, args.out, header)


if __name__ == "__main__":
    main()
