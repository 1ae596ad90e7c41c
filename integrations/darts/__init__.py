"""Darts adapter: :class:`DeepLinearModel`, a deep linear network as a darts torch model.

``from lightning_dln.integrations.darts import DeepLinearModel`` imports darts (and darts'
``pytorch_lightning``) on first use, with an install hint when it is missing. Importing the model
registers its classes with darts' safe loading, so ``DeepLinearModel.load(path)`` and
``DeepLinearModel.load_from_checkpoint(name)`` need no ``trusted=True``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"DeepLinearModel": "model", "DLNModule": "module"}
_HINT = 'the darts adapter needs darts: pip install "lightning-dln[darts]"'

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        importlib.import_module("darts")
        importlib.import_module("pytorch_lightning")
    except ImportError as err:
        raise ImportError(f"{_HINT} ({err})") from err
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
