"""In-process check of the KV-cached darts Transformer decoder on a real task.

Fits darts' ``TransformerModel`` (RIN, the harness's darts adapter) three times on ETTh1,
L = 336, H = 96, seed 2024, with a short budget: twice with darts' own autoregressive loop and
once through ``benchmarks/harness/adapters/transformer_cache.py``, then compares the trained
weights and the forecasts of the first 64 test windows.
Results: ``benchmarks/results/harness/kv_cache_check.md``.

Usage: ``LIGHTNING_DLN_DATA=../shared/data python -m benchmarks.transformer_cache_check
[--horizon 96]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings

import numpy as np
import torch

from benchmarks.harness.adapters import darts as darts_adapter
from benchmarks.harness.models import Budget
from benchmarks.harness.task import Task


def main(argv: list[str] | None = None) -> dict[str, tuple[float, bool]]:
    """Max forecast difference and weight equality of each fit against the first."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transformer_cache_check")
    parser.add_argument("--horizon", type=int, default=96)
    args = parser.parse_args(argv)
    if args.horizon < 1:
        raise ValueError(f"--horizon must be >= 1, got {args.horizon}")
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(1)
    task = Task("ETTh1", 336, args.horizon, None)
    budget = Budget(max_epochs=3, patience=3, batch_size=32, limit_train_batches=15,
                    limit_val_batches=3)
    spec = {"name": "darts_transformer", "cls": "TransformerModel", "lr": 1e-3,
            "kwargs": {"use_reversible_instance_norm": True}}
    x = task.windows("test")[0][:64]
    fits = {}
    for label, kv_cache in (("darts", False), ("darts again", False), ("kv_cache", True)):
        with tempfile.TemporaryDirectory() as work_dir:
            fitted = darts_adapter.fit({**spec, "kv_cache": kv_cache}, task, 2024, budget,
                                       work_dir)
            fits[label] = (fitted.predict(x), [p.detach().clone()
                                               for p in fitted.network.parameters()])
    ref_pred, ref_weights = fits["darts"]
    out = {}
    for label in ("darts again", "kv_cache"):
        pred, weights = fits[label]
        same = all(torch.equal(a, b) for a, b in zip(weights, ref_weights, strict=True))
        out[label] = (float(np.abs(pred - ref_pred).max()), same)
        print(f"H={args.horizon} {label}: max |forecast - darts| = {out[label][0]:.3g}, "
              f"weights bit-identical: {same}")
    return out


if __name__ == "__main__":
    main()
