"""Depth vs convergence speed at equal lr0 with the 1/N per-layer scaling (THEORY.md s. 2-3).

Real problem: ETTh1 L = 48 -> H = 12 least squares (see ``common.py``), full batch, from an
exactly balanced start ``W0 = scale * semi-orthogonal`` (all singular values = scale), for
scale 1 and 0.1. Every depth uses the same lr0: the closed-form depth flow
(:class:`lightning_dln.theory.DepthFlow`, i.e. exactly balanced GD at per-layer rate lr0/N) for
N in {1, 2, 4, 8, 16, 64, 256}, and explicit dense factors for the small N as a cross-check.
Reported: steps until the excess loss ``loss - loss*`` falls below 10% and 1% of its initial value.

Usage: ``LIGHTNING_DLN_DATA=/path/to/csvs python benchmarks/theory/depth_speed.py [--quick]``
Writes ``depth_speed.png`` and ``depth_speed.md`` to ``benchmarks/results/theory/``.
"""

from __future__ import annotations

import torch
from common import Timer, etth1_problem, parse, semi_orthogonal

from lightning_dln import theory
from lightning_dln.plots import _pyplot

DEPTHS = [1, 2, 4, 8, 16, 64, 256]
LEVELS = (0.1, 0.01)


def flow_curve(prob, depth: int, scale: float, lr0: float, steps: int) -> list[float]:
    """Excess-loss curve of the balanced depth-N flow."""
    w = torch.nn.Parameter(scale * semi_orthogonal(*prob.w_star.shape))
    opt = theory.DepthFlow([w], lr=lr0, depth=depth)
    curve = []
    for _ in range(steps + 1):
        curve.append(float(prob.loss(w.detach())) - prob.loss_star)
        w.grad = prob.grad(w.detach())
        opt.step()
    return curve


def explicit_curve(prob, depth: int, scale: float, lr0: float, steps: int) -> list[float]:
    """Excess-loss curve of explicit GD on balanced dense factors (width L), lr0/N per layer."""
    h, l_ = prob.w_star.shape
    factors = [torch.nn.Parameter(f) for f in theory.balanced_factors(
        scale * semi_orthogonal(h, l_), depth, widths=[l_] * (depth - 1),
        generator=torch.Generator().manual_seed(1))]
    opt = torch.optim.SGD(factors, lr=lr0 / depth)
    curve = []
    for _ in range(steps + 1):
        opt.zero_grad()
        loss = prob.loss(theory.end_to_end(factors))
        curve.append(float(loss.detach()) - prob.loss_star)
        loss.backward()
        opt.step()
    return curve


def steps_to(curve: list[float], level: float) -> int | None:
    """First step with excess loss <= level * initial excess (``None``: not reached)."""
    target = level * curve[0]
    return next((i for i, v in enumerate(curve) if v <= target), None)


def main() -> None:
    args = parse(__doc__)
    steps, explicit_depths = (2000, [1, 2, 4, 8]) if args.quick else (10000, [1, 2, 4, 8, 16])
    lr0, scales = 0.2, (1.0, 0.1)
    timer = Timer()
    prob = etth1_problem(data=args.data)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scales), figsize=(11, 3.8))
    rows = []
    for ax, scale in zip(axes, scales, strict=True):
        for i, n in enumerate(DEPTHS):
            curve = flow_curve(prob, n, scale, lr0, steps)
            exp = explicit_curve(prob, n, scale, lr0, steps) if n in explicit_depths else None
            rows.append((scale, n, [steps_to(curve, lv) for lv in LEVELS], curve[-1],
                         None if exp is None else [steps_to(exp, lv) for lv in LEVELS]))
            ax.plot([max(v, 1e-12) for v in curve], color=plt.cm.plasma(i / len(DEPTHS)),
                    label=f"N={n}")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_title(f"balanced start, all singular values {scale}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("loss - OLS optimum")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"ETTh1 L=48->H=12: depth vs speed at equal lr0={lr0} (per layer lr0/N)",
                 fontsize=10)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "depth_speed.png", dpi=110, bbox_inches="tight")

    def fmt(v: int | None) -> str:
        return f">{steps}" if v is None else str(v)

    lines = ["# Depth vs convergence speed at equal lr0 (ETTh1, L=48 -> H=12)", "",
             f"Full-batch GD, lr0 = {lr0}, per-layer lr0/N, at most {steps} steps, exactly "
             f"balanced start. Steps until the excess loss is below 10% / 1% of its initial value; "
             f"flow = closed-form DepthFlow, explicit = dense factors by autograd. Run time "
             f"{timer():.0f} s{' (--quick)' if args.quick else ''}.", "",
             "| init scale | N | flow: steps to 10% | flow: steps to 1% | final excess "
             "| explicit: 10% | explicit: 1% |", "|---|---|---|---|---|---|---|"]
    for scale, n, flow_steps, final, exp_steps in rows:
        exp_cols = ["-", "-"] if exp_steps is None else [fmt(v) for v in exp_steps]
        lines.append(f"| {scale} | {n} | {fmt(flow_steps[0])} | {fmt(flow_steps[1])} | "
                     f"{final:.2e} | {exp_cols[0]} | {exp_cols[1]} |")
    lines += ["", "![depth vs speed](depth_speed.png)", ""]
    (args.out / "depth_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
