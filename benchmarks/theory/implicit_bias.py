"""Can depth's implicit bias beat the closed form? Full-batch depth-N flow on real LTSF data.

THEORY.md section 6: a DLN is one linear map, so it can beat the exact least-squares optimum
(the closed form) on the test set only through implicit regularisation, i.e. *which* map the
training stops at. Section 4 names the bias a deep net has from small initialisation: modes are
learned one at a time, strongest first, so an early-stopped deep net is close to a
**reduced-rank** regression. This experiment measures both halves on the harness's exact task
(ETTh1 by default, any LTSF dataset with ``--dataset``; L = 336, Toner & Darlow's features
``[x - mu, sigma]``, every window, scaled data):

1. the oracle of that bias: reduced-rank regression (the closed form projected on its top-k
   output modes, in the metric of the training features), rank chosen on validation;
2. the bias itself: gradient flow on the end-to-end map with the depth-N metric
   (:class:`lightning_dln.theory.DepthFlow`, exactly balanced explicit GD up to O(lr)), full
   batch, from a flat small start ``W0 = eps * semi-orthogonal``, for N = 1, 2, 3, 4, 10, inf;
   the stopping step is chosen on validation (early stopping), as the harness's DLNs do.

What to expect at large N: the flow cannot rotate the row space of a wide map at N = inf and
does so N times slower at finite N (THEORY.md section 3; ``tests/test_implicit_bias.py`` checks
that N = inf ends at the best map inside the start's row space), so deep flows from a random
start stay far from least squares within any step budget.

The loss is a quadratic in W, so train, validation and test MSE come exactly from second
moments (``common.py``): a step costs O(H P^2) whatever the number of windows. Test MSE at the
validation-chosen point is the honest number; the best test MSE along the path is printed as an
oracle ceiling only.

Usage: ``LIGHTNING_DLN_DATA=/path/to/csvs python benchmarks/theory/implicit_bias.py [--quick]
[--dataset ETTm1] [--horizons 96 192] [--depths 1 2 inf] [--steps N]``. Writes
``implicit_bias.md`` / ``.png`` (``--dataset`` other than ETTh1: ``implicit_bias_<dataset>.*``)
to ``benchmarks/results/theory/``.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from common import Quadratic, Timer, fmt_depth, parser, semi_orthogonal

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: benchmarks.*

from benchmarks.harness.closed_form import RidgeIN, _features  # noqa: E402
from benchmarks.harness.task import Task  # noqa: E402
from lightning_dln import theory  # noqa: E402
from lightning_dln.plots import _pyplot  # noqa: E402

LOOKBACK = 336
EPS = 1e-2
MOMENTUM = 0.9


def moments(windows: np.ndarray, lookback: int = LOOKBACK) -> Quadratic:
    """Moments of windows ``(N, L + H, C)`` with the closed form's features ``P`` (float64)."""
    sff = syf = None
    syy, rows = 0.0, 0
    for i in range(0, len(windows), 2048):
        f, y, _, _ = _features(windows[i : i + 2048], lookback, "mean")
        parts = (f.T @ f, y.T @ f)
        sff, syf = parts if sff is None else (sff + parts[0], syf + parts[1])
        syy += float((y * y).sum())
        rows += len(f)
    return Quadratic(torch.from_numpy(sff / rows), torch.from_numpy(syf / rows), syy / rows,
                     syf.shape[0])


def split_moments(task: Task) -> dict[str, Quadratic]:
    """Train, validation and test moments of a task (every window)."""
    out = {}
    for split in ("train", "val", "test"):
        seg = task.segment(split)
        win = np.lib.stride_tricks.sliding_window_view(seg, LOOKBACK + task.horizon, axis=0)
        out[split] = moments(win.transpose(0, 2, 1))
    return out


def reduced_rank(w: torch.Tensor, sff: torch.Tensor, ranks: list[int]) -> dict[int, torch.Tensor]:
    """``w`` projected on its top-k output modes in the metric ``sff``, for every k."""
    fitted = w @ sff @ w.T  # (H, H): covariance of the fitted values
    _, vecs = torch.linalg.eigh(fitted)
    vecs = vecs.flip(1)
    return {k: vecs[:, :k] @ vecs[:, :k].T @ w for k in ranks}


def lam_max(m: dict[str, Quadratic]) -> float:
    """Largest eigenvalue of the training feature moments."""
    return float(torch.linalg.eigvalsh(m["train"].sxx)[-1])


def flow_path(m: dict[str, Quadratic], depth: float, lr: float, steps: int, every: int,
              eps: float = EPS) -> np.ndarray:
    """Full-batch depth-N flow from ``eps * semi-orthogonal``; rows (step, train, val, test MSE)."""
    h, p = m["train"].syx.shape
    w = torch.nn.Parameter(eps * semi_orthogonal(h, p))
    # Heavy-ball momentum 0.9 follows the same flow about 10x faster per step (same path, up to
    # O(lr) discretisation); without it the weak modes need ~10^5 steps.
    opt = theory.DepthFlow([w], lr=lr, depth=depth, momentum=MOMENTUM)
    path = []
    for step in range(steps + 1):
        if step % every == 0:
            wd = w.detach()
            path.append((step, *(float(m[s].loss(wd)) for s in ("train", "val", "test"))))
            if not math.isfinite(path[-1][1]):
                raise FloatingPointError(f"depth {depth}: diverged at step {step} (lr {lr})")
        w.grad = m["train"].grad(w.detach())
        opt.step()
    return np.array(path)


def run(horizon: int, depths: list[float], steps: int, data: str | None,
        dataset: str = "ETTh1") -> dict:
    """Every method on one dataset and horizon; returns the table rows and the flow paths."""
    task = Task(dataset, LOOKBACK, horizon, data)
    m = split_moments(task)
    ridge = RidgeIN(LOOKBACK, horizon).fit(task.segment("train"), *task.windows("val"))
    w_ridge = torch.from_numpy(ridge.weight.T.copy())  # (H, P)
    print(f"H={horizon}: lambda_max(Sff) = {lam_max(m):.3g}, "
          f"s_max(W) = {float(torch.linalg.matrix_norm(w_ridge, ord=2)):.3g}", flush=True)
    rows = [("closed form (ridge, alpha on val)", f"alpha={ridge.alpha:g}",
             float(m["val"].loss(w_ridge)), float(m["test"].loss(w_ridge)))]
    ranks = sorted({k for k in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96) if k <= horizon})
    rrr = reduced_rank(w_ridge, m["train"].sxx, ranks)
    scored = {k: (float(m["val"].loss(w)), float(m["test"].loss(w))) for k, w in rrr.items()}
    k_val = min(scored, key=lambda k: scored[k][0])
    rows.append(("reduced-rank closed form (rank on val)", f"rank={k_val}", *scored[k_val]))
    # Stable step: the end-to-end curvature grows like lambda_max(Sff) * s_max(W)^(2 - 2/N).
    lam = lam_max(m)
    s_max = float(torch.linalg.matrix_norm(w_ridge, ord=2))
    paths = {}
    for depth in depths:
        power = 2.0 if math.isinf(depth) else 2.0 - 2.0 / depth
        lr = 0.5 * horizon / (lam * max(1.0, s_max) ** power)  # heavy ball: stable below 2 (1 + m)
        path = flow_path(m, depth, lr, steps, every=max(1, steps // 400))
        paths[depth] = path
        best = path[np.argmin(path[:, 2])]
        rows.append((f"depth-{fmt_depth(depth)} flow, early-stopped on val",
                     f"step={int(best[0])}", best[2], best[3]))
    return {"horizon": horizon, "rows": rows, "paths": paths, "ranks": scored,
            "oracle_flow": {d: float(p[:, 3].min()) for d, p in paths.items()}}


def main() -> None:
    """Run the experiment and write the markdown table and the figure."""
    cli = parser(__doc__)
    cli.add_argument("--dataset", default="ETTh1", help="LTSF dataset name (default ETTh1)")
    cli.add_argument("--steps", type=int, default=None, help="full-batch steps per depth")
    cli.add_argument("--horizons", type=int, nargs="+", default=None,
                     help="horizons (default 96 336; --quick: 96)")
    cli.add_argument("--depths", type=float, nargs="+", default=None,
                     help="flow depths, inf allowed (default 1 2 3 4 10 inf; --quick: 1 2 inf)")
    args = cli.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data or os.environ.get("LIGHTNING_DLN_DATA")
    horizons = args.horizons or ([96] if args.quick else [96, 336])
    depths = args.depths or ([1, 2, math.inf] if args.quick else [1, 2, 3, 4, 10, math.inf])
    depths = [d if math.isinf(d) else int(d) for d in depths]
    steps = args.steps or (2000 if args.quick else 20000)
    timer = Timer()
    results = []
    for h in horizons:  # write after every horizon: a long run keeps what it finished
        results.append(run(h, depths, steps, data, args.dataset))
        write(args, results, steps, timer)


def write(args, results: list[dict], steps: int, timer: Timer) -> None:
    """Write the markdown table and the figure of the horizons done so far."""
    cmd = " ".join(["python benchmarks/theory/implicit_bias.py", *sys.argv[1:]])
    stem = "implicit_bias" + ("" if args.dataset == "ETTh1" else f"_{args.dataset}")
    lines = [f"# Implicit bias of depth vs the closed form ({args.dataset}, L = 336)", "",
             f"`{cmd}`, {steps} full-batch steps (heavy ball {MOMENTUM}) per depth from "
             f"W0 = {EPS} x semi-orthogonal, {timer():.0f} s. Test MSE of the point chosen on "
             "validation; the oracle line gives the best test MSE anywhere on the path (not a "
             "result, a ceiling).", ""]
    for res in results:
        base = res["rows"][0][3]
        lines += [f"## H = {res['horizon']}", "", "| method | chosen on val | val MSE | test MSE "
                  "| vs closed form |", "|---|---|---|---|---|"]
        for name, choice, val, test in res["rows"]:
            lines.append(f"| {name} | {choice} | {val:.4f} | {test:.4f} | "
                         f"{100 * (test / base - 1):+.2f}% |")
        ranks = ", ".join(f"{k}: {v:.4f}/{t:.4f}" for k, (v, t) in res["ranks"].items())
        oracle = ", ".join(f"N={fmt_depth(d)}: {t:.4f}" for d, t in res["oracle_flow"].items())
        lines += ["", f"Reduced rank, val/test MSE by rank: {ranks}.", "",
                  f"Flow, best test MSE anywhere on the path (oracle): {oracle}.", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        for depth, path in res["paths"].items():
            line, = ax.plot(path[:, 0] + 1, path[:, 3], label=f"N={fmt_depth(depth)}")
            chosen = path[np.argmin(path[:, 2])]  # the early-stopping point (on validation)
            ax.plot(chosen[0] + 1, chosen[3], "o", color=line.get_color())
        ax.axhline(res["rows"][0][3], color="k", ls="--", label="closed form")
        ax.axhline(res["rows"][1][3], color="grey", ls="-.", label="reduced rank (val)")
        ax.set_xscale("log")
        ax.set_ylim(res["rows"][0][3] * 0.97, res["rows"][0][3] * 1.15)
        ax.set_title(f"{args.dataset} H={res['horizon']}: test MSE along the flow "
                     "(o: stop on val)")
        ax.set_xlabel("full-batch step + 1")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=120)


if __name__ == "__main__":
    main()
