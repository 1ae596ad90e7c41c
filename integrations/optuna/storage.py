"""Open an Optuna storage from a URL, failing early and clearly.

Schemes:

- ``sqlite:///path/to/study.db`` (relative) or ``sqlite:////abs/path.db``: the default, one file,
  parent folders created. Fine for one worker, or a few on one host.
- any SQLAlchemy RDB URL, e.g. ``postgresql+psycopg://user:password@host:5432/db`` (needs
  ``psycopg[binary]``) or ``mysql+pymysql://...``: workers on several hosts.
- ``journal:///abs/path/study.log`` or ``journal://relative/path/study.log``: Optuna's
  ``JournalStorage(JournalFileBackend(path))``, an append-only file with file locks, for several
  processes on one host without a database server.

RDB storages (SQLite included) get heartbeats: a trial whose worker died (e.g. ``SIGKILL``) is
failed after ``grace_period`` seconds without heartbeat, when the next trial of any worker
starts, and ``RetryHeartbeatStaleTrialCallback`` (Optuna < 4.9: ``RetryFailedTrialCallback``)
re-enqueues it with the same parameters, up to ``max_retry`` times. Optuna's
journal storage has no heartbeats: a killed worker's trial stays ``RUNNING`` there.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._deps import optuna

JOURNAL = "journal://"


class StorageError(ValueError):
    """The storage URL is malformed, its driver is missing or the storage cannot be reached."""


def make_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_retry: int = 2, connect_timeout: int = 10) -> Any:
    """Open the storage at ``url`` and check that it answers.

    Args:
        url: a storage URL (see the module docstring).
        heartbeat_interval: seconds between heartbeats (RDB only; ``None``: no heartbeats).
        grace_period: seconds without heartbeat before a running trial counts as dead
            (``None``: Optuna's default, ``2 * heartbeat_interval``).
        max_retry: how often a dead trial is retried with the same parameters.
        connect_timeout: seconds to wait for a database server.

    Returns:
        An ``optuna.storages.RDBStorage`` or ``JournalStorage``.

    Raises:
        StorageError: bad URL, missing driver, or the storage cannot be opened.

    """
    if not isinstance(url, str) or not url:
        raise StorageError(f"storage must be a non-empty URL string, got {url!r}")
    _check_int("heartbeat_interval", heartbeat_interval, 1, optional=True)
    _check_int("max_retry", max_retry, 0)
    _check_int("connect_timeout", connect_timeout, 1)
    if grace_period is not None:
        if heartbeat_interval is None:
            raise StorageError("grace_period needs a heartbeat_interval (heartbeats are off)")
        _check_int("grace_period", grace_period, heartbeat_interval + 1)
    if url.startswith(JOURNAL):
        return _journal(url[len(JOURNAL):])
    if "://" not in url:
        raise StorageError(f"storage {url!r} is not a URL; use sqlite:///file.db, "
                           "postgresql+psycopg://user:pw@host/db or journal:///path/file.log")
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as err:
        raise StorageError(f"storage {url!r} is not a valid database URL: {err}") from None
    shown = parsed.render_as_string(hide_password=True)
    engine_kwargs: dict[str, Any] = {}
    lock = None  # a file next to a SQLite database, to create its schema one process at a time
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            db = Path(parsed.database).expanduser()
            db.parent.mkdir(parents=True, exist_ok=True)
            lock = db.with_name(db.name + ".lock")
        engine_kwargs["connect_args"] = {"timeout": 60}  # wait for the other workers' writes
    elif parsed.get_backend_name() == "postgresql":
        engine_kwargs["connect_args"] = {"connect_timeout": connect_timeout}
        engine_kwargs["pool_pre_ping"] = True
    kwargs: dict[str, Any] = {"engine_kwargs": engine_kwargs}
    if heartbeat_interval:
        kwargs.update(heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        kwargs.update(_retry_callback(max_retry))
    try:
        if lock is None:
            return _open_rdb(url, kwargs)
        with _file_lock(lock):  # one process at a time creates the schema of a fresh file
            return _open_rdb(url, kwargs)
    except ImportError as err:
        raise StorageError(f"storage {shown}: database driver missing ({err}); for PostgreSQL "
                           "pip install 'psycopg[binary]' and use postgresql+psycopg://") from None
    except Exception as err:  # sqlalchemy.exc.* and driver errors: say where, not a traceback
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StorageError(f"cannot open storage {shown}: {reason}") from None


def _check_int(name: str, value: object, low: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        allowed = f"{'None or ' if optional else ''}an integer >= {low}"
        raise StorageError(f"{name} must be {allowed}, got {value!r}")


# Messages of the schema-creation race between workers opening a fresh database together: the
# tables (or the alembic version row) the loser wanted to create are already there.
_RACE_SIGNS = ("already exists", "locked", "duplicate", "unique constraint", "integrityerror")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: fall back on the retry loop alone
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_rdb(url: str, kwargs: dict[str, Any], attempts: int = 5) -> Any:
    # Workers started together race to create the schema of a fresh database ("table studies
    # already exists", "database is locked"); the loser retries and finds the tables there.
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.x
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as err:
            text = str(err).lower()
            racing = any(sign in text for sign in _RACE_SIGNS)
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _retry_callback(max_retry: int) -> dict[str, Any]:
    # Optuna 4.9 renamed RetryFailedTrialCallback (failed_trial_callback) to
    # RetryHeartbeatStaleTrialCallback (heartbeat_stale_trial_callback); same behaviour.
    storages = optuna.storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
            callback = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            return {"heartbeat_stale_trial_callback": callback}
        return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry)}


def _journal(path: str) -> Any:
    from optuna.storages.journal import JournalFileBackend

    if not path or path.endswith("/"):
        raise StorageError(f"journal storage needs a file path: journal:///abs/file.log or "
                           f"journal://relative/file.log, got {JOURNAL}{path}")
    file = Path(path).expanduser()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(file)))
    except OSError as err:
        raise StorageError(f"cannot open journal file {file}: {err}") from None
