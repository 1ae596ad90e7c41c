"""Adapter of the closed-form ridge + instance norm baseline (no training loop, no seeds).

Spec keys: ``norm`` (``mean`` | ``revin``, default ``mean``), ``alphas`` (relative ridge grid),
``ranks`` (reduced-rank ridge: candidate ranks, the best on validation is kept).
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness.closed_form import ALPHA_GRID, RidgeIN
from benchmarks.harness.models import Budget, Fitted
from benchmarks.harness.task import Task


def fit(spec: dict[str, Any], task: Task, seed: int, budget: Budget, work_dir: str) -> Fitted:
    """Solve the normal equations over every train window, alpha chosen on validation."""
    model = RidgeIN(task.lookback, task.horizon, norm=spec.get("norm", "mean"),
                    alphas=tuple(spec.get("alphas", ALPHA_GRID)),
                    ranks=tuple(spec["ranks"]) if spec.get("ranks") else None)
    model.fit(task.segment("train"), *task.windows("val"))
    return Fitted(model.predict, model.n_params, None, chunk=4096,
                  notes={"alpha": model.alpha, "norm": model.norm,
                         **({"rank": model.rank} if model.rank is not None else {})})
