"""Real worker processes on shared storages: SIGKILL mid-trial, two workers, PostgreSQL.

Workers run ``python -m lightning_dln.integrations.optuna`` (the ``lightning-dln tune`` code)
on the ``toy`` objective (seconds per trial, intermediate reports), so these tests exercise
storages, heartbeats, retries and the shared trial target, not training.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")
State = optuna.trial.TrialState
GRACE = 2


def toy_config(tmp_path: Path, name: str, n_trials: int, steps: int, sleep: float) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "model": "toy",
        "study": {"name": name, "n_trials": n_trials, "pruner": {"name": "none"},
                  "sampler": {"name": "random"}, "heartbeat_interval": 1,
                  "grace_period": GRACE},
        "space": {"steps": steps, "sleep": sleep},
        "output_dir": str(tmp_path / name)}))
    return str(path)


def start(config: str, storage: str, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lightning_dln.integrations.optuna", "--config", config,
           "--storage", storage, "--no-plots"]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def load(name: str, storage: str):
    if storage.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend
        storage = optuna.storages.JournalStorage(JournalFileBackend(storage[len("journal://"):]))
    return optuna.load_study(study_name=name, storage=storage)


def wait_for_running_trial(name: str, storage: str, timeout: float = 60):
    """The first running trial that has reported at least once (mid-trial)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            running = load(name, storage).get_trials(states=(State.RUNNING,))
        except KeyError:  # the study does not exist yet
            running = []
        for trial in running:
            if trial.intermediate_values:
                return trial
        time.sleep(0.2)
    raise AssertionError("no trial started reporting in time")


def check_shared_target(study, n_trials: int) -> list:
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))  # none lost, none twice
    assert not study.get_trials(states=(State.RUNNING, State.WAITING))
    finished = study.get_trials(states=(State.COMPLETE, State.PRUNED))
    assert n_trials <= len(finished) <= n_trials + 1, [(t.number, t.state) for t in trials]
    return finished


def check_retried(study, killed) -> None:
    after = {t.number: t for t in study.trials}
    assert after[killed.number].state == State.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == State.COMPLETE
    assert retries[0].params == killed.params


def test_sigkilled_worker_loses_nothing_sqlite(tmp_path):
    storage = f"sqlite:///{tmp_path}/kill.db"
    config = toy_config(tmp_path, "kill", n_trials=3, steps=10, sleep=0.2)
    first = start(config, storage, tmp_path / "a.log")
    killed = wait_for_running_trial("kill", storage)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert load("kill", storage).trials[killed.number].state == State.RUNNING
    time.sleep(GRACE + 1)  # the heartbeat goes stale
    second = start(config, storage, tmp_path / "b.log")
    finish(second, tmp_path / "b.log")
    study = load("kill", storage)
    check_retried(study, killed)
    assert len(study.get_trials(states=(State.COMPLETE,))) == 3


@pytest.mark.parametrize("backend", ["sqlite", "journal"])
def test_two_workers_share_one_study(tmp_path, backend):
    storage = f"sqlite:///{tmp_path}/two.db" if backend == "sqlite" else \
        f"journal://{tmp_path}/two.log"
    config = toy_config(tmp_path, "two", n_trials=8, steps=4, sleep=0.25)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(config, storage, log) for log in logs]
    for proc, log in zip(procs, logs, strict=True):
        finish(proc, log)
    finished = check_shared_target(load("two", storage), 8)
    assert len({(t.params["x"], t.params["y"]) for t in finished}) == len(finished)
    assert len({t.user_attrs["worker"] for t in finished}) == 2, "one worker did everything"


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on loopback (initdb in a temp dir, run as `postgres`)."""
    pytest.importorskip("psycopg", reason="psycopg missing: pip install 'psycopg[binary]'")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
        [p for p in [shutil.which("initdb")] if p]
    if not found:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
                    "`apt-get install -y postgresql` (CI's .ci/run does)")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="dln_pg_"))
    user = {}
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = {"user": pw.pw_uid, "group": pw.pw_gid}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    run = dict(check=True, capture_output=True, timeout=120, cwd=root, **user)
    subprocess.run([bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], **run)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60",
                    "-o", options, "start"], **run)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       check=False, capture_output=True, timeout=60, cwd=root, **user)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_two_workers_one_killed_mid_trial(tmp_path, postgres_url):
    config = toy_config(tmp_path, "pg", n_trials=6, steps=10, sleep=0.2)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(config, postgres_url, log) for log in logs]
    killed = wait_for_running_trial("pg", postgres_url)
    victim = 0 if killed.user_attrs["worker"].endswith(f":{procs[0].pid}") else 1
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait(timeout=30)
    finish(procs[1 - victim], logs[1 - victim])
    study = load("pg", postgres_url)
    check_retried(study, killed)
    check_shared_target(study, 6)
