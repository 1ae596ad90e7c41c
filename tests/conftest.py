"""Shared fixtures: where the real LTSF CSVs are (``../shared/data`` or ``LIGHTNING_DLN_DATA``)."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def ltsf_dir() -> Path:
    """The folder holding ETTh1.csv etc.; skips the test when it is not on this machine."""
    env = os.environ.get("LIGHTNING_DLN_DATA")
    # Resolved now: several tests chdir into tmp_path, which would break a relative path.
    folder = (Path(env) if env else SHARED_DATA).resolve()
    if not (folder / "ETTh1.csv").is_file():
        pytest.skip(f"real LTSF CSVs not found in {folder} (set LIGHTNING_DLN_DATA)")
    return folder
