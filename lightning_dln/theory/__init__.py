"""Pure-torch theory toolkit for deep linear networks (see THEORY.md).

Balancedness and the balanced construction, the depth-N operator ``P_N[W]`` / ``A_{N,W}`` in
closed form (finite N and N = infinity), the depth-N metric, singular-value velocities, effective
rank and the Menon-Yu entropy, Saxe trajectories, learning times, stage detection, and the
``DepthFlow`` optimizer. Imports torch (and the standard library) only.
"""

from lightning_dln.theory.balance import balanced_factors, balancedness, end_to_end, imbalance
from lightning_dln.theory.dynamics import (
    Stage,
    detect_stages,
    learning_time,
    saxe_mode_trajectory,
)
from lightning_dln.theory.flow import DepthFlow
from lightning_dln.theory.geometry import riemannian_metric, singular_value_velocity
from lightning_dln.theory.operator import depth_operator, depth_operator_reference
from lightning_dln.theory.spectra import (
    effective_rank,
    entropy,
    orbit_gram_logdet,
    singular_values,
)

__all__ = [
    "DepthFlow",
    "Stage",
    "balanced_factors",
    "balancedness",
    "depth_operator",
    "depth_operator_reference",
    "detect_stages",
    "effective_rank",
    "end_to_end",
    "entropy",
    "imbalance",
    "learning_time",
    "orbit_gram_logdet",
    "riemannian_metric",
    "saxe_mode_trajectory",
    "singular_value_velocity",
    "singular_values",
]
