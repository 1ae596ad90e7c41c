"""benchmarks/tune_equal_budget.py: one Optuna budget for every model, refits, the table."""

import csv

import pytest
import yaml

pytest.importorskip("optuna")
pytest.importorskip("optuna_integration")

from benchmarks import tune_equal_budget as teb  # noqa: E402


def write(path, config):
    path.write_text(yaml.safe_dump(config))
    return str(path)


TOY = {"common": {"seed": 7, "study": {"n_trials": 6, "sampler": {"n_startup_trials": 3}}},
       "refit_seeds": [1, 2],
       "quick": {"study": {"n_trials": 2}, "refit_seeds": [1]},
       "studies": [{"label": "toy a", "model": "toy"},
                   {"label": "toy b", "model": "toy", "space": {"y": -2.0}}]}


def test_committed_config_validates_every_study_with_the_same_budget():
    for quick in (False, True):
        studies, seeds = teb.load_studies(teb.DEFAULT_CONFIG, quick=quick)
        assert len({label for label, _, _ in studies}) == len(studies) >= 8
        budgets = {(c.n_trials, str(c.trainer), c.patience, str(c.sampler), str(c.pruner),
                    c.seed, str(c.data)) for _, _, c in studies}
        assert len(budgets) == 1, "every study must get the same budget"
        assert seeds == ([2024] if quick else [2024, 2025, 2026])
        assert studies[0][2].patience == 3
    relu = next(c for label, _, c in studies if label.startswith("ReLU"))
    assert relu.space.fixed["activation"] == "relu"
    tide = next(c for label, _, c in studies if "TiDE" in label)
    assert tide.space.fixed["use_reversible_instance_norm"] is True


@pytest.mark.parametrize("edit, match", [
    ({"extra": 1}, "unknown keys \\['extra'\\]"),
    ({"refit_seeds": []}, "refit_seeds must be a non-empty list"),
    ({"refit_seeds": ["1"]}, "refit_seeds must be a non-empty list"),
    ({"studies": [{"label": "a", "model": "toy"}, {"label": "a", "model": "toy"}]},
     "duplicate study label 'a'"),
    ({"studies": [{"label": "a", "model": "toy", "spaces": {}}]}, "unknown keys \\['spaces'\\]"),
    ({"studies": [{"model": "toy"}]}, "needs a 'label' and a 'model'"),
    ({"studies": [{"label": "a", "model": "resnet"}]}, "unknown model 'resnet'"),
    ({"studies": []}, "no studies"),
])
def test_bad_config_fails_before_any_trial(tmp_path, edit, match):
    cfg = write(tmp_path / "bad.yaml", {**TOY, **edit})
    with pytest.raises(ValueError, match=match):
        teb.load_studies(cfg)
    with pytest.raises(SystemExit):  # the command line reports it as a usage error
        teb.main(["--config", cfg, "--work", str(tmp_path / "w"), "--out", str(tmp_path)])
    assert not (tmp_path / "w").exists()


def test_toy_studies_refit_the_best_trial_and_write_the_table(tmp_path):
    cfg = write(tmp_path / "toy.yaml", TOY)
    rows = teb.main(["--config", cfg, "--work", str(tmp_path / "w"), "--out", str(tmp_path)])
    assert [r["label"] for r in rows] == ["toy a", "toy b"]
    for row in rows:
        x, y = row["best_params"]["x"], row["best_params"]["y"]
        # the toy objective's test value is its validation value at the same parameters, so
        # the refit must reproduce the best trial exactly, once per refit seed
        assert row["test_mse_mean"] == pytest.approx((x - 1) ** 2 + (y + 2) ** 2)
        assert row["test_mse_mean"] == pytest.approx(row["best_val_mse"])
        assert row["trials"] == 6 and len(row["test_mse_seeds"].split()) == 2
    assert rows[1]["best_params"]["y"] == -2.0  # the fixed value reached the trials
    table = (tmp_path / "ETTh1_L336_H96.md").read_text()
    assert "| toy a | 6 (" in table and "seeds [1, 2]" in table
    assert "study seed 7;" in table  # not the last refit seed
    assert table.count("**") == 2  # exactly one best row is marked
    with open(tmp_path / "ETTh1_L336_H96.csv") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["toy a", "toy b"]
    # --only on the same task: that study's row is replaced, the other kept (and typed back)
    first = {r["label"]: r for r in rows}
    rerun = teb.main(["--config", cfg, "--only", "toy a", "--work", str(tmp_path / "w2"),
                      "--out", str(tmp_path)])
    with open(tmp_path / "ETTh1_L336_H96.csv") as f:
        kept = list(csv.DictReader(f))
    assert [r["label"] for r in kept] == ["toy a", "toy b"]  # YAML order, nothing lost
    assert float(kept[1]["test_mse_mean"]) == pytest.approx(first["toy b"]["test_mse_mean"])
    assert float(kept[0]["test_mse_mean"]) == pytest.approx(rerun[0]["test_mse_mean"])
    table = (tmp_path / "ETTh1_L336_H96.md").read_text()
    assert "--only toy a" in table and table.count("**") == 2
    # --quick and --only: the quick preset's trial count and seeds, one study
    rows = teb.main(["--config", cfg, "--quick", "--only", "toy b", "--dataset", "ETTm1",
                     "--horizon", "48", "--work",
                     str(tmp_path / "w"), "--out", str(tmp_path)])
    assert [(r["label"], r["trials"]) for r in rows] == [("toy b", 2)]
    assert "--dataset ETTm1 --horizon 48" in (tmp_path / "ETTm1_L336_H48_quick.md").read_text()
    assert (tmp_path / "ETTm1_L336_H48_quick.md").is_file()


def test_rows_written_before_the_command_column_take_the_tables_command(tmp_path):
    (tmp_path / "T.csv").write_text(
        "label,model,trials,pruned,failed,tune_s,refit_s,best_trial,best_val_mse,test_mse_mean,"
        "test_mse_std,test_mse_seeds,best_params,grid_model,grid_mean,grid_std,grid_n\n"
        "a,toy,6,1,0,2.5,0.1,3,0.5,0.6,0.0,0.6,{},,,,0\n")
    (tmp_path / "T.md").write_text("# t\n\nCommand: `python -m benchmarks.tune_equal_budget`; "
                                   "vm, 2 CPU cores\n")
    (row,) = teb.read_rows(tmp_path / "T.csv")
    assert row["command"] == "python -m benchmarks.tune_equal_budget"
    assert (row["trials"], row["test_mse_mean"], row["grid_mean"], row["grid_model"]) == \
        (6, 0.6, None, None)
    assert teb.read_rows(tmp_path / "absent.csv") == []
    merged = teb.merge_rows([row, {**row, "label": "gone"}], [{**row, "test_mse_mean": 0.1}],
                            ["a"])
    assert [(r["label"], r["test_mse_mean"]) for r in merged] == [("a", 0.1), ("gone", 0.6)]


def test_grid_reference_averages_the_matching_ok_rows(tmp_path):
    runs = tmp_path / "runs.csv"
    fields = ["model", "status", "dataset", "horizon", "lookback", "mse"]
    rows = [("m", "ok", "ETTh1", 96, 336, 1.0), ("m", "ok", "ETTh1", 96, 336, 3.0),
            ("m", "failed", "ETTh1", 96, 336, 99.0), ("m", "ok", "ETTh1", 192, 336, 50.0),
            ("m", "ok", "ETTm1", 96, 336, 50.0), ("n", "ok", "ETTh1", 96, 336, 50.0)]
    with open(runs, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        writer.writerows(rows)
    (_, _, cfg), *_ = teb.load_studies(teb.DEFAULT_CONFIG)[0]
    mean, std, n = teb.grid_reference("m", cfg, runs)
    assert (mean, n) == (2.0, 2) and std == pytest.approx(2 ** 0.5)
    assert teb.grid_reference("absent", cfg, runs) == (None, None, 0)
    assert teb.grid_reference(None, cfg, runs) == (None, None, 0)
