"""Lightning DDP with 2 CPU processes (gloo) through the ``lightning-dln`` CLI.

Two claims: (1) evaluating one checkpoint under DDP gives exactly the single-process test
metrics (every test window once, no DistributedSampler padding, torchmetrics syncs sums);
(2) training under DDP (2 x batch 16 = global batch 32) reaches the single-process (batch 32)
test MSE within 3% — the runs differ only in the order the windows are drawn.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ddp, pytest.mark.slow]

COMMON = ["--config", "configs/etth1.yaml", "--data.lookback", "96", "--data.horizon", "24",
          "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "60",
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
          "--model.lr", "1e-3"]


def cli(*args, cwd, env):
    # `-m`, not `-c`: Lightning's DDP launcher re-runs sys.argv for the second process.
    proc = subprocess.run([sys.executable, "-m", "lightning_dln.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def env(ltsf_dir):
    return {**os.environ, "LIGHTNING_DLN_DATA": str(ltsf_dir), "OMP_NUM_THREADS": "1"}


def test_ddp_training_and_evaluation_match_one_process(env, tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    cli("fit", *COMMON, "--data.batch_size", "32", "--trainer.devices", "1",
        "--trainer.logger.init_args.save_dir", str(single), "--artifacts_dir", str(single),
        cwd=repo, env=env)
    cli("fit", *COMMON, "--data.batch_size", "16", "--trainer.devices", "2",
        "--trainer.strategy", "ddp", "--trainer.logger.init_args.save_dir", str(ddp),
        "--artifacts_dir", str(ddp), cwd=repo, env=env)
    one = json.loads((single / "metrics.json").read_text())["metrics"]["test_mse"]
    two = json.loads((ddp / "metrics.json").read_text())["metrics"]["test_mse"]
    assert two == pytest.approx(one, rel=0.03)

    # Same checkpoint, evaluated by 1 and by 2 processes: identical metrics.
    results = {}
    for devices in (1, 2):
        out = tmp_path / f"eval{devices}"
        extra = ["--trainer.strategy", "ddp"] if devices == 2 else []
        cli("test", *COMMON, "--trainer.devices", str(devices), *extra,
            "--trainer.logger.init_args.save_dir", str(out),
            "--ckpt_path", str(ddp / "model.ckpt"), cwd=repo, env=env)
        metrics = sorted(out.rglob("metrics.csv"))[-1].read_text().splitlines()
        header, row = metrics[0].split(","), metrics[-1].split(",")
        results[devices] = float(row[header.index("test_mse")])
    assert results[2] == pytest.approx(results[1], rel=1e-6)
    assert results[1] == pytest.approx(two, rel=1e-6)
