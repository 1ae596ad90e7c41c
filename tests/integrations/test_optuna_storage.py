"""Opening one fresh storage from many processes at once (the race CI once lost)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

pytest.importorskip("optuna")

from lightning_dln.integrations.optuna import storage as storage_mod  # noqa: E402


def _open_and_create(url: str, name: str, barrier, queue) -> None:
    import optuna

    barrier.wait()  # all processes hit the fresh file at the same instant
    try:
        st = storage_mod.make_storage(url, heartbeat_interval=5)
        optuna.create_study(study_name=name, storage=st, load_if_exists=True)
        queue.put("ok")
    except Exception as err:  # report, do not hang the parent
        queue.put(f"{type(err).__name__}: {err}")


@pytest.mark.parametrize("round_", range(3))
def test_many_processes_open_a_fresh_sqlite_file_together(tmp_path, round_):
    url = f"sqlite:///{tmp_path}/fresh{round_}.db"
    ctx = mp.get_context("spawn")
    n = 4
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_and_create, args=(url, "s", barrier, queue))
             for _ in range(n)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * n


def test_schema_race_errors_are_retried(monkeypatch):
    calls = []

    class Flaky:
        def __init__(self, url, **kwargs):
            calls.append(url)
            if len(calls) < 3:
                raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: "
                                   "alembic_version.version_num")

    monkeypatch.setattr(storage_mod.optuna.storages, "RDBStorage", Flaky)
    monkeypatch.setattr(storage_mod.time, "sleep", lambda s: None)
    assert isinstance(storage_mod._open_rdb("sqlite:///x.db", {}), Flaky)
    assert len(calls) == 3


def test_other_errors_are_not_retried(monkeypatch):
    calls = []

    class Broken:
        def __init__(self, url, **kwargs):
            calls.append(url)
            raise RuntimeError("password authentication failed")

    monkeypatch.setattr(storage_mod.optuna.storages, "RDBStorage", Broken)
    with pytest.raises(storage_mod.StorageError, match="password authentication failed"):
        storage_mod.make_storage("postgresql+psycopg://u:p@127.0.0.1:1/db")
    assert len(calls) == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"heartbeat_interval": 0}, "heartbeat_interval must be None or an integer >= 1"),
    ({"max_retry": -1}, "max_retry must be an integer >= 0"),
    ({"connect_timeout": 0}, "connect_timeout must be an integer >= 1"),
    ({"heartbeat_interval": 10, "grace_period": 10}, "grace_period must be an integer >= 11"),
    ({"grace_period": 60}, "grace_period needs a heartbeat_interval"),
])
def test_bad_heartbeat_and_timeout_settings_are_value_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        storage_mod.make_storage(f"sqlite:///{tmp_path}/s.db", **kwargs)
    assert not (tmp_path / "s.db").exists()  # nothing is created before the check
