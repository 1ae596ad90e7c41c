"""LTSF benchmark datasets: metadata, resolution and validated loading.

A dataset is found, in this order:

1. an explicit ``path`` (a CSV file, or a directory holding ``<name>.csv``);
2. the directory named by the environment variable ``LIGHTNING_DLN_DATA``, if it holds
   ``<name>.csv``;
3. Darts' own downloader and cache (``darts.datasets``), for the names that Darts ships.

Every loader returns the LTSF CSV layout: a parsed ``date`` column followed by the float
channels in file order (the target ``OT`` last). Bad data raises ``ValueError``; nothing is
filled or dropped.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "DATE_COLUMN",
    "ENV_VAR",
    "KNOWN_DATASETS",
    "DatasetInfo",
    "SplitKind",
    "dataset_info",
    "load_dataset",
    "read_channel_names",
    "resolve_dataset_path",
]

log = logging.getLogger(__name__)

ENV_VAR = "LIGHTNING_DLN_DATA"
DATE_COLUMN = "date"
SplitKind = Literal["ett_hour", "ett_minute", "custom"]
_DARTS_HINT = 'Darts is needed to download it: pip install "lightning-dln[darts]"'


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of one LTSF dataset.

    Attributes:
        split: Which LTSF split rule applies: ``"ett_hour"`` (12/4/4 months of hourly rows),
            ``"ett_minute"`` (the same months at 15-minute rows) or ``"custom"`` (7:1:2).
        freq: Sampling frequency as a pandas offset alias, ``None`` when unknown.
        n_channels: Number of numeric channels in the LTSF CSV, ``None`` when unknown.
        darts_class: Name of the ``darts.datasets`` loader, ``None`` if Darts has none.
        start: First timestamp, for Darts series that carry an integer index instead of dates.

    """

    split: SplitKind = "custom"
    freq: str | None = None
    n_channels: int | None = None
    darts_class: str | None = None
    start: str | None = None


KNOWN_DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "ETTh1": DatasetInfo("ett_hour", "1h", 7, "ETTh1Dataset"),
        "ETTh2": DatasetInfo("ett_hour", "1h", 7, "ETTh2Dataset"),
        "ETTm1": DatasetInfo("ett_minute", "15min", 7, "ETTm1Dataset"),
        "ETTm2": DatasetInfo("ett_minute", "15min", 7, "ETTm2Dataset"),
        "weather": DatasetInfo("custom", "10min", 21, "WeatherDataset"),
        "exchange_rate": DatasetInfo("custom", "1D", 8, "ExchangeRateDataset", "1990-01-01"),
        "traffic": DatasetInfo("custom", "1h", 862, "TrafficDataset"),
        "electricity": DatasetInfo("custom", "1h", 321),
        "national_illness": DatasetInfo("custom", "7D", 7),
    }
)
"""LTSF datasets by name. Names not listed here load from a CSV with the ``"custom"`` split."""


def dataset_info(name: str) -> DatasetInfo:
    """Metadata for ``name``; unknown names get the ``"custom"`` split and unknown sizes."""
    return KNOWN_DATASETS.get(name, DatasetInfo())


def resolve_dataset_path(name: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the CSV file of a dataset.

    Args:
        name: Dataset name, e.g. ``"ETTh1"``; a directory is searched for ``<name>.csv``.
        path: A CSV file, or a directory holding ``<name>.csv``. Takes priority over the
            environment variable ``LIGHTNING_DLN_DATA``.

    Returns:
        The CSV path, or ``None`` when the data must come from Darts' downloader.

    Raises:
        ValueError: ``path`` does not exist or lacks ``<name>.csv``; or no CSV was found and Darts
            has no loader for ``name``.

    """
    filename = f"{name}.csv"
    if path is not None:
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / filename
        if not candidate.is_file():
            raise ValueError(
                f"path={str(path)!r}: no CSV file at {str(candidate)!r} (looked for a file, or a "
                f"directory holding {filename!r})."
            )
        return candidate
    env_dir = os.environ.get(ENV_VAR)
    if env_dir:
        candidate = Path(env_dir).expanduser() / filename
        if candidate.is_file():
            return candidate
        log.info("%s=%s holds no %s; trying Darts' downloader.", ENV_VAR, env_dir, filename)
    where = f"{ENV_VAR}={env_dir!r} holds no {filename!r}" if env_dir else f"{ENV_VAR} is not set"
    if name not in KNOWN_DATASETS:
        raise ValueError(
            f"dataset={name!r} is not a known dataset (known: {sorted(KNOWN_DATASETS)}) and "
            f"no CSV was found ({where}). Pass path=<csv file> or set {ENV_VAR} to a directory "
            f"holding {filename!r}."
        )
    if KNOWN_DATASETS[name].darts_class is None:
        raise ValueError(
            f"dataset={name!r} has no Darts downloader and no CSV was found ({where}). Pass "
            f"path=<csv file> or set {ENV_VAR} to a directory holding {filename!r}."
        )
    return None


def read_channel_names(csv_path: str | os.PathLike[str]) -> list[str]:
    """Channel names of an LTSF CSV from its header alone (every column but ``date``).

    Raises:
        ValueError: The file is unreadable or has no ``date`` column or no other column.

    """
    columns = list(_read_csv(Path(csv_path), nrows=0).columns)
    return _channels_of(columns, Path(csv_path))


def load_dataset(name: str = "ETTh1", path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load an LTSF dataset as ``date`` plus float channels, validated.

    Args:
        name: Dataset name (see ``KNOWN_DATASETS``); any name works with an explicit CSV.
        path: A CSV file, or a directory holding ``<name>.csv``. See the module docstring for the
            resolution order.

    Returns:
        A DataFrame with a ``datetime64`` ``date`` column first, then ``float64`` channels in file
        order.

    Raises:
        ValueError: No data found; unreadable or malformed CSV; non-numeric, NaN or inf values
            (naming the column and the first bad row); fewer than 2 rows.
        ImportError: The data must be downloaded and Darts is not installed.

    """
    csv_path = resolve_dataset_path(name, path)
    if csv_path is None:
        return _validate(_load_darts(name), f"darts {KNOWN_DATASETS[name].darts_class}")
    return _validate(_read_csv(csv_path), str(csv_path))


def _read_csv(path: Path, nrows: int | None = None) -> pd.DataFrame:
    try:
        return pd.read_csv(path, nrows=nrows, encoding_errors="replace")
    except (OSError, ValueError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
        raise ValueError(f"cannot read {str(path)!r} as a CSV: {err}") from err


def _channels_of(columns: list[str], source: object) -> list[str]:
    if DATE_COLUMN not in columns:
        raise ValueError(f"{source}: no {DATE_COLUMN!r} column (columns: {columns}).")
    channels = [str(c) for c in columns if c != DATE_COLUMN]
    if not channels:
        raise ValueError(f"{source}: no numeric channel besides {DATE_COLUMN!r}.")
    return channels


def _validate(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Parse dates, check every channel is numeric and finite; reorder to ``date`` + channels."""
    channels = _channels_of(list(frame.columns), source)
    if len(frame) < 2:
        raise ValueError(f"{source}: needs at least 2 rows, got {len(frame)}.")
    try:
        dates = pd.to_datetime(frame[DATE_COLUMN])
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{source}: column {DATE_COLUMN!r} does not parse as dates: {err}"
        ) from err
    out = {DATE_COLUMN: dates}
    for col in channels:
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        text = raw.notna() & values.isna()
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            raise ValueError(
                f"{source}: column {col!r} holds a non-numeric value {raw.iloc[row]!r} at "
                f"row {row} (0-based data row)."
            )
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{source}: column {col!r} holds {values.iloc[row]} at row {row} (0-based data row)"
                f" and {int(bad.sum())} non-finite values in all; fix the data, nothing is filled."
            )
        out[col] = values.astype(np.float64)
    return pd.DataFrame(out).reset_index(drop=True)


def _load_darts(name: str) -> pd.DataFrame:
    """Download (or read Darts' cache of) ``name`` and convert it to the LTSF CSV layout."""
    info = KNOWN_DATASETS[name]
    try:
        module = importlib.import_module("darts.datasets")
    except ImportError as err:
        raise ImportError(
            f"dataset={name!r} was found neither at path nor in {ENV_VAR}. {_DARTS_HINT}, or set "
            f"{ENV_VAR} to a directory holding {name}.csv."
        ) from err
    series = getattr(module, str(info.darts_class))().load()
    frame = series.to_dataframe()  # time index, one column per component
    if frame.shape[1] != info.n_channels:
        raise ValueError(
            f"darts {info.darts_class} has {frame.shape[1]} channels, the LTSF {name}.csv has "
            f"{info.n_channels}; set {ENV_VAR} to a directory holding the LTSF {name}.csv."
        )
    columns = [str(c) for c in frame.columns]
    columns[-1] = "OT"  # LTSF names the last channel, the target, "OT"
    frame.columns = columns
    if isinstance(frame.index, pd.DatetimeIndex):
        dates = frame.index
    else:  # integer-indexed series (exchange_rate): rebuild the LTSF calendar
        dates = pd.date_range(info.start, periods=len(frame), freq=info.freq)
    frame.insert(0, DATE_COLUMN, np.asarray(dates))
    return frame.reset_index(drop=True)
