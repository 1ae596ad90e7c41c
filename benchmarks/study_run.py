"""One Optuna study of a benchmark, started afresh (or resumed) and timed.

Shared by ``tune_etth1.py`` and ``tune_equal_budget.py``, which differ in what they do with
the study afterwards (compare pruners; refit with several seeds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import optuna

from lightning_dln.integrations.optuna import TuneConfig, build_objective, run_study

State = optuna.trial.TrialState


@dataclass
class TimedStudy:
    """A finished study, the objective that ran it (for refits) and what it cost."""

    study: optuna.Study
    objective: Any
    seconds: float
    trials: list[optuna.trial.FrozenTrial]  # the complete and the pruned ones

    @property
    def pruned(self) -> int:
        """How many of ``trials`` the pruner stopped early."""
        return sum(t.state == State.PRUNED for t in self.trials)

    @property
    def failed(self) -> int:
        """How many trials raised (Optuna records them as FAIL and the sampler skips them)."""
        return len(self.study.get_trials(states=(State.FAIL,)))


def timed_study(cfg: TuneConfig, resume: bool = False) -> TimedStudy:
    """Run ``cfg``'s study in its storage; without ``resume`` an old one is deleted first."""
    if not resume:
        try:
            optuna.delete_study(study_name=cfg.study_name, storage=cfg.storage_url)
        except KeyError:
            pass  # nothing to delete
    objective = build_objective(cfg)
    start = time.perf_counter()
    study = run_study(cfg, objective)
    seconds = time.perf_counter() - start
    return TimedStudy(study, objective, seconds,
                      study.get_trials(states=(State.COMPLETE, State.PRUNED)))
