"""`lightning-dln tune` end to end: bad input, resume, export, the objectives and pruning."""

import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

optuna = pytest.importorskip("optuna")
pytest.importorskip("optuna_integration")

from lightning_dln.integrations.optuna import TuneConfig, build_objective  # noqa: E402
from lightning_dln.integrations.optuna.cli import main  # noqa: E402


def write(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config))
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_data(ltsf_dir) -> dict:
    return {"dataset": "ETTh1", "path": str(ltsf_dir), "lookback": 48, "horizon": 24}


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


@pytest.mark.parametrize("config, extra, match", [
    ({"model": "resnet"}, [], "unknown model 'resnet'"),
    ({"model": "toy", "space": {"x": {"low": 2.0, "high": -2.0}}}, [], "space.x: inverted range"),
    ({"model": "toy", "space": {"x": {"kind": "categorical", "choices": []}}}, [],
     "space.x: a categorical"),
    ({"model": "toy", "space": {"x": {"choices": [1, 2]}}}, [], "space.x: choices do not"),
    ({"model": "toy"}, ["--storage", "postgresql+psycopg://u:secret@127.0.0.1:{port}/db"],
     "cannot open storage postgresql\\+psycopg://u:\\*\\*\\*@127.0.0.1"),
    ({"model": "toy"}, ["--storage", "mongo:/nowhere"], "is not a URL"),
    ({"model": "toy"}, ["--storage", "journal:///"], "journal storage needs a file path"),
    ({"model": "linear", "data": {"dataset": "ETTh1", "path": "/no/such/dir"}}, [], "no/such"),
    ({"model": "toy"}, ["--n-trials", "0"], "n_trials must be"),
])
def test_bad_input_fails_before_any_trial(tmp_path, monkeypatch, config, extra, match):
    monkeypatch.chdir(tmp_path)
    extra = [a.format(port=free_port()) for a in extra]
    with pytest.raises(SystemExit, match=match):
        main(["--config", write(tmp_path / "bad.yaml", config), *extra])
    assert not list(tmp_path.rglob("*.db")), "a study was created before the error"


def test_toy_study_resumes_exports_and_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path / "toy.yaml", {"model": "toy", "study": {"name": "t", "n_trials": 4}})
    main(["--config", cfg, "--no-plots"])
    study = optuna.load_study(study_name="t", storage="sqlite:///outputs/tune/t/t.db")
    assert len(study.trials) == 4
    main(["--config", cfg, "--no-plots"])  # target reached: nothing runs
    assert len(study.trials) == 4
    main(["--config", cfg, "--n-trials", "6"])  # resumes up to the new target
    trials = study.trials
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state.is_finished() for t in trials)
    best = yaml.safe_load((tmp_path / "outputs/tune/t/best_params.yaml").read_text())
    assert best["params"]["x"] == study.best_params["x"] and best["model"] == "toy"
    for name in ("history", "importances", "parallel_coordinate"):
        assert (tmp_path / f"outputs/tune/t/{name}.png").stat().st_size > 1000
    assert "6 trials in all" in capsys.readouterr().out


def test_dln_study_exports_a_fit_config_that_replays_the_best_trial(tmp_path, monkeypatch,
                                                                    ltsf_dir):
    from lightning_dln.cli import main as dln_main

    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path / "dln.yaml", {
        "model": "dln", "study": {"name": "d", "n_trials": 2},
        "data": small_data(ltsf_dir),
        "trainer": {"max_epochs": 2, "limit_train_batches": 3, "accelerator": "cpu"},
        "space": {"depth": {"high": 3}, "width": {"choices": [None, 16]}, "scales": "1",
                  "temporal_mixing": False}})
    dln_main(["tune", "--config", cfg, "--no-plots"])  # the console script's dispatch
    study = optuna.load_study(study_name="d", storage="sqlite:///outputs/tune/d/d.db")
    assert len(study.trials) == 2
    best = tmp_path / "outputs/tune/d/best.yaml"
    fit = yaml.safe_load(best.read_text())
    assert fit["model"]["net"]["depth"] == study.best_params["depth"]
    assert fit["data"]["lookback"] == 48 and fit["trainer"]["max_epochs"] == 2
    dln_main(["fit", "--config", str(best)])
    logged = (tmp_path / "outputs/tune/d/best/logs/version_0/metrics.csv").read_text()
    header, *rows = [line.split(",") for line in logged.strip().splitlines()]
    col = header.index("val_mse")
    val = min(float(r[col]) for r in rows if r[col])
    assert val == pytest.approx(study.best_value, rel=1e-5)
    assert (tmp_path / "outputs/tune/d/best/metrics.json").is_file()


@pytest.mark.parametrize("model", ["dln", "nlinear"])
def test_pruning_callback_prunes_in_both_lightning_namespaces(tmp_path, model, ltsf_dir):
    if model == "nlinear":
        pytest.importorskip("darts")
    cfg = TuneConfig.from_dict({
        "model": model, "data": small_data(ltsf_dir),
        "trainer": {"max_epochs": 3, "limit_train_batches": 2, "accelerator": "cpu"},
        "space": {"depth": 1, "width": 16, "batch_size": 32} if model == "dln" else {}})
    objective = build_objective(cfg)
    study = optuna.create_study(pruner=AlwaysPrune())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # pruned after the first epoch


def test_darts_and_linear_objectives_score_the_core_validation_windows(ltsf_dir):
    from lightning_dln.integrations.optuna._series import data_module, ltsf_arrays

    data = small_data(ltsf_dir)
    arrays, dm = ltsf_arrays(data), data_module(data)
    dm.setup()
    truth = np.stack([y.numpy() for _, y in dm.val_set])
    np.testing.assert_array_equal(arrays.targets("val"), truth)
    assert len(arrays.targets("test")) == len(dm.test_set)

    # closed form with alpha ~ 0 and no norm == least squares with intercept on train windows
    cfg = TuneConfig.from_dict({"model": "linear", "data": data})
    objective = build_objective(cfg)
    def rows(ds):
        x = np.stack([a.numpy() for a, _ in ds]).transpose(0, 2, 1).reshape(-1, 48)
        y = np.stack([b.numpy() for _, b in ds]).transpose(0, 2, 1).reshape(-1, 24)
        return np.c_[x, np.ones(len(x))].astype(np.float64), y
    x_train, y_train = rows(dm.train_set)
    w = np.linalg.lstsq(x_train, y_train, rcond=None)[0]
    x_val, y_val = rows(dm.val_set)
    expected = np.mean((x_val @ w - y_val) ** 2)
    got = objective.run({"alpha": 1e-9, "norm": "none"})["val_mse"]
    assert got == pytest.approx(expected, rel=1e-6)


TUNE_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "tune").glob("*.yaml"))


@pytest.mark.parametrize("path", TUNE_CONFIGS, ids=lambda p: p.stem)
def test_every_committed_tune_config_validates_in_full_and_quick_form(path):
    # Building the objective needs data and darts; the config's schema, model, space edits
    # and budget are checked here for every YAML in configs/tune/ (the study runs elsewhere).
    for quick in (False, True):
        cfg = TuneConfig.from_yaml(path, quick=quick)
        assert cfg.n_trials >= 1 and cfg.trainer.get("max_epochs", 1) >= 1
        assert cfg.space.params, f"{path.name}: nothing is searched"


def test_darts_objective_scores_its_best_epoch_and_stops_early_with_patience(ltsf_dir,
                                                                           monkeypatch):
    pytest.importorskip("darts")
    from lightning_dln.integrations.optuna import darts_objective

    params = {"lr": 0.03, "batch_size": 32, "shared_weights": True}  # a bumpy validation curve

    def run(max_epochs, patience=None):
        cfg = TuneConfig.from_dict({"model": "nlinear", "data": small_data(ltsf_dir),
                                    "patience": patience, "trainer": {
                                        "max_epochs": max_epochs, "limit_train_batches": 3,
                                        "accelerator": "cpu"}})
        return build_objective(cfg).run(params)

    # the reference: the validation MSE after exactly k epochs, without any weight restore
    pl = darts_objective.require("pytorch_lightning")
    no_restore = type("NoRestore", (pl.Callback,), {"state": None})
    with monkeypatch.context() as m:
        m.setattr(darts_objective, "keep_best_weights", lambda pl, monitor: no_restore())
        last = [run(k)["val_mse"] for k in (1, 2, 3)]
    assert min(last) < last[-1], "the case must have a best epoch before the last"
    assert run(3)["val_mse"] == pytest.approx(min(last), rel=1e-6)
    stopped = run(10, patience=1)  # epoch 3 is worse than epoch 2: stop there
    assert stopped["epochs"] == 3 and stopped["val_mse"] == pytest.approx(min(last), rel=1e-6)


@pytest.mark.parametrize("patience", [0, -1, 1.5, True, "3"])
def test_patience_must_be_a_positive_integer(patience):
    with pytest.raises(ValueError, match="patience must be None or an integer >= 1"):
        TuneConfig.from_dict({"model": "toy", "patience": patience})


def test_dln_objective_stops_early_with_patience_and_exports_the_callback(tmp_path, ltsf_dir):
    from lightning_dln.integrations.optuna.export import fit_config

    cfg = TuneConfig.from_dict({
        "model": "dln", "data": small_data(ltsf_dir), "patience": 1,
        "trainer": {"max_epochs": 30, "limit_train_batches": 2, "accelerator": "cpu"},
        "space": {"depth": 1, "width": 16, "batch_size": 32}})
    params = {"lr": 0.3, "scales": "1"}  # too large a step: validation worsens quickly
    out = build_objective(cfg).run({**cfg.space.fixed, **params})
    assert out["epochs"] < 30
    callbacks = fit_config(cfg, params, tmp_path)["trainer"]["callbacks"]
    assert {"monitor": "val_mse", "mode": "min", "patience": 1} in \
        [c["init_args"] for c in callbacks if c["class_path"].endswith("EarlyStopping")]
