"""Run (or resume) a study: what ``lightning-dln tune`` does, as a function.

``n_trials`` is the study's target of *finished* (complete or pruned) trials, shared by every
worker on the same storage: a worker stops when the finished trials plus the ones still running
or waiting reach it, so re-running a finished study does nothing and re-running an interrupted
one completes it; several workers started together finish the target between them (two that
finish their trials in the same instant can overshoot it by one). Trial numbers come from the
storage, so no trial is run twice; the sampler is re-seeded from ``(seed, trial.number)`` at
each trial, so workers draw different points and a single-worker run is reproducible.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import numpy as np

from ._deps import optuna
from .config import TuneConfig
from .objectives import Objective, build_objective
from .storage import make_storage

log = logging.getLogger(__name__)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
PENDING = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A sampler rebuilt before each trial, seeded by ``(seed, trial.number)``.

    Args:
        factory: builds the inner sampler from a seed.
        seed: base seed.

    """

    def __init__(self, factory: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._factory, self._seed = factory, seed
        self._inner = factory(seed)

    def infer_relative_search_space(self, study, trial):  # noqa: D102
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: D102
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: D102
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:  # noqa: D102
        # SeedSequence decorrelates the streams of neighbouring seeds (MT19937 seeded with
        # seed, seed + 1, ... draws visibly correlated first values).
        mixed = np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0]
        self._inner = self._factory(int(mixed))
        self._inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:  # noqa: D102
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # noqa: D102
        self._inner.reseed_rng()


def make_sampler(cfg: TuneConfig) -> optuna.samplers.BaseSampler:
    """TPE (``constant_liar`` on, for parallel workers) or random, seeded per trial."""
    kwargs = {k: v for k, v in cfg.sampler.items() if k != "name"}
    if cfg.sampler["name"] == "random":
        return TrialSeededSampler(lambda s: optuna.samplers.RandomSampler(seed=s), cfg.seed)
    kwargs.setdefault("constant_liar", True)
    return TrialSeededSampler(lambda s: optuna.samplers.TPESampler(seed=s, **kwargs), cfg.seed)


def make_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """Median (default), Hyperband or no pruning."""
    kwargs = {k: v for k, v in cfg.pruner.items() if k != "name"}
    name = cfg.pruner["name"]
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(**kwargs)
    return optuna.pruners.MedianPruner(**kwargs)


def count(study: optuna.Study, states: tuple) -> int:
    """Count the trials of ``study`` in ``states``."""
    return len(study.get_trials(deepcopy=False, states=states))


class StopAtTarget:
    """Stop this worker once finished + running + waiting trials reach ``target``.

    Also stops after ``max_failures`` failed trials in a row (a broken configuration would
    otherwise fail forever); :attr:`failed_out` then says so.
    """

    def __init__(self, target: int, max_failures: int = 5) -> None:
        self.target, self.max_failures = target, max_failures
        self.failures, self.failed_out = 0, False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:  # noqa: D102
        failed = trial.state == optuna.trial.TrialState.FAIL
        self.failures = self.failures + 1 if failed else 0
        if self.failures >= self.max_failures:
            self.failed_out = True
            study.stop()
        elif count(study, FINISHED + PENDING) >= self.target:
            study.stop()


def open_study(cfg: TuneConfig, storage: Any = None) -> optuna.Study:
    """Create or load the study of ``cfg`` (same name, same model).

    Raises:
        StorageError: the storage cannot be opened.
        ValueError: the stored study tunes another model.

    """
    storage = storage or make_storage(cfg.storage_url, cfg.heartbeat_interval, cfg.grace_period,
                                      cfg.max_retry)
    study = optuna.create_study(storage=storage, study_name=cfg.study_name, direction="minimize",
                                sampler=make_sampler(cfg), pruner=make_pruner(cfg),
                                load_if_exists=True)
    stored = study.user_attrs.get("model")
    if stored is None:
        study.set_user_attr("model", cfg.model)
        study.set_user_attr("space", cfg.space.describe())
    elif stored != cfg.model:
        raise ValueError(f"study {cfg.study_name!r} in {cfg.storage_url} tunes model "
                         f"{stored!r}, not {cfg.model!r}; pick another --study-name")
    return study


def run_study(cfg: TuneConfig, objective: Objective | None = None) -> optuna.Study:
    """Run this worker's share of the study (see the module docstring).

    The objective (data, model class) and the storage are checked before any trial starts.
    A trial whose configuration is invalid or diverges (``ValueError``) is recorded as failed
    and the study goes on.

    Returns:
        The study (loaded from the storage).

    """
    objective = objective or build_objective(cfg)
    study = open_study(cfg)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def wrapped(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        return objective(trial)

    done = count(study, FINISHED)
    if done >= cfg.n_trials:
        log.info("study %s already has %d finished trials (target %d): nothing to run",
                 cfg.study_name, done, cfg.n_trials)
        return study
    stop = StopAtTarget(cfg.n_trials)
    study.optimize(wrapped, timeout=cfg.timeout, callbacks=[stop],
                   catch=(ValueError, FloatingPointError), gc_after_trial=True)
    if stop.failed_out:
        raise RuntimeError(f"{stop.failures} trials in a row failed; see their errors above "
                           f"(the study {cfg.study_name!r} keeps them as FAIL)")
    return study
