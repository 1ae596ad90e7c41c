"""Cost of a depth-flow training step vs a depth-1 linear step vs an explicit depth-N step.

ETTh1 shapes: a batch of 256 windows x 7 channels (weights shared across channels), L = 336,
H = 96. Three :class:`~lightning_dln.module.DLNForecaster` s, each stepped by its own
``configure_optimizers()`` on the same batch, measured side by side in one run (median of
``--repeats`` steps after a warm-up):

1. ``flow``: ``net.parametrization='flow'``, ``depth=N`` (default 1000), ``optimizer='flow'``:
   one end-to-end matrix and one thin SVD a step (:class:`lightning_dln.theory.DepthFlow`);
2. ``linear``: ``depth=1`` explicit, plain SGD (one linear layer);
3. ``explicit``: ``depth=N`` explicit dense factors (336 wide), plain SGD, autograd through all.

Targets (issue 4): flow <= 3x linear and explicit >= 20x flow. Data are random tensors of the
ETTh1 shapes (the cost does not depend on the values).

Usage: ``python -m benchmarks.flow_speed [--quick] [--device cpu|cuda] [--depth 1000]``.
Writes ``flow_speed[_cuda].csv`` and ``flow_speed[_cuda].md`` to ``--out`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
from pathlib import Path

import torch

from benchmarks.timing import wall_times
from lightning_dln.module import DLNForecaster

B, L, H, C = 256, 336, 96, 7


def step_fn(model: DLNForecaster, x: torch.Tensor, y: torch.Tensor):
    """One training step (zero grad, forward, MSE, backward, optimizer step) as a closure."""
    opt = model.configure_optimizers()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--depth", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=None, help="timed steps (flow and linear)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args()
    dev, n = args.device, args.depth
    reps = args.repeats or (5 if args.quick else 30)
    reps_explicit = max(1, reps // 10) if dev == "cpu" else reps
    torch.manual_seed(0)
    x, y = torch.randn(B, L, C, device=dev), torch.randn(B, H, C, device=dev)
    setups = {
        "flow": dict(net={"depth": n, "parametrization": "flow", "init_scale": 1.0},
                     optimizer="flow", lr=3.0),
        "linear": dict(net={"depth": 1, "init_scale": 1.0}, optimizer="sgd", lr=0.1),
        "explicit": dict(net={"depth": n, "init_scale": 1.0}, optimizer="sgd", lr=1e-4),
    }
    rows = []
    for name, kw in setups.items():
        model = DLNForecaster(L, H, C, **kw).to(dev)
        times = wall_times(step_fn(model, x, y), reps_explicit if name == "explicit" else reps,
                            dev)
        rows.append({"step": name, "depth": 1 if name == "linear" else n,
                     "median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
                     "repeats": len(times),
                     "params": sum(q.numel() for q in model.parameters())})
        print(f"{name:9s} median {rows[-1]['median_ms']:.2f} ms over {len(times)} steps",
              flush=True)
        del model
    t = {r["step"]: r["median_ms"] for r in rows}
    flow_vs_linear, explicit_vs_flow = t["flow"] / t["linear"], t["explicit"] / t["flow"]
    name = torch.cuda.get_device_name() if dev == "cuda" else platform.processor() or "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if dev == "cpu" else f"_{torch.device(dev).type}"
    with open(args.out / f"flow_speed{suffix}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["device"])
        writer.writeheader()
        writer.writerows({**r, "device": name} for r in rows)
    lines = [
        f"# Depth-flow step vs linear step vs explicit depth-{n} step", "",
        f"Batch {B} windows x {C} channels (shared weights), L={L}, H={H}, float32, device "
        f"`{dev}` ({name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads). "
        "Median wall time of one training step (forward, MSE, backward, optimizer step).", "",
        "| step | depth | median ms | min ms | repeats | parameters |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['depth']} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | "
              f"{r['repeats']} | {r['params']:,} |" for r in rows]
    lines += ["", f"- flow / linear = **{flow_vs_linear:.2f}x** (target <= 3x: "
              f"{'met' if flow_vs_linear <= 3 else 'NOT met'})",
              f"- explicit / flow = **{explicit_vs_flow:.0f}x** (target >= 20x: "
              f"{'met' if explicit_vs_flow >= 20 else 'NOT met'})", ""]
    (args.out / f"flow_speed{suffix}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
