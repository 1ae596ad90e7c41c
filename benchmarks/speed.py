"""Speed and memory of deep linear forecasters, measured side by side in one run.

1. Inference: explicit deep forward vs the collapsed map at depth 10, 100, 1000
   (batch 256, L = 336, H = 96, C = 7), median of several repeats.
2. Training: one forward + backward + Adam step vs depth, for dense factors and for residual
   low-rank factors (``I + U V^T``, rank 16, dense output projection); step time (median) and
   peak memory of the step (peak resident-set growth over the steps, in a fresh spawned process
   on CPU; ``max_memory_allocated`` on CUDA).

Usage: ``python -m benchmarks.speed [--quick] [--device cpu|cuda] [--out benchmarks/results]``.
Writes ``speed_inference.csv``, ``speed_training.csv`` and ``speed.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import platform
import resource
import statistics
from pathlib import Path

import torch

from benchmarks.timing import wall_times
from lightning_dln.models import DeepLinearTimeSeries

B, L, H, C = 256, 336, 96, 7
LOWRANK = {"factor": "lowrank", "rank": 16, "residual": True, "init": "identity_residual"}
DENSE = {"factor": "dense"}


def timed(fn, repeats: int, device: str) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up."""
    return statistics.median(wall_times(fn, repeats, device))


def inference_row(depth: int, repeats: int, device: str) -> dict:
    torch.manual_seed(0)
    model = DeepLinearTimeSeries(L, H, C, {"depth": depth}).to(device).eval()
    collapsed = model.collapse().to(device).eval()
    x = torch.randn(B, L, C, device=device)
    with torch.no_grad():
        err = ((collapsed(x) - model(x)).norm() / model(x).norm()).item()
        deep = timed(lambda: model(x), repeats, device)
        flat = timed(lambda: collapsed(x), max(repeats, 20), device)
    return {"depth": depth, "explicit_ms": 1e3 * deep, "collapsed_ms": 1e3 * flat,
            "speedup": deep / flat, "rel_error": err}


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kib(reset_peak: bool = False) -> int:
    """Current resident set (KiB); optionally reset the kernel's peak (VmHWM) to it first.

    Resetting matters: building a model (balanced init, SVDs) can peak above the step itself,
    and ``ru_maxrss`` never goes down, so the step's own peak would read as 0.
    """
    if reset_peak:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
    current = _status_kib("VmRSS")
    return current if current is not None else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kib() -> int:
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _train_step_stats(kind: str, depth: int, repeats: int, device: str, queue=None) -> dict:
    torch.manual_seed(0)
    config = {"depth": depth, **(LOWRANK if kind == "lowrank" else DENSE)}
    model = DeepLinearTimeSeries(L, H, C, config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    x, y = torch.randn(B, L, C, device=device), torch.randn(B, H, C, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_kib(reset_peak=True)
    seconds = timed(step, repeats, device)
    if device == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak_mb = (_peak_rss_kib() - base) / 1024
    row = {"factor": kind, "depth": depth, "params": sum(p.numel() for p in model.parameters()),
           "step_ms": 1e3 * seconds, "peak_step_mb": peak_mb}
    if queue is not None:
        queue.put(row)
    return row


def training_row(kind: str, depth: int, repeats: int, device: str) -> dict:
    """Run in a fresh process on CPU so that the peak-RSS growth belongs to this config only.

    ``spawn``, not ``fork``: a child forked after the parent used torch's OpenMP pool can hang.
    """
    if device == "cuda":
        return _train_step_stats(kind, depth, repeats, device)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_train_step_stats, args=(kind, depth, repeats, device, queue))
    proc.start()
    row = queue.get()
    proc.join()
    return row


def write(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def table(rows: list[dict], fmt: dict[str, str]) -> str:
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    body = "".join("| " + " | ".join(format(r[k], fmt.get(k, "")) for k in r) + " |\n"
                   for r in rows)
    return head + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 10 and 100 only")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    depths = [10, 100] if args.quick else [10, 100, 1000]
    suffix = "" if args.device == "cpu" else f"_{args.device}"

    inference = []
    for depth in depths:
        inference.append(inference_row(depth, args.repeats, args.device))
        print("inference", inference[-1], flush=True)
    training = []
    for depth in [1] + depths:
        for kind in ("dense", "lowrank"):
            repeats = 2 if depth >= 1000 else args.repeats
            training.append(training_row(kind, depth, repeats, args.device))
            print("training", training[-1], flush=True)

    write(inference, out / f"speed_inference{suffix}.csv")
    write(training, out / f"speed_training{suffix}.csv")
    by = {(r["factor"], r["depth"]): r["step_ms"] for r in training}
    cut = {d: by[("dense", d)] / by[("lowrank", d)] for d in [1] + depths}
    machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
               f"torch {torch.__version__}, device {args.device}")
    text = (f"# Speed and memory (batch {B}, L={L}, H={H}, C={C}; {machine})\n\n"
            f"Command: `python -m benchmarks.speed{' --quick' if args.quick else ''}"
            f"{' --device cuda' if args.device == 'cuda' else ''}` (medians of repeats).\n\n"
            "## Inference: explicit deep forward vs collapsed map\n\n"
            + table(inference, {"explicit_ms": ".2f", "collapsed_ms": ".3f", "speedup": ".0f",
                                "rel_error": ".1e"})
            + "\n## Training step (forward + backward + Adam) vs depth\n\n"
            + "low-rank = residual `I + U V^T` factors of rank 16 with a dense output projection."
            + "\n\n" + table(training, {"step_ms": ".1f", "peak_step_mb": ".0f"})
            + "\nDense / low-rank step-time ratio: "
            + ", ".join(f"depth {d}: {r:.1f}x" for d, r in cut.items()) + "\n")
    (out / f"speed{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
