"""``DeepLinear_pkg``: registers :class:`DeepLinear` with pytorch-forecasting's conformance suite.

``pytorch_forecasting.utils.check_estimator(DeepLinear)`` finds this class through
``DeepLinear.pkg``. The fixtures are built from :func:`synthetic_panel`, so the suite runs
offline. The tags are honest: point and quantile losses on numeric targets, real covariates,
several targets, quantile intervals; a fixed encoder length (no flexible history, no cold start).
"""

from __future__ import annotations

from typing import Any

from pytorch_forecasting.models.base._base_object import _BasePtForecaster

#: Window sizes of the conformance fixtures: encoder length L and prediction length H.
TEST_ENCODER_LENGTH, TEST_PREDICTION_LENGTH = 6, 3


class DeepLinear_pkg(_BasePtForecaster):  # noqa: N801 - name required by pytorch-forecasting
    """Package container for :class:`~lightning_dln.integrations.pytorch_forecasting.DeepLinear`."""

    _tags = {
        "info:name": "DeepLinear",
        "info:compute": 1,
        "info:pred_type": ["point", "quantile"],
        "info:y_type": ["numeric"],
        "authors": ["lightning-dln"],
        "capability:exogenous": True,
        "capability:multivariate": True,
        "capability:pred_int": True,
        "capability:flexible_history_length": False,
        "capability:cold_start": False,
        "python_dependencies": [],
    }

    @classmethod
    def get_cls(cls) -> type:
        """Return the model class."""
        from ._model import DeepLinear

        return DeepLinear

    @classmethod
    def get_base_test_params(cls) -> list[dict[str, Any]]:
        """Small model and data settings; the suite crosses each with every compatible loss.

        ``data_loader_kwargs`` go to the ``TimeSeriesDataSet``; the rest to ``from_dataset``.
        Several targets are tested in our own suite: pytorch-forecasting's ``test_integration``
        asserts one 3-d prediction tensor, which a multi-target model (a list) cannot give.
        """
        from pytorch_forecasting.data.encoders import GroupNormalizer

        return [
            {"depth": 2, "width": 8},
            {
                "depth": 3, "width": 8, "residual": True, "init": "identity_residual",
                "instance_norm": "none", "channel_mixing": True,
                "data_loader_kwargs": {
                    "target_normalizer": GroupNormalizer(groups=["agency", "sku"],
                                                         transformation="softplus"),
                    "static_reals": ["size"], "add_target_scales": True,
                },
            },
            {"depth": 2, "factor": "lowrank", "rank": 2, "scales": [1, 2], "temporal_mixing": True},
        ]

    @classmethod
    def _get_test_dataloaders_from(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Train, validation and test dataloaders of a small synthetic panel.

        Args:
            params: one element of the suite's parameter list; its ``data_loader_kwargs``
                override the ``TimeSeriesDataSet`` arguments.

        """
        from pytorch_forecasting import TimeSeriesDataSet

        from ._data import synthetic_panel

        data = synthetic_panel(n_series=4, length=30)
        dataset_kwargs = {
            "time_idx": "time_idx", "target": "target", "group_ids": ["agency", "sku"],
            "max_encoder_length": TEST_ENCODER_LENGTH, "min_encoder_length": TEST_ENCODER_LENGTH,
            "max_prediction_length": TEST_PREDICTION_LENGTH,
            "min_prediction_length": TEST_PREDICTION_LENGTH,
            "time_varying_known_reals": ["price", "season"],
            "time_varying_unknown_reals": ["target", "promo"],
        }
        dataset_kwargs.update(params.get("data_loader_kwargs", {}))
        cutoff = 22
        training = TimeSeriesDataSet(data[data.time_idx < cutoff], **dataset_kwargs)
        validation = TimeSeriesDataSet.from_dataset(training, data,
                                                    min_prediction_idx=cutoff)
        return {
            "train": training.to_dataloader(train=True, batch_size=4, num_workers=0),
            "val": validation.to_dataloader(train=False, batch_size=4, num_workers=0),
            "test": validation.to_dataloader(train=False, batch_size=2, num_workers=0),
        }
