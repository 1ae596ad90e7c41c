"""Route darts prediction to one device when the training trainer spans several.

darts builds its prediction trainer from the same ``pl_trainer_kwargs`` as its training trainer.
Under ``ddp`` each rank then returns only its shard of the series, and ``ddp_spawn`` prediction
crashes (darts issues #1945, #2265). A forward pass needs no data parallelism, so prediction runs
on the first of the training devices instead.
"""

from __future__ import annotations

from typing import Any

import torch

_PARALLEL_PREFIXES = ("ddp", "fsdp", "deepspeed")


def uses_many_devices(trainer_params: dict[str, Any]) -> bool:
    """Whether trainer kwargs ask for several devices, several nodes or a parallel strategy."""
    strategy = trainer_params.get("strategy")
    if isinstance(strategy, str):
        if strategy.startswith(_PARALLEL_PREFIXES):
            return True
    elif strategy is not None:
        from pytorch_lightning.strategies import ParallelStrategy

        if isinstance(strategy, ParallelStrategy):
            return True
    if int(trainer_params.get("num_nodes", 1) or 1) > 1:
        return True
    return _device_count(trainer_params.get("devices", "auto"),
                         trainer_params.get("accelerator", "auto")) > 1


def single_device_trainer_params(trainer_params: dict[str, Any],
                                 verbose: bool | None = None) -> dict[str, Any]:
    """Copy of ``trainer_params`` on one device, single process, default strategy.

    Args:
        trainer_params: darts' ``TorchForecastingModel.trainer_params``.
        verbose: show the progress bar (darts' ``verbose``); ``None`` keeps the setting.

    Returns:
        Kwargs for ``pytorch_lightning.Trainer`` (``callbacks`` included, as darts expects).

    """
    params = dict(trainer_params)
    for key in ("strategy", "num_nodes", "sync_batchnorm"):
        params.pop(key, None)
    devices = params.get("devices", "auto")
    if isinstance(devices, (list, tuple)) and devices:
        params["devices"] = [devices[0]]
    elif isinstance(devices, str) and "," in devices:
        params["devices"] = [int(devices.split(",")[0])]
    else:
        params["devices"] = 1
    if verbose is not None:
        params["enable_progress_bar"] = verbose
        params["enable_model_summary"] = False
    return params


def _device_count(devices: Any, accelerator: Any) -> int:
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str):
        text = devices.strip()
        if "," in text:
            return len([d for d in text.split(",") if d.strip()])
        if text == "auto":
            if accelerator in ("cpu", "mps"):
                return 1
            return max(torch.cuda.device_count(), 1)
        devices = int(text)
    if devices == -1:
        return max(torch.cuda.device_count(), 1) if accelerator != "cpu" else 1
    return int(devices)
