"""The harness grid: expansion, budgets and filters, a tiny grid end to end, resuming,
merging, coverage accounting and the ``--quick`` preset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from benchmarks.harness.__main__ import main
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


def test_bad_grid_path_or_filter_fails_before_any_output(tmp_path):
    import subprocess
    import sys

    with pytest.raises(ValueError, match="is not a file"):
        load_grid(tmp_path / "missing.yaml")
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"models=\['nope'\]"):
        main(["--grid", str(path), "--out", str(out), "--models", "nope", "--no-progress"])
    assert not out.exists()  # nothing created for a run that cannot start
    proc = subprocess.run([sys.executable, "-m", "benchmarks.harness", "--grid",
                           str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("is not a file (see benchmarks/grids/*.yaml)")


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


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "benchmarks"
                                          / "grids").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_committed_grid_loads_and_expands(path):
    from benchmarks.harness.models import KINDS

    grid = load_grid(path)
    expanded = list(cells(grid))
    assert expanded, f"{path} expands to no cells"
    assert {c.spec["kind"] for c in expanded} <= set(KINDS)
    assert len({(c.dataset, c.horizon, c.spec["name"], c.seed) for c in expanded}) == len(expanded)


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
