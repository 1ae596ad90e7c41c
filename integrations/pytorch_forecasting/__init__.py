"""pytorch-forecasting adapter: :class:`DeepLinear`, a registered v1 ``BaseModel``.

Usage::

    from lightning_dln.integrations.pytorch_forecasting import DeepLinear

    model = DeepLinear.from_dataset(training, depth=4, learning_rate=1e-3)
    trainer.fit(model, train_dataloader, val_dataloader)

Only a v1 model is provided (pytorch-forecasting's v2 API is experimental).
"""

from __future__ import annotations

try:
    import pytorch_forecasting  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lightning_dln.integrations.pytorch_forecasting needs pytorch-forecasting: "
        'pip install "lightning-dln[pytorch-forecasting]"'
    ) from err

from ._data import synthetic_panel
from ._ltsf import long_frame
from ._model import (
    DATASET_ARGUMENTS,
    HOST_ARGUMENTS,
    DeepLinear,
)
from ._pkg import DeepLinear_pkg

__all__ = ["DATASET_ARGUMENTS", "HOST_ARGUMENTS", "DeepLinear", "DeepLinear_pkg", "long_frame",
           "synthetic_panel"]
