"""The optional libraries of this integration, imported with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

HINT = ('the Optuna integration needs optuna and optuna-integration: '
        'pip install "lightning-dln[optuna]"')


def require(name: str) -> ModuleType:
    """Import ``name`` (``optuna``, ``optuna_integration``, ...) or raise with the install hint.

    Raises:
        ImportError: the library is not installed; the message says how to install it.

    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"{HINT} ({err})") from err


optuna = require("optuna")
