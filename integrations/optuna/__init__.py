"""Optuna integration: hyperparameter search for deep linear networks and their baselines.

``lightning-dln tune --config configs/tune/etth1_dln.yaml`` runs a study (see :mod:`.cli`). The
Python API::

    from lightning_dln.integrations.optuna import TuneConfig, run_study
    study = run_study(TuneConfig.from_yaml("configs/tune/etth1_dln.yaml"))

Optuna and optuna-integration are imported on first use, with an install hint when missing
(``pip install "lightning-dln[optuna]"``). The search spaces (:mod:`.spaces`) need neither.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Param": "spaces", "SearchSpace": "spaces", "dln_space": "registry",
    "MODELS": "registry", "model_spec": "registry",
    "TuneConfig": "config",
    "make_storage": "storage", "StorageError": "storage",
    "build_objective": "objectives", "run_study": "runner",
    "export_best": "export", "write_plots": "export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
