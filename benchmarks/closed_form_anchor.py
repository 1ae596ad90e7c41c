"""Credibility check 1: the closed form reproduces Toner & Darlow on ETTh1 (L = 336).

Ridge least squares with instance norm (``benchmarks.harness.closed_form.RidgeIN``), the exact
solution over every training window, alpha chosen on validation, every test window scored by the
harness' own code. Target (THEORY.md section 6): MSE 0.371 / 0.405 / 0.431 / 0.442 at
H = 96 / 192 / 336 / 720, within 2%. Both instance norms are reported: ``mean`` (Toner &
Darlow's features ``[x - mu, sigma]``, the anchor) and ``revin`` (targets divided by sigma too).

Usage: ``python -m benchmarks.closed_form_anchor [--data-dir DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.harness.models import Budget, machine, run_cell, versions
from benchmarks.harness.task import Task

TARGET = {96: 0.371, 192: 0.405, 336: 0.431, 720: 0.442}
TOLERANCE = 0.02


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder of ETTh1.csv")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/closed_form_anchor.md"))
    args = parser.parse_args(argv)
    lines = ["# Closed-form anchor: ridge + instance norm on ETTh1, L = 336, every test window",
             "", "Command: `python -m benchmarks.closed_form_anchor --data-dir <LTSF CSVs>`; "
             f"{machine()}; {versions()}.", "",
             "| H | norm | alpha (rel.) | test MSE | test MAE | target MSE | rel. diff | "
             "within 2% | windows | seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for horizon, target in TARGET.items():
        task = Task("ETTh1", 336, horizon, args.data_dir)
        for norm in ("mean", "revin"):
            start = time.perf_counter()
            row = run_cell({"kind": "closed_form", "norm": norm}, task, 0, Budget())
            rel = row["mse"] / target - 1
            ok = "yes" if abs(rel) <= TOLERANCE else "no"
            ok = ok if norm == "mean" else f"({ok})"  # only the mean norm is the anchor
            alpha = row["notes"].split()[0].split("=")[1]
            lines.append(f"| {horizon} | {norm} | {alpha} | {row['mse']:.4f} | {row['mae']:.4f} "
                         f"| {target} | {100 * rel:+.2f}% | {ok}"
                         f" | {row['n_test_windows']} | {time.perf_counter() - start:.1f} |")
            print(lines[-1], flush=True)
    lines += ["", "The anchor is `norm = mean`, Toner & Darlow's instance norm for a linear model "
              "(subtract the lookback mean, append the lookback std as a feature, no intercept). "
              "`revin` also divides inputs and targets by the std, which weights the squared "
              "error of each window by 1/std^2; it is shown for comparison only.", ""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
