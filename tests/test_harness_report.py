"""The harness report: number formatting, figures, the overview row, the DLN chosen on
validation and seed aggregation, on hand-made rows."""

from __future__ import annotations

import numpy as np
import pytest


def _overview_cells(head: str, line: str) -> dict[str, str]:
    """A markdown table row as {column: cell}, checking that it has as many cells as the head."""
    split = [[c.strip() for c in text.strip("|").split("|")] for text in (head, line)]
    return dict(zip(*split, strict=True))


def test_report_numbers_keep_four_decimals_and_show_blown_up_errors_compactly():
    from benchmarks.harness.report import _fmt

    assert _fmt(0.17453, float("nan"), bold=False) == "0.1745"
    assert _fmt(0.2, 0.00123, bold=True) == "**0.2000 ± 0.0012**"
    # a depth flow that diverged without reaching inf (weather, lr 3) scored 2.97e20
    assert _fmt(2.968776e20, float("nan"), bold=False) == "2.97e+20"
    assert _fmt(1.5e5, 2.0e5, bold=False) == "1.5e+05 ± 2e+05"


def test_figures_draw_a_blown_up_run_at_the_top_edge_without_flattening_the_rest():
    from benchmarks.harness.figures import accuracy_vs_time, mse_vs_depth

    def agg(model, family, depth, mse, train=10.0):
        return {"dataset": "D", "horizon": 96, "model": model, "family": family, "depth": depth,
                "mse": mse, "mse_std": float("nan"), "train_seconds": train}

    rows = [agg("closed_form", "closed_form", "", 0.17), agg("dln_d1", "dln", "1", 0.175),
            agg("dln_d4", "dln", "4", 0.174), agg("dln_flow_1", "dln_flow", "1", 2.97e20),
            agg("dln_flow_inf", "dln_flow", "inf", 0.18)]
    for fig in (mse_vs_depth(rows, "D"), accuracy_vs_time(rows, "D")):
        ax = fig.axes[0]
        assert ax.get_ylim()[1] < 2.0  # the others stay readable
        labels = [t.get_text() for t in ax.texts]
        assert any(t == "2.97e+20 (off scale)" for t in labels), labels
    ordinary = [r for r in rows if r["model"] != "dln_flow_1"]
    ax = mse_vs_depth(ordinary, "D").axes[0]
    assert not any("off scale" in t.get_text() for t in ax.texts)


def test_overview_picks_the_best_of_each_kind():
    from benchmarks.harness.report import overview

    def agg(model, family, mse, std=float("nan"), n=1):
        return {"dataset": "D", "horizon": 96, "model": model, "family": family, "mse": mse,
                "mse_std": std, "n_seeds": n}

    aggs = [agg("closed_form", "closed_form", 0.40), agg("closed_form_rrr", "closed_form", 0.39),
            agg("dln_d1", "dln", 0.41, 0.002, 3), agg("dln_flow_10", "dln_flow", 0.38, 0.001, 3),
            agg("dln_d4_relu", "dln_control", 0.37, 0.003, 2), agg("tide", "nonlinear", 0.45),
            agg("nlinear", "linear", 0.42), agg("naive_mean", "naive", 0.70)]
    aggs[3]["n_failed"] = 1
    head, rule, row = overview(aggs)
    assert head.count("|") == rule.count("|") == row.count("|")
    assert _overview_cells(head, row) == {
        "dataset": "D", "H": "96", "best overall": "dln_d4_relu 0.3700 ± 0.0030 (n=2)",
        "closed form": "0.4000 (n=1)", "reduced-rank closed form": "0.3900 (n=1)",
        "best DLN": "dln_flow_10 0.3800 ± 0.0010 (n=3, 1 failed)",
        "DLN chosen on validation": "", "best darts linear": "nlinear 0.4200 (n=1)",
        "best nonlinear": "dln_d4_relu 0.3700 ± 0.0030 (n=2)", "window mean": "0.7000 (n=1)"}


def test_validation_choice_picks_per_seed_on_validation_not_test():
    from benchmarks.harness.report import overview, validation_choice

    def row(model, seed, val, test, family="dln", status="ok"):
        return {"dataset": "D", "lookback": "8", "horizon": "4", "model": model,
                "seed": str(seed), "status": status, "family": family, "mse": str(test),
                "notes": f"best_val_mse={val} collapsed_params=40"}

    rows = [row("d1", 1, 0.50, 0.40), row("d4", 1, 0.49, 0.45),  # seed 1: d4 on validation
            row("d1", 2, 0.48, 0.41), row("d4", 2, 0.52, 0.30),  # seed 2: d1, not test-best d4
            row("d4", 3, 0.10, 0.90, status="failed"), row("d1", 3, 0.47, 0.43),  # failed: out
            row("relu", 1, 0.01, 0.01, family="dln_control"),  # the control is no DLN
            {**row("cf", 1, 0, 0.2, family="closed_form"), "notes": "alpha=0.1"}]  # no val
    chosen = validation_choice(rows)
    assert list(chosen) == [("D", 4)]
    c = chosen[("D", 4)]
    assert c["n_seeds"] == 3 and c["picks"] == {"d1": 2, "d4": 1}
    assert c["mse"] == pytest.approx((0.45 + 0.41 + 0.43) / 3)
    assert c["mse_std"] == pytest.approx(np.std([0.45, 0.41, 0.43], ddof=1))
    agg = {"dataset": "D", "horizon": 4, "model": "d4", "family": "dln", "mse": 0.3,
           "mse_std": float("nan"), "n_seeds": 1}
    head, _, line = overview([agg], chosen)
    assert _overview_cells(head, line)["DLN chosen on validation"] == \
        "0.4300 ± 0.0200 (n=3: d1 x2, d4)"


def test_aggregate_counts_seeds_that_never_ran_ok():
    from benchmarks.harness.report import aggregate

    def row(seed, status, mse):
        return {"dataset": "D", "lookback": "8", "horizon": "4", "model": "m", "seed": str(seed),
                "status": status, "family": "dln", "depth": "2", "params": "10", "epochs": "1",
                "budget": "ep1", "n_test_windows": "5", "mse": mse, "mae": mse,
                "train_seconds": "1", "infer_seconds_per_window": "1", "peak_memory_mb": "1"}

    # seed 0 failed then ran ok (counts as ok); seed 1 ok; seed 2 failed twice
    rows = [row(0, "error", ""), row(0, "ok", "0.5"), row(1, "ok", "0.7"), row(2, "error", ""),
            row(2, "timeout", "")]
    (agg,) = aggregate(rows)
    assert agg["n_seeds"] == 2 and agg["n_failed"] == 1 and agg["mse"] == pytest.approx(0.6)
