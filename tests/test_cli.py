"""Every YAML in configs/ runs through the ``lightning-dln`` CLI (fit, validate, test, predict)."""

import json
from pathlib import Path

import pytest
import torch

from lightning_dln.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
SLOW = {"etth1_depth1000.yaml"}


@pytest.fixture(autouse=True)
def _data_env(ltsf_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("LIGHTNING_DLN_DATA", str(ltsf_dir))
    monkeypatch.chdir(tmp_path)  # outputs/ of the configs land in the temporary folder


@pytest.mark.parametrize(
    "config", [pytest.param(c, marks=pytest.mark.slow) if c.name in SLOW else c for c in CONFIGS],
    ids=[c.name for c in CONFIGS])
def test_every_config_runs_fit_with_fast_dev_run(config):
    main(["fit", "--config", str(config), "--trainer.fast_dev_run", "1"])


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_other_subcommands(subcommand):
    config = str(CONFIGS[[c.name for c in CONFIGS].index("etth1.yaml")])
    main([subcommand, "--config", config, "--trainer.limit_" +
          {"validate": "val", "test": "test", "predict": "predict"}[subcommand] + "_batches", "2"])


def test_fit_exports_metrics_checkpoint_collapsed_map_and_plot(tmp_path):
    config = str(CONFIGS[[c.name for c in CONFIGS].index("etth1.yaml")])
    out = tmp_path / "artifacts"
    main(["fit", "--config", config, "--trainer.max_epochs", "1",
          "--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "2",
          "--data.lookback", "96", "--data.horizon", "24", "--artifacts_dir", str(out)])
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["test_mse"] > 0
    collapsed = torch.load(out / "collapsed.pt", weights_only=False)
    assert collapsed["weight"].shape == (1, 24, 96)
    assert (out / "model.ckpt").is_file() and (out / "forecast.png").is_file()


def test_link_rejects_bad_argument_before_training():
    config = str(CONFIGS[[c.name for c in CONFIGS].index("etth1.yaml")])
    with pytest.raises((ValueError, SystemExit)):
        main(["fit", "--config", config, "--model.net.depth", "0", "--trainer.fast_dev_run", "1"])
