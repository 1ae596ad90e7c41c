"""The benchmark harness: closed form vs a reference solver, and a tiny grid end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.harness.__main__ import main
from benchmarks.harness.closed_form import RidgeIN
from benchmarks.harness.coverage import coverage
from benchmarks.harness.grid import cells, load_grid

TINY = {
    "name": "tiny",
    "lookback": 48,
    "seeds": [0, 1],
    "isolate": False,
    "budget": {"max_epochs": 1, "limit_train_batches": 4, "batch_size": 64},
    "datasets": [{"name": "ETTh1", "horizons": [24]}],
    "models": [
        {"name": "closed_form", "kind": "closed_form", "family": "closed_form", "seeds": 1},
        {"name": "dln_d2", "kind": "dln", "family": "dln", "net": {"depth": 2},
         "module": {"lr": 1e-3}},
    ],
}


def _reference_ols(segment, lookback, horizon):
    """Minimum-norm lstsq on the explicit design matrix (Toner & Darlow's features).

    The centred lookback columns sum to zero, so the Gram matrix is singular: the solution is
    defined up to that null direction, and both solvers return the minimum-norm one.
    """
    win = np.lib.stride_tricks.sliding_window_view(segment, lookback + horizon, axis=0)
    win = win.astype(np.float64)
    mu = win[..., :lookback].mean(-1, keepdims=True)
    win = win - mu
    sd = np.sqrt(win[..., :lookback].var(-1, keepdims=True) + 1e-5)
    x = np.concatenate([win[..., :lookback], sd], -1).reshape(-1, lookback + 1)
    y = win[..., lookback:].reshape(-1, horizon)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def _toy_split(n_rows, n_train, lookback, horizon, noise, seed):
    """Two noisy sinusoids: the train rows and the validation windows ``(N, L + H, 2)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    segment = np.stack([np.sin(t / 7) + noise * rng.standard_normal(n_rows),
                        np.cos(t / 5) + noise * rng.standard_normal(n_rows)], axis=1)
    val = np.lib.stride_tricks.sliding_window_view(segment[n_train:], lookback + horizon, axis=0)
    return segment, val.transpose(0, 2, 1)


def test_closed_form_matches_reference_solver():
    lookback, horizon = 20, 5
    segment, val = _toy_split(600, 400, lookback, horizon, noise=0.1, seed=0)
    model = RidgeIN(lookback, horizon, alphas=(0.0,), chunk=37).fit(
        segment[:400], val[:, :lookback], val[:, lookback:])
    ref = _reference_ols(segment[:400], lookback, horizon)
    np.testing.assert_allclose(model.weight, ref, rtol=1e-5, atol=1e-8)
    pred = model.predict(val[:, :lookback])
    assert pred.shape == (len(val), horizon, 2)
    assert np.mean((pred - val[:, lookback:]) ** 2) < 0.05


def test_ridge_path_scores_each_alpha_like_a_fit_with_that_alpha_alone():
    lookback, horizon = 20, 5
    segment, val = _toy_split(700, 400, lookback, horizon, noise=0.3, seed=1)
    x, y = val[:, :lookback], val[:, lookback:]
    alphas = (0.0, 0.1, 10.0)
    model = RidgeIN(lookback, horizon, alphas=alphas).fit(segment[:400], x[:150], y[:150])
    chosen = model.weight.copy()
    path = model.mse_by_alpha(x[150:], y[150:])
    for alpha in alphas:  # reference: a separate fit that can only pick this alpha
        alone = RidgeIN(lookback, horizon, alphas=(alpha,)).fit(segment[:400], x[:150], y[:150])
        ref = np.mean((alone.predict(x[150:]) - y[150:]) ** 2)
        assert path[alpha] == pytest.approx(ref, rel=1e-10)
    np.testing.assert_array_equal(model.weight, chosen)  # the fitted choice is untouched
    assert path[10.0] > path[0.0]  # a heavy ridge shrinks a well-determined fit
    with pytest.raises(RuntimeError, match="not fitted"):
        RidgeIN(lookback, horizon).mse_by_alpha(x, y)


def test_closed_form_rejects_bad_options():
    with pytest.raises(ValueError, match="norm"):
        RidgeIN(10, 2, norm="layer")
    with pytest.raises(ValueError, match="alphas"):
        RidgeIN(10, 2, alphas=(-1.0,))


def test_grid_expansion_and_budget_overrides(tmp_path):
    grid = dict(TINY, budget_by_dataset={"ETTh1": {"max_epochs": 2}})
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid))
    expanded = cells(load_grid(path))
    assert [(c.spec["name"], c.seed) for c in expanded] == [
        ("closed_form", 0), ("dln_d2", 0), ("dln_d2", 1)]
    assert all(c.budget.max_epochs == 2 for c in expanded)
    path.write_text(yaml.safe_dump(dict(TINY, bogus=1)))
    with pytest.raises(ValueError, match="bogus"):
        load_grid(path)


def test_cells_filter_by_model_dataset_horizon_seed_and_reject_unknown_names(tmp_path):
    grid = dict(TINY, datasets=[{"name": "ETTh1", "horizons": [24, 48]},
                                {"name": "ETTm1", "horizons": [24]}])
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid))
    loaded = load_grid(path)
    assert len(cells(loaded)) == 9  # 3 (dataset, horizon) pairs x (1 closed form + 2 seeds)
    picked = cells(loaded, models=["dln_d2"], datasets=["ETTh1"], horizons=[48])
    assert [c.key for c in picked] == [("ETTh1", "48", "dln_d2", "0"),
                                       ("ETTh1", "48", "dln_d2", "1")]
    assert {c.dataset for c in cells(loaded, horizons=[24])} == {"ETTh1", "ETTm1"}
    # a later seed leaves the one-seed closed form out; the learned model keeps that seed only
    assert [c.key for c in cells(loaded, datasets=["ETTm1"], seeds=[1])] == [
        ("ETTm1", "24", "dln_d2", "1")]
    assert len(cells(loaded, seeds=[0])) == 6  # 3 pairs x (closed form + dln_d2 seed 0)
    for kwargs, match in [({"models": ["dln_d3"]}, r"models=\['dln_d3'\]"),
                          ({"datasets": ["ETTh2"]}, "datasets"),
                          ({"seeds": [7]}, r"seeds=\[7\].*\[0, 1\]"),
                          ({"horizons": [96]}, r"horizons=\[96\].*\[24, 48\]")]:
        with pytest.raises(ValueError, match=match):
            cells(loaded, **kwargs)


def test_budget_precedence_most_specific_wins(tmp_path):
    own = dict(TINY["models"][1], name="own", budget={"max_epochs": 4, "patience": 7})
    both = dict(own, name="both", budget_by_dataset={"ETTh1": {"max_epochs": 5}})
    grid = dict(TINY, models=[own, both], seeds=[0],
                budget_by_dataset={"ETTh1": {"max_epochs": 2}})
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid))
    got = {c.spec["name"]: c.budget for c in cells(load_grid(path))}
    # grid budget < model budget < grid's dataset override < model's dataset override
    assert (got["own"].max_epochs, got["own"].patience) == (2, 7)
    assert (got["both"].max_epochs, got["both"].patience) == (5, 7)
    assert got["own"].limit_train_batches == 4  # from the grid's budget


def test_extends_reuses_another_grids_model_with_own_keys_on_top(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "b.yaml").write_text(yaml.safe_dump(TINY))
    child = dict(TINY, name="child", models=[
        {"extends": "base/b.yaml#dln_d2"},
        {"extends": "base/b.yaml#dln_d2", "name": "dln_d2_long", "budget": {"max_epochs": 9}}])
    path = tmp_path / "child.yaml"
    path.write_text(yaml.safe_dump(child))
    same, longer = load_grid(path)["models"]
    assert same == TINY["models"][1]
    assert longer == dict(TINY["models"][1], name="dln_d2_long", budget={"max_epochs": 9})
    assert [c.budget.max_epochs for c in cells(load_grid(path))][-1] == 9

    def fails(models, match):
        path.write_text(yaml.safe_dump(dict(child, models=models)))
        with pytest.raises(ValueError, match=match):
            load_grid(path)

    fails([{"extends": "base/b.yaml#nope"}], "has no model 'nope'")
    fails([{"extends": "base/b.yaml"}], "GRID_FILE#MODEL_NAME")
    fails([{"extends": "missing.yaml#dln_d2"}], "no grid file")
    fails([{"extends": "child.yaml#dln_d2"}], "loops")
    fails([{"extends": "base/b.yaml#dln_d2"}, {"extends": "base/b.yaml#dln_d2"}], "repeat")
    fails([{"kind": "dln"}], "needs a 'name'")
    fails(["dln_d2"], "must be a mapping")


def test_equal_budget_grid_reruns_full_grid_models_with_only_the_budget_changed():
    grids = Path(__file__).resolve().parents[1] / "benchmarks" / "grids"
    full = {m["name"]: m for m in load_grid(grids / "full.yaml")["models"]}
    for spec in load_grid(grids / "equal_budget.yaml")["models"]:
        base = full[spec["name"].removesuffix("_ep10")]
        drop = ("name", "budget")
        assert {k: v for k, v in spec.items() if k not in drop} == \
            {k: v for k, v in base.items() if k not in drop}


def test_tiny_grid_runs_resumes_and_reports(tmp_path, ltsf_dir):
    grid_path = tmp_path / "tiny.yaml"
    grid_path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    args = ["--grid", str(grid_path), "--out", str(out), "--data-dir", str(ltsf_dir),
            "--no-progress"]
    paths = main(args)
    with open(out / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [
        ("closed_form", "0", "ok"), ("dln_d2", "0", "ok"), ("dln_d2", "1", "ok")], rows
    for r in rows:
        assert float(r["mse"]) > 0 and float(r["mae"]) > 0
        assert int(r["n_test_windows"]) == 2880 - 24 + 1  # every test window (4 months)
        assert float(r["infer_seconds_per_window"]) > 0 and int(r["params"]) > 0
        assert r["versions"] and r["machine"]
    cf = float(rows[0]["mse"])
    assert 0.2 < cf < 0.6  # ETTh1 H=24 with instance-normalised least squares
    report = (out / "results.md").read_text()
    assert "## ETTh1" in report and "closed_form" in report and "dln_d2" in report
    assert "## Overview" in report and "| ETTh1 | 24 |" in report
    assert Path(out / "summary.csv").is_file()
    assert any(p.suffix == ".png" for p in paths)
    assert "| **all** | 3 | 3 | 0 | 0 |" in (out / "coverage.md").read_text()

    main(args)  # resume: every cell is recorded, nothing runs again
    with open(out / "runs.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3


@pytest.mark.slow
def test_quick_preset_runs_every_model_on_every_etth1_test_window(tmp_path, ltsf_dir):
    """``python -m benchmarks.harness --quick``, the preset issue 8 asks a test to exercise.

    Every model of ``benchmarks/grids/quick.yaml`` (closed form, DLNs, darts linear models)
    must finish on all 2,785 ETTh1 test windows (L = 336, H = 96). The closed form is exact, so
    it must land on the published anchor (Toner & Darlow 2024: 0.371, within 2%); the trained
    models only on a sane band around it (2 short epochs), far below repeating the last value.
    """
    out = tmp_path / "quick"
    main(["--quick", "--out", str(out), "--data-dir", str(ltsf_dir), "--no-progress"])
    with open(out / "runs.csv", newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    quick = load_grid(Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "quick.yaml")
    expected = [m["name"] for m in quick["models"]]
    assert sorted(rows) == sorted(expected)
    for name, r in rows.items():
        assert r["status"] == "ok", (name, r["error"])
        assert (r["dataset"], r["lookback"], r["horizon"]) == ("ETTh1", "336", "96")
        assert int(r["n_test_windows"]) == 2880 - 96 + 1, name
        assert 0.33 < float(r["mse"]) < 0.5, (name, r["mse"])
    assert float(rows["closed_form"]["mse"]) == pytest.approx(0.371, rel=0.02)
    assert (out / "results.md").is_file()


def _overview_cells(head: str, line: str) -> dict[str, str]:
    """A markdown table row as {column: cell}, checking that it has as many cells as the head."""
    split = [[c.strip() for c in text.strip("|").split("|")] for text in (head, line)]
    return dict(zip(*split, strict=True))


def test_coverage_counts_ok_failed_missing_and_estimates_from_finished_runs():
    grid = {**TINY, "datasets": [{"name": "ETTh1", "horizons": [24, 48]}], "seeds": [0, 1, 2]}

    def row(horizon, model, seed, status="ok", train="", infer="", windows=""):
        return {"dataset": "ETTh1", "horizon": str(horizon), "model": model, "seed": str(seed),
                "status": status, "train_seconds": train, "infer_seconds_per_window": infer,
                "n_test_windows": windows}

    rows = [row(24, "closed_form", 0, train="36", infer="0.001", windows="3600"),
            row(24, "dln_d2", 0, train="360"), row(24, "dln_d2", 1, train="720"),
            row(48, "dln_d2", 0, status="error"),
            row(96, "dln_d2", 0, train="9999"),  # not a cell of this grid: ignored
            row(24, "closed_form", 1, train="1")]  # seed 1 is beyond the model's 'seeds: 1'
    got = {e["model"]: e for e in coverage(grid, rows)}
    cf, dln = got["closed_form"], got["dln_d2"]
    assert (cf["cells"], cf["ok"], cf["failed"], cf["missing"]) == (2, 1, 0, 1)
    assert cf["train_h"] == pytest.approx(0.01) and cf["test_h"] == pytest.approx(0.001)
    # closed_form misses H = 48 only, where nothing has finished: not priced from H = 24
    assert cf["missing_h"] is None and cf["missing_unknown"] == 1
    assert (dln["cells"], dln["ok"], dln["failed"], dln["missing"]) == (6, 2, 1, 3)
    # H = 24 seed 2 at that horizon's median (540 s); H = 48 seeds 1, 2 have no estimate
    assert dln["missing_h"] == pytest.approx(540 / 3600) and dln["missing_unknown"] == 2
    # one finished H = 48 run (train + test forecasting = 30 + 0.01 * 1000 s) prices the other
    rows.append(row(48, "dln_d2", 1, train="30", infer="0.01", windows="1000"))
    dln = {e["model"]: e for e in coverage(grid, rows)}["dln_d2"]
    assert dln["missing_h"] == pytest.approx((540 + 40) / 3600) and dln["missing_unknown"] == 0
    assert coverage(grid, [])[0]["missing_h"] is None  # nothing finished: no estimate


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


def test_naive_forecasts_match_an_explicit_loop():
    from benchmarks.harness.adapters.naive import forecast

    x = np.random.default_rng(0).standard_normal((5, 12, 3)).astype(np.float32)
    last, mean = forecast(x, 4, "last"), forecast(x, 4, "mean")
    for b in range(5):
        for c in range(3):
            np.testing.assert_array_equal(last[b, :, c], np.full(4, x[b, -1, c]))
            np.testing.assert_allclose(mean[b, :, c], np.full(4, x[b, :, c].mean()), atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        forecast(x, 4, "median")
    with pytest.raises(ValueError, match="x must be"):
        forecast(x[0], 4, "last")


def test_naive_repeat_reproduces_the_ltsf_linear_repeat_row(ltsf_dir):
    """LTSF-Linear's "Repeat" baseline on ETTh1 H=96 is MSE 1.295 (Zeng et al. 2023, Table 2)."""
    from benchmarks.harness.models import Budget, run_cell
    from benchmarks.harness.task import Task

    spec = {"name": "naive_last", "kind": "naive", "method": "last"}
    row = run_cell(spec, Task("ETTh1", 336, 96, str(ltsf_dir)), 0, Budget())
    assert row["n_test_windows"] == 2785 and row["params"] == 0
    assert row["mse"] == pytest.approx(1.295, abs=0.002)
    with pytest.raises(ValueError, match="method"):
        run_cell(dict(spec, method="median"), Task("ETTh1", 336, 96, str(ltsf_dir)), 0, Budget())


def test_merge_keeps_one_row_per_key_ok_and_latest_first(tmp_path):
    from benchmarks.harness.grid import COLUMNS, append_row, merge_rows, read_rows

    def row(model, seed, status, at, mse="0.5"):
        base = dict.fromkeys(COLUMNS, "")
        return {**base, "dataset": "ETTh1", "horizon": "96", "model": model, "seed": seed,
                "status": status, "finished_at": at, "mse": mse}

    main_csv, other = tmp_path / "a" / "runs.csv", tmp_path / "b.csv"
    main_csv.parent.mkdir()
    append_row(main_csv, row("m1", "0", "ok", "2026-01-01 00:00:01", "0.9"))
    append_row(main_csv, row("m2", "0", "ok", "2026-01-01 00:00:02"))
    append_row(other, row("m1", "0", "ok", "2026-01-02 00:00:00", "0.4"))  # later re-run wins
    append_row(other, row("m2", "0", "error", "2026-01-03 00:00:00"))  # a failure never wins
    append_row(other, row("m3", "1", "ok", "2026-01-02 00:00:05"))
    assert merge_rows(main_csv, [other]) == 3
    merged = {(r["model"], r["seed"]): (r["status"], r["mse"]) for r in read_rows(main_csv)}
    assert merged == {("m1", "0"): ("ok", "0.4"), ("m2", "0"): ("ok", "0.5"),
                      ("m3", "1"): ("ok", "0.5")}
    assert merge_rows(main_csv, [main_csv]) == 3  # idempotent
    with pytest.raises(ValueError, match="not a file"):
        merge_rows(main_csv, [tmp_path / "missing.csv"])


def test_reduced_rank_closed_form_keeps_the_best_rank_on_validation():
    lookback, horizon = 24, 6
    segment, val = _toy_split(800, 600, lookback, horizon, noise=0.3, seed=3)
    val_x, val_y = val[:, :lookback], val[:, lookback:]
    for norm in ("mean", "revin"):
        full = RidgeIN(lookback, horizon, norm=norm).fit(segment[:600], val_x, val_y)
        rrr = RidgeIN(lookback, horizon, norm=norm, ranks=(1, 2, 3, 99)).fit(
            segment[:600], val_x, val_y)
        assert set(rrr.rank_val_mse) == {1, 2, 3, 6} and rrr.rank in rrr.rank_val_mse
        assert rrr.rank_val_mse[rrr.rank] == min(rrr.rank_val_mse.values())
        assert np.linalg.matrix_rank(rrr.weight) == rrr.rank
        # Full rank is the plain closed form; the chosen rank is no worse on validation.
        np.testing.assert_allclose(rrr.rank_val_mse[6], full.val_mse[full.alpha], rtol=1e-9)
        mse = float(np.mean((rrr.predict(val_x) - val_y) ** 2))
        assert mse <= full.val_mse[full.alpha] + 1e-12
    with pytest.raises(ValueError, match="ranks"):
        RidgeIN(10, 2, ranks=(0,))
    with pytest.raises(ValueError, match="ranks"):
        RidgeIN(10, 2, ranks=())


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "benchmarks"
                                          / "grids").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_committed_grid_loads_and_expands(path):
    from benchmarks.harness.models import KINDS

    grid = load_grid(path)
    expanded = list(cells(grid))
    assert expanded, f"{path} expands to no cells"
    assert {c.spec["kind"] for c in expanded} <= set(KINDS)
    assert len({(c.dataset, c.horizon, c.spec["name"], c.seed) for c in expanded}) == len(expanded)


@pytest.mark.slow
def test_ridge_path_picks_the_harness_closed_form_on_validation(tmp_path, ltsf_dir):
    """benchmarks/ridge_path.py: its validation pick is the harness's closed-form cell."""
    from benchmarks import ridge_path
    from benchmarks.harness.models import Budget, run_cell
    from benchmarks.harness.task import Task

    out = tmp_path / "path.md"
    rows = ridge_path.main(["--datasets", "ETTh1", "--horizons", "24", "--data-dir",
                            str(ltsf_dir), "--out", str(out)])
    assert [r["alpha"] for r in rows] == list(ridge_path.PATH_ALPHAS)
    cell = run_cell({"kind": "closed_form", "norm": "mean"}, Task("ETTh1", 336, 24,
                                                                  str(ltsf_dir)), 0, Budget())
    picked = min((r for r in rows if r["alpha"] in ridge_path.ALPHA_GRID),
                 key=lambda r: r["val_mse"])
    assert picked["test_mse"] == pytest.approx(cell["mse"], rel=1e-9)
    assert f"| ETTh1 | 24 | {picked['alpha']:g} | {cell['mse']:.4f} |" in out.read_text()
    assert out.with_suffix(".csv").is_file()


def test_a_models_cell_timeout_beats_the_grids(tmp_path, monkeypatch):
    from benchmarks.harness import grid as grid_module

    seen = {}

    def fake_isolated(cell, data_dir, timeout, threads):
        seen[cell.spec["name"]] = timeout
        return {"status": "timeout", "error": "fake"}

    monkeypatch.setattr(grid_module, "execute_isolated", fake_isolated)
    models = [dict(TINY["models"][0]), dict(TINY["models"][1], seeds=1, cell_timeout_s=99)]
    spec = dict(TINY, isolate=True, cell_timeout_s=7, models=models)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(spec))
    grid_module.run_grid(load_grid(path), tmp_path / "out", None, progress=False)
    assert seen == {"closed_form": 7, "dln_d2": 99}


def test_cli_seeds_runs_only_those_seeds(tmp_path, monkeypatch):
    from benchmarks.harness import grid as grid_module

    ran = []

    def fake_isolated(cell, data_dir, timeout, threads):
        ran.append((cell.spec["name"], cell.seed))
        return {"status": "timeout", "error": "fake"}

    monkeypatch.setattr(grid_module, "execute_isolated", fake_isolated)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(dict(TINY, isolate=True, seeds=[0, 1, 2])))
    out = tmp_path / "out"
    main(["--grid", str(path), "--out", str(out), "--seeds", "2", "1", "--no-progress"])
    assert ran == [("dln_d2", 1), ("dln_d2", 2)]  # grid order; the one-seed closed form left out
    with pytest.raises(ValueError, match=r"seeds=\[5\]"):
        main(["--grid", str(path), "--out", str(out), "--seeds", "5", "--no-progress"])
