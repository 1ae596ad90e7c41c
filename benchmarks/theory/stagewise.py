"""Stage-wise learning from small initialisation on ETTh1 (THEORY.md section 4).

Real problem: ETTh1 L = 48 -> H = 12 least squares (see ``common.py``), full batch, lr0 / N per
layer. Runs: the closed-form depth flow (exactly balanced GD) from a *flat* small start
``W0 = eps * semi-orthogonal`` (all 12 singular values eps) at N = 2 and N = 4, and explicit
depth-3 gradient descent from i.i.d. Gaussian small factors (unbalanced, ``init='small'``
scaled to end-to-end size eps). Recorded every step: the singular values of W, the effective
rank ``exp H(s / sum s)`` and :func:`lightning_dln.theory.detect_stages` on the effective rank.
Also the step at which each singular value first reaches half of its final value.

Usage: ``LIGHTNING_DLN_DATA=/path/to/csvs python benchmarks/theory/stagewise.py [--quick]``
Writes ``stagewise.png`` and ``stagewise.md`` to ``benchmarks/results/theory/``.
"""

from __future__ import annotations

import torch
from common import Timer, etth1_problem, parse, semi_orthogonal

from lightning_dln import theory
from lightning_dln.plots import _pyplot

EPS = 1e-3


def flow_run(prob, depth: int, lr0: float, steps: int) -> tuple[torch.Tensor, float]:
    """Spectra ``(steps + 1, 12)`` of the balanced depth-N flow from a flat small start."""
    w = torch.nn.Parameter(EPS * semi_orthogonal(*prob.w_star.shape))
    opt = theory.DepthFlow([w], lr=lr0, depth=depth)
    spectra = []
    for _ in range(steps + 1):
        spectra.append(torch.linalg.svdvals(w.detach()))
        w.grad = prob.grad(w.detach())
        opt.step()
    return torch.stack(spectra), float(prob.loss(w.detach()))


def explicit_run(prob, depth: int, lr0: float, steps: int) -> tuple[torch.Tensor, float]:
    """Spectra of explicit GD from Gaussian small (unbalanced) factors, width L."""
    h, l_ = prob.w_star.shape
    gen = torch.Generator().manual_seed(0)
    dims = [l_] * depth + [h]
    root = EPS ** (1.0 / depth)
    factors = [torch.nn.Parameter(root * torch.randn(dims[j + 1], dims[j], generator=gen,
                                                     dtype=torch.float64) / dims[j] ** 0.5)
               for j in range(depth)]
    opt = torch.optim.SGD(factors, lr=lr0 / depth)
    spectra = []
    for _ in range(steps + 1):
        opt.zero_grad()
        w = theory.end_to_end(factors)
        spectra.append(torch.linalg.svdvals(w.detach()))
        prob.loss(w).backward()
        opt.step()
    return torch.stack(spectra), float(prob.loss(theory.end_to_end(factors).detach()))


def half_times(spectra: torch.Tensor) -> list[int | None]:
    """First step at which each singular value reaches half of its final value.

    ``None`` for modes that end below ``0.05`` (not learned: their "half" is noise).
    """
    final = spectra[-1]
    reached = spectra >= 0.5 * final  # (T, k)
    return [int(reached[:, i].nonzero()[0]) if final[i] >= 0.05 else None
            for i in range(spectra.shape[1])]


def main() -> None:
    args = parse(__doc__)
    steps, lr0 = (1500, 0.3) if args.quick else (6000, 0.3)
    timer = Timer()
    prob = etth1_problem(data=args.data)
    star = torch.linalg.svdvals(prob.w_star)
    runs = {"flow N=2 (balanced, flat eps start)": flow_run(prob, 2, lr0, steps),
            "flow N=4 (balanced, flat eps start)": flow_run(prob, 4, lr0, steps),
            "explicit N=3 (Gaussian small, unbalanced)": explicit_run(prob, 3, lr0, steps)}
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(runs), figsize=(5 * len(runs), 6.4), sharex=True)
    lines = ["# Stage-wise learning from small initialisation (ETTh1, L=48 -> H=12)", "",
             f"Full-batch GD on the centred scaled ETTh1 training windows, lr0 = {lr0} "
             f"(per layer lr0/N), {steps} steps, init scale eps = {EPS}. OLS optimum singular "
             f"values: {', '.join(f'{v:.2f}' for v in star.tolist())}. Run time {timer():.0f} s"
             f"{' (--quick)' if args.quick else ''}.", ""]
    for col, (name, (spectra, loss)) in enumerate(runs.items()):
        erank = theory.effective_rank(spectra, is_spectrum=True)  # (T,)
        stages = theory.detect_stages(erank, min_jump=0.3)
        ax_s, ax_e = axes[0, col], axes[1, col]
        for i in range(spectra.shape[1]):
            ax_s.plot(spectra[:, i], lw=1.1, color=plt.cm.viridis(i / spectra.shape[1]))
        ax_s.set_yscale("log")
        ax_s.set_title(name, fontsize=9)
        ax_s.set_ylabel("singular values of W")
        ax_e.plot(erank, color="C3")
        for st in stages:
            ax_e.axvline(st.step, color="0.5", ls="--", lw=0.8)
        ax_e.set_xlabel("step")
        ax_e.set_ylabel("effective rank")
        lo = int(erank.argmin())
        lines += [f"## {name}", "",
                  f"- effective rank: start {float(erank[0]):.2f}, minimum {float(erank[lo]):.2f} "
                  f"at step {lo}, end {float(erank[-1]):.2f} (OLS optimum "
                  f"{float(theory.effective_rank(prob.w_star)):.2f})",
                  f"- final loss {loss:.4f} (optimum {prob.loss_star:.4f}); final singular values "
                  f"{', '.join(f'{v:.2f}' for v in spectra[-1].tolist())}",
                  f"- steps to half of the final value, per singular value (largest first; None = "
                  f"not learned): "
                  f"{half_times(spectra)}",
                  "- detect_stages (rises >= 0.3 of effective rank): "
                  + ("; ".join(f"step {s.step}: {s.rank_before:.2f} -> {s.rank_after:.2f}"
                               for s in stages) or "none"), ""]
    fig.suptitle("ETTh1 L=48->H=12 from small initialisation: singular values (top) and "
                 "effective rank (bottom; dashed: detected rises)", fontsize=10)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "stagewise.png", dpi=110, bbox_inches="tight")
    lines += ["## Reading", "",
              "From a flat small start (all singular values eps) the effective rank first FALLS: "
              "the strongest modes grow out of the flat spectrum (sigmoidal jumps in the "
              "singular values, strongest first, later with depth), then it rises slowly as "
              "weaker modes are learned one by one. The stage-wise structure lives in the "
              "singular values; the effective rank shows it as a fall, then small rises. "
              "Depth lengthens the initial plateau (N=4 vs N=2), as THEORY.md s. 4 predicts "
              "for a small start; weak modes stay near eps within the budget.", "",
              "![stagewise](stagewise.png)", ""]
    (args.out / "stagewise.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
