"""Shared fixtures: where the real LTSF CSVs are (``../shared/data`` or ``LIGHTNING_DLN_DATA``)."""

import os
from pathlib import Path

import pytest

from lightning_dln.datasets import ENV_VAR

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Resolved at import (collection, from the invocation folder): several tests chdir into
# tmp_path, and a relative LIGHTNING_DLN_DATA resolved after that would miss the data.
_ENV_DATA = os.environ.get(ENV_VAR)
DATA_DIR = (Path(_ENV_DATA) if _ENV_DATA else SHARED_DATA).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data folder (``LIGHTNING_DLN_DATA`` or ``../shared/data``), absolute."""
    return DATA_DIR


@pytest.fixture(scope="session")
def ltsf_dir(data_dir: Path) -> Path:
    """The folder holding ETTh1.csv etc.; skips the test when it is not on this machine."""
    if not (data_dir / "ETTh1.csv").is_file():
        pytest.skip(f"real LTSF CSVs not found in {data_dir} (set {ENV_VAR})")
    return data_dir
