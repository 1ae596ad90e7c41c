"""Wall-clock timing shared by the speed benchmarks (``speed.py``, ``flow_speed.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def wall_times(fn: Callable[[], object], repeats: int, device: str,
               warmup: int = 1) -> list[float]:
    """Wall times (s) of ``repeats`` calls of ``fn()`` after ``warmup`` untimed calls.

    On CUDA the device is synchronised before and after each call, so a time covers the
    kernels the call launched and not only their launch.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    cuda = device == "cuda" or str(device).startswith("cuda:")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times
