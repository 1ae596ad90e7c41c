"""The model registry and the one code path that trains and evaluates every model.

A grid entry names a ``kind`` (an adapter module under ``benchmarks.harness.adapters``) and that
adapter's options. Every adapter exposes ``fit(spec, task, seed, budget, work_dir) -> Fitted``
(``work_dir``: a temporary folder for checkpoints, removed after the cell); the
:func:`run_cell` here then forecasts **every** test window of the task through
``Fitted.predict`` and scores it with :func:`~benchmarks.harness.task.scores`, so all models are
timed and measured by the same code on the same windows.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness.task import Task, predict_timed, scores

KINDS = {
    "closed_form": "benchmarks.harness.adapters.closed",
    "dln": "benchmarks.harness.adapters.dln",
    "darts": "benchmarks.harness.adapters.darts",
    "pf": "benchmarks.harness.adapters.pf",
    "naive": "benchmarks.harness.adapters.naive",
}
"""Adapter module of each model kind (imported lazily: darts/p-f only when used)."""


@dataclass(frozen=True)
class Budget:
    """Training budget of one cell (written next to every result).

    Attributes:
        max_epochs: Epoch cap.
        patience: Early-stopping patience on the validation MSE/loss (best epoch restored).
        batch_size: Training batch size.
        eval_batch_size: Batch size of validation and test forecasts.
        limit_train_batches: Cap on training batches per epoch (``None``: all windows).
        limit_val_batches: Cap on validation batches per epoch (``None``: all; speed table only).
        accelerator: Lightning accelerator (``cpu``, ``gpu``, ``auto``).

    """

    max_epochs: int = 10
    patience: int = 3
    batch_size: int = 32
    eval_batch_size: int = 256
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    accelerator: str = "cpu"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Budget:
        """Build from a dict, naming unknown keys in the error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown budget keys {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**values)

    def short(self) -> str:
        """Compact text for the CSV, e.g. ``ep10 pat3 bs32``."""
        text = f"ep{self.max_epochs} pat{self.patience} bs{self.batch_size}"
        text += f" ltb{self.limit_train_batches}" if self.limit_train_batches else ""
        return text + (f" lvb{self.limit_val_batches}" if self.limit_val_batches else "")

    def trainer_kwargs(self, callbacks: list[Any]) -> dict[str, Any]:
        """Lightning ``Trainer`` arguments every adapter shares: batch limits, one CPU/GPU
        device, no logger or bars, ``callbacks`` then :data:`EXTRA_CALLBACKS` (read at call
        time, so the speed table's timer is picked up). ``max_epochs`` is not among them: darts
        takes it as ``n_epochs``.
        """
        return dict(accelerator=self.accelerator, devices=1, logger=False,
                    enable_progress_bar=False, enable_model_summary=False,
                    limit_train_batches=self.limit_train_batches,
                    limit_val_batches=self.limit_val_batches,
                    callbacks=[*callbacks, *EXTRA_CALLBACKS])


@dataclass
class Fitted:
    """A trained model, as the evaluation code sees it.

    Attributes:
        predict: Forecast windows ``(B, L, C)`` -> ``(B, H, C)`` (numpy, scaled data).
        params: Trainable parameters of the trained model.
        epochs: Epochs trained (``None`` for closed forms).
        chunk: Windows per ``predict`` call (``None``: the budget's ``eval_batch_size``).
        notes: Free text for the CSV (chosen alpha, collapsed size, ...).
        network: The torch module whose forward makes the forecasts (``None`` for numpy
            models); the speed table times its forward calls through hooks.

    """

    predict: Callable[[np.ndarray], np.ndarray]
    params: int
    epochs: int | None = None
    chunk: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    network: Any = None


EXTRA_CALLBACKS: list[Any] = []
"""Callbacks every adapter adds to its Lightning trainer (the speed table's batch timer)."""


def adapter(kind: str) -> Callable[..., Fitted]:
    """The ``fit`` function of a model kind."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; allowed: {sorted(KINDS)}")
    return importlib.import_module(KINDS[kind]).fit


def versions() -> str:
    """Versions of the libraries that shape the numbers."""
    out = []
    for name in ("torch", "lightning", "darts", "pytorch_forecasting", "numpy"):
        try:
            out.append(f"{name}={importlib.import_module(name).__version__}")
        except ImportError:
            continue
    return " ".join(out)


def machine(accelerator: str = "cpu") -> str:
    """The hardware a row ran on: CPU kind and count, GPU name when one was used."""
    import torch

    text = f"{platform.machine()} {os.cpu_count()} cpu, torch threads {torch.get_num_threads()}"
    if accelerator != "cpu" and torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def _rss_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def reset_peak_memory() -> int:
    """Reset the resident-set high-water mark (Linux ``clear_refs``); return RSS in KiB."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    except ImportError:
        pass
    return _rss_kib("VmRSS:")


def peak_memory_mb(baseline_kib: int) -> float:
    """Peak RSS growth over ``baseline_kib`` (plus peak CUDA memory when a GPU was used)."""
    mb = max(_rss_kib("VmHWM:") - baseline_kib, 0) / 1024
    import torch

    if torch.cuda.is_available():
        mb += torch.cuda.max_memory_allocated() / 2**20
    return mb


def run_cell(spec: dict[str, Any], task: Task, seed: int, budget: Budget) -> dict[str, Any]:
    """Train one model on one task with one seed; evaluate it on every test window.

    Returns:
        The CSV row's measured fields: ``mse``, ``mae``, ``train_seconds``,
        ``infer_seconds_per_window``, ``params``, ``peak_memory_mb``, ``epochs``,
        ``n_test_windows`` and ``notes``.

    """
    import lightning.pytorch as lpl

    fit = adapter(spec["kind"])
    x, y = task.windows("test")
    task.windows("val")  # load before the memory baseline: data are shared, not per model
    lpl.seed_everything(seed, verbose=False)
    baseline = reset_peak_memory()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness_") as work_dir:
        fitted = fit(spec, task, seed, budget, work_dir)
        train_seconds = time.perf_counter() - start
        pred, per_window = predict_timed(fitted.predict, x, fitted.chunk or budget.eval_batch_size)
    result = scores(pred, y)
    notes = " ".join(f"{k}={v}" for k, v in fitted.notes.items())
    return {**result, "train_seconds": train_seconds, "infer_seconds_per_window": per_window,
            "params": fitted.params, "peak_memory_mb": peak_memory_mb(baseline),
            "epochs": fitted.epochs, "n_test_windows": len(x), "notes": notes}
