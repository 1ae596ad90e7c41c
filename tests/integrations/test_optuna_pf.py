"""Optuna on pytorch-forecasting models: the ``pf`` objective scores every window like the core.

Reference for the score: the core's own validation windows (``LTSFDataModule``), each forecast
through an explicit p-f prediction frame (the harness's ``window_frame``: ``L`` known steps and
``H`` unread ones per window and channel), independent of the objective's contiguous dataset
and of its index bookkeeping.
"""

import numpy as np
import pytest
import torch
import yaml

optuna = pytest.importorskip("optuna")
pytest.importorskip("optuna_integration")
pf = pytest.importorskip("pytorch_forecasting")

from benchmarks.harness.adapters.pf import window_frame  # noqa: E402
from lightning_dln.data import LTSFDataModule  # noqa: E402
from lightning_dln.integrations.optuna import TuneConfig, build_objective  # noqa: E402
from lightning_dln.integrations.optuna.cli import main  # noqa: E402
from lightning_dln.integrations.pytorch_forecasting import long_frame  # noqa: E402

L, H = 48, 24
TINY = {"max_epochs": 1, "limit_train_batches": 4}


def config(model: str, ltsf_dir, **extra) -> TuneConfig:
    data = {"dataset": "ETTh1", "path": str(ltsf_dir), "lookback": L, "horizon": H}
    return TuneConfig.from_dict({"model": model, "data": data, "trainer": TINY, **extra})


def reference_mse(objective, model, ltsf_dir, predict: dict) -> float:
    """MSE over the core's validation windows, each forecast from an explicit frame."""
    dm = LTSFDataModule(dataset="ETTh1", path=str(ltsf_dir), lookback=L, horizon=H)
    dm.setup()
    x, y = (torch.stack(t).numpy() for t in zip(*(dm.val_set[i]
                                                   for i in range(len(dm.val_set))),
                                                strict=True))
    b, _, c = x.shape
    ds = pf.TimeSeriesDataSet.from_dataset(objective.train_set, window_frame(x, H),
                                           predict=True, stop_randomization=True)
    out = model.predict(ds.to_dataloader(train=False, batch_size=1024, num_workers=0),
                        mode="prediction", return_index=True,
                        trainer_kwargs={"logger": False, "enable_progress_bar": False},
                        **predict)
    order = {f"{i}_{j}": i * c + j for i in range(b) for j in range(c)}
    pred = np.empty((b * c, H))
    pred[[order[g] for g in out.index["group"]]] = out.output.cpu().numpy()
    return float(np.mean((pred.reshape(b, c, H).transpose(0, 2, 1) - y) ** 2))


@pytest.mark.slow
def test_pf_nhits_objective_scores_every_validation_window_like_an_explicit_frame(ltsf_dir):
    objective = build_objective(config("pf_nhits", ltsf_dir))
    params = {"lr": 1e-3, "batch_size": 64, "hidden_size": 128, "n_layers": 1, "dropout": 0.0}
    model, epochs, predict = objective.fit(params)
    assert epochs == 1 and predict == {}
    got = objective.windows_mse(model, "val", predict)
    assert got == pytest.approx(reference_mse(objective, model, ltsf_dir, predict), rel=1e-5)
    # every window of every channel, each once: the val split has 2880 rows (4 months of hours)
    assert len(objective.eval_sets["val"]) == (2880 - H + 1) * 7


@pytest.mark.slow
def test_pf_deepar_study_exports_its_best_params_and_refits(tmp_path, ltsf_dir):
    path = tmp_path / "deepar.yaml"
    path.write_text(yaml.safe_dump({
        "model": "pf_deepar", "seed": 7,
        "study": {"name": "pf_deepar_tiny", "n_trials": 1,
                  "sampler": {"name": "random"}, "pruner": {"name": "none"}},
        "data": {"dataset": "ETTh1", "path": str(ltsf_dir), "lookback": L, "horizon": H},
        "trainer": TINY, "patience": 1, "fixed": {"n_samples": 4},
        "output_dir": str(tmp_path / "out")}))
    main(["--config", str(path)])
    best = yaml.safe_load((tmp_path / "out" / "best_params.yaml").read_text())
    assert best["model"] == "pf_deepar" and best["params"]["n_samples"] == 4
    assert set(best["params"]) >= {"lr", "batch_size", "hidden_size", "rnn_layers", "dropout"}
    objective = build_objective(TuneConfig.from_yaml(path))
    scores = objective.evaluate(best["params"])
    assert scores["val_mse"] == pytest.approx(best["val_mse"], rel=0.2)  # sampled paths
    assert 0 < scores["test_mse"] < 5


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_pf_trial_reports_val_loss_to_the_pruner(ltsf_dir):
    objective = build_objective(config("pf_nhits", ltsf_dir, space={"hidden_size": 128}))
    study = optuna.create_study(pruner=AlwaysPrune())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # epoch 0's val_loss, then pruned


def test_unknown_pf_class_and_bad_frames_are_value_errors(ltsf_dir):
    from lightning_dln.integrations.optuna.pf_objective import resolve_pf_class

    with pytest.raises(ValueError, match="no model 'Nope'"):
        resolve_pf_class("pytorch_forecasting:Nope")
    with pytest.raises(ValueError, match="not a pytorch-forecasting BaseModel"):
        resolve_pf_class("pytorch_forecasting:TimeSeriesDataSet")
    with pytest.raises(ValueError, match=r"values must be a \(T, C\) array"):
        long_frame(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        long_frame(np.array([[1.0], [np.nan]]))


def test_long_frame_is_one_group_per_channel_in_time_order():
    frame = long_frame(np.arange(6.0).reshape(3, 2), "v")
    assert list(frame["group"]) == ["v0"] * 3 + ["v1"] * 3
    assert list(frame["time_idx"]) == [0, 1, 2] * 2
    assert list(frame["value"]) == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
