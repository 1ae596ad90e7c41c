"""Freezing of row-space directions at large depth for L -> H maps (THEORY.md section 3).

Real problem: ETTh1 L = 48 -> H = 12 least squares (``common.py``): W is 12 x 48 (m < n), so
the kernel of W (36 of 48 input directions) gets the multiplier ``s^{2-2/N}`` instead of
``N s^{2-2/N}``: with lr0/N per layer it learns N times slower, and at N = inf not at all. Start:
exactly balanced, ``W0 = semi-orthogonal`` (row space R0, all singular values 1), lr0 fixed.
Measured after T full-batch steps:

- ``excess``: ``(loss - loss*) / (loss0 - loss*)``, and the floor a frozen row space allows
  (best W with row space R0);
- ``kernel learned``: ``||W (I - P0)|| / ||W* (I - P0)||``, the part of the optimum outside R0
  that has been learned (P0 = projector on R0; 1 = all of it);
- ``rotation``: mean ``sin^2`` of the principal angles between row(W) and R0.

Runs: the balanced depth flow for N in {1, 2, 8, 32, 128, inf}; at N = 32 explicit dense factors
(balanced, the baseline), and three remedies: (a) input-layer boost: explicit factors with the
input layer W_1 at rate lr0 instead of lr0/N (the only term of P_N with the identity on the
right is W_1's, so this restores the kernel rate); (b) identity-residual init (hidden factors I,
unbalanced); (c) flow + kernel boost: ``P_N[W](G)/N + G (I - V V^T)`` (plain gradient on the
kernel of W), also at N = inf.

Usage: ``LIGHTNING_DLN_DATA=/path/to/csvs python benchmarks/theory/row_space_freezing.py [--quick]``
Writes ``row_space_freezing.png`` and ``row_space_freezing.md`` to ``benchmarks/results/theory/``.
"""

from __future__ import annotations

import math

import torch
from common import Timer, etth1_problem, fmt_depth, parse, semi_orthogonal

from lightning_dln import theory
from lightning_dln.models.init import init_matrices
from lightning_dln.plots import _pyplot


class Metrics:
    """Excess loss, kernel component learned and row-space rotation relative to R0."""

    def __init__(self, prob, w0: torch.Tensor) -> None:
        self.prob = prob
        v0 = torch.linalg.svd(w0, full_matrices=False)[2].T  # (L, m)
        self.p0 = v0 @ v0.T
        self.q0 = torch.eye(w0.shape[1], dtype=w0.dtype) - self.p0
        self.loss0 = float(prob.loss(w0))
        self.star_ker = float((prob.w_star @ self.q0).norm())
        a = prob.syx @ v0 @ torch.linalg.inv(v0.T @ prob.sxx @ v0)  # best W = A V0^T
        self.floor = self.excess(a @ v0.T)

    def excess(self, w: torch.Tensor) -> float:
        """Excess loss relative to the initial excess."""
        return (float(self.prob.loss(w)) - self.prob.loss_star) / (self.loss0 - self.prob.loss_star)

    def __call__(self, w: torch.Tensor) -> dict[str, float]:
        v = torch.linalg.svd(w, full_matrices=False)[2].T  # (L, m)
        rot = 1.0 - float((v.T @ self.p0 @ v).trace()) / v.shape[1]
        return {"excess": self.excess(w), "kernel": float((w @ self.q0).norm()) / self.star_ker,
                "rotation": rot}


def flow_run(prob, w0, depth: float, lr0: float, steps: int, boost: float = 0.0) -> list[dict]:
    """Depth-N flow, optionally plus ``boost * G (I - V V^T)`` on the kernel of W."""
    w, metrics, hist = w0.clone(), Metrics(prob, w0), []
    for step in range(steps + 1):
        if step % max(steps // 100, 1) == 0 or step == steps:
            hist.append({"step": step, **metrics(w)})
        g = prob.grad(w)
        d = theory.depth_operator(w, g, depth, normalized=True)
        if boost:
            vh = torch.linalg.svd(w, full_matrices=False)[2]  # (m, L): row space of W
            d = d + boost * (g - g @ vh.T @ vh)
        w = w - lr0 * d
    return hist


def explicit_run(prob, factors: list[torch.Tensor], lr0: float, steps: int,
                 input_rate: float | None = None) -> list[dict]:
    """Explicit GD, rate lr0/N per layer (``input_rate`` for W_1 if given)."""
    n = len(factors)
    ps = [torch.nn.Parameter(f.clone()) for f in factors]
    groups = [{"params": ps[1:], "lr": lr0 / n},
              {"params": ps[:1], "lr": lr0 / n if input_rate is None else input_rate}]
    opt = torch.optim.SGD(groups)
    metrics, hist = Metrics(prob, theory.end_to_end(factors)), []
    for step in range(steps + 1):
        opt.zero_grad()
        w = theory.end_to_end(ps)
        if step % max(steps // 100, 1) == 0 or step == steps:
            hist.append({"step": step, **metrics(w.detach())})
        prob.loss(w).backward()
        opt.step()
    return hist


def main() -> None:
    args = parse(__doc__)
    steps, lr0, n_rem = (1000, 0.2, 32) if args.quick else (5000, 0.2, 32)
    timer = Timer()
    prob = etth1_problem(data=args.data)
    h, l_ = prob.w_star.shape
    w0 = semi_orthogonal(h, l_)
    runs = {f"flow N={fmt_depth(n)}": flow_run(prob, w0, n, lr0, steps)
            for n in (1, 2, 8, 32, 128, math.inf)}
    balanced = theory.balanced_factors(w0, n_rem, widths=[l_] * (n_rem - 1),
                                       generator=torch.Generator().manual_seed(1))
    runs[f"explicit N={n_rem} balanced"] = explicit_run(prob, balanced, lr0, steps)
    runs[f"(a) explicit N={n_rem}, input layer at lr0"] = explicit_run(
        prob, balanced, lr0, steps, input_rate=lr0)
    resid = [m[0] for m in init_matrices("identity_residual", [l_] * n_rem + [h], 1, 1.0)]
    runs[f"(b) explicit N={n_rem}, identity-residual init"] = explicit_run(prob, resid, lr0, steps)
    runs[f"(c) flow N={n_rem} + kernel boost"] = flow_run(prob, w0, n_rem, lr0, steps, boost=1.0)
    runs["(c) flow N=inf + kernel boost"] = flow_run(prob, w0, math.inf, lr0, steps, boost=1.0)
    floor = Metrics(prob, w0).floor

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for i, (name, hist) in enumerate(runs.items()):
        style = "-" if name.startswith("flow") else "--"
        for ax, key in zip(axes, ("excess", "kernel", "rotation"), strict=True):
            ax.plot([r["step"] for r in hist], [r[key] for r in hist], style, lw=1.3,
                    color=f"C{i % 10}", label=name)
    axes[0].axhline(floor, color="k", lw=0.8, ls=":", label="frozen row-space floor")
    axes[0].set_yscale("log")
    for ax, label in zip(axes, ("excess loss / initial excess", "kernel component learned",
                                "row-space rotation (mean sin^2)"), strict=True):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"ETTh1 L=48->H=12: row-space freezing at depth (lr0={lr0}, balanced start)",
                 fontsize=10)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "row_space_freezing.png", dpi=110, bbox_inches="tight")
    lines = ["# Row-space freezing at depth, and remedies (ETTh1, L=48 -> H=12)", "",
             f"Full-batch GD, lr0 = {lr0} (per layer lr0/N), {steps} steps, start W0 = "
             f"semi-orthogonal (12 x 48, balanced). A frozen row space cannot go below an "
             f"excess of {floor:.3f}. Run time {timer():.0f} s"
             f"{' (--quick)' if args.quick else ''}.",
             "", "| run | excess loss (final) | kernel learned | row-space rotation |",
             "|---|---|---|---|"]
    for name, hist in runs.items():
        r = hist[-1]
        lines.append(f"| {name} | {r['excess']:.4f} | {r['kernel']:.3f} | {r['rotation']:.3f} |")
    lines += ["", "![row-space freezing](row_space_freezing.png)", ""]
    (args.out / "row_space_freezing.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
