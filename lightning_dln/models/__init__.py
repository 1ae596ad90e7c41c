"""Deep linear models: structured factors, the deep linear stack and the forecaster (torch only)."""

from lightning_dln.models.config import DLNConfig
from lightning_dln.models.covariates import CovariateTerms
from lightning_dln.models.factors import (
    FACTOR_KINDS,
    DenseFactor,
    DiagonalFactor,
    Factor,
    LowRankFactor,
    ResidualFactor,
    make_factor,
)
from lightning_dln.models.forecaster import (
    CollapsedForecaster,
    DeepLinearTimeSeries,
    pooling_matrix,
)
from lightning_dln.models.init import INITS, balanced_from_target, init_matrices
from lightning_dln.models.norm import NORMS, InstanceNorm
from lightning_dln.models.stack import ACTIVATIONS, CollapsedLinear, DeepLinear

__all__ = [
    "ACTIVATIONS", "FACTOR_KINDS", "INITS", "NORMS", "CollapsedForecaster", "CollapsedLinear",
    "CovariateTerms", "DLNConfig", "DeepLinear", "DeepLinearTimeSeries", "DenseFactor",
    "DiagonalFactor", "Factor", "InstanceNorm", "LowRankFactor", "ResidualFactor",
    "balanced_from_target", "init_matrices", "make_factor", "pooling_matrix",
]
