"""Learning dynamics: Saxe mode trajectories, learning time, stage detection (THEORY.md s. 4).

From small initialisation the *effective* rank rises in stages (plateaus, then sigmoidal jumps,
strongest modes first; Saxe, McClelland, Ganguli 2014). Exact rank is invariant under the
balanced flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lightning_dln.theory._checks import check_depth, check_positive
from lightning_dln.theory.spectra import effective_rank


def _positive_tensor(name: str, x: float | torch.Tensor) -> torch.Tensor:
    """Return ``x`` as a float64 tensor, raising ``ValueError`` unless finite and ``> 0``."""
    t = torch.as_tensor(x, dtype=torch.float64)
    if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
        raise ValueError(f"{name} must be finite and > 0, got {x!r}")
    return t


def saxe_mode_trajectory(
    t: float | torch.Tensor, s: float | torch.Tensor, u0: float | torch.Tensor
) -> torch.Tensor:
    """Strength of one mode of a depth-2 linear net, whitened input (Saxe et al. 2014).

    ``u(t) = s e^{2st} / (e^{2st} - 1 + s/u0)``, the solution of ``u' = 2 u (s - u)``,
    ``u(0) = u0``; evaluated as ``s / (1 + (s/u0 - 1) e^{-2st})`` to avoid overflow. The
    half-way time from ``u0 << s`` is ``ln(s/u0) / (2s)`` (time proportional to 1/s).

    Args:
        t: Times ``>= 0`` (float or tensor).
        s: Mode strength(s) ``> 0`` (the target singular value), broadcast against ``t``.
        u0: Initial strength(s) ``> 0``, broadcast against ``t``.

    Returns:
        float64 tensor of the broadcast shape.

    Raises:
        ValueError: For negative or non-finite ``t``, non-positive ``s`` or ``u0``.

    """
    tt = torch.as_tensor(t, dtype=torch.float64)
    if not bool(torch.isfinite(tt).all()) or bool((tt < 0).any()):
        raise ValueError(f"t must be finite and >= 0, got {t!r}")
    ss, uu = _positive_tensor("s", s), _positive_tensor("u0", u0)
    return ss / (1.0 + (ss / uu - 1.0) * torch.exp(-2.0 * ss * tt))


def learning_time(sigma0: float, phi: float, depth: int, exact: bool = False) -> float:
    """Time for a mode to grow from ``sigma0`` to ``phi / 2`` under the depth-N flow.

    The mode follows ``sigma' = N sigma^{2-2/N} (phi - sigma)`` (un-normalised time t). Closed
    forms: N = 1: ``ln(2 (phi - sigma0) / phi)``; N = 2:
    ``ln((phi - sigma0) / sigma0) / (2 phi)`` (exact; the Saxe logistic). For N > 2 the default
    is THEORY.md's asymptotic ``sigma0^{-(1-2/N)} / ((N-2) phi)`` for ``sigma0 << phi``
    (exponential in depth unless ``sigma0`` is near 1). ``exact=True`` integrates
    ``int dsigma / (N sigma^{2-2/N} (phi - sigma))`` numerically (Simpson in ``ln sigma``).

    Args:
        sigma0: Initial singular value, ``0 < sigma0 < phi / 2``.
        phi: Target singular value ``> 0``.
        depth: ``N``, an integer ``>= 1``.
        exact: Integrate numerically instead of the closed form / asymptotic.

    Returns:
        The time as a float.

    Raises:
        ValueError: For invalid ``sigma0``, ``phi`` or ``depth``.

    """
    s0 = check_positive("sigma0", sigma0)
    ph = check_positive("phi", phi)
    n = check_depth(depth, allow_inf=False)
    if s0 >= ph / 2:
        raise ValueError(f"sigma0 must be < phi / 2 = {ph / 2!r}, got {sigma0!r}")
    if exact:
        x = torch.linspace(math.log(s0), math.log(ph / 2), 4097, dtype=torch.float64)
        sig = torch.exp(x)
        f = 1.0 / (n * sig ** (1.0 - 2.0 / n) * (ph - sig))  # dt/dx, sigma = e^x
        h = float(x[1] - x[0])
        weights = torch.ones_like(f)
        weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0  # Simpson 1-4-2-...-4-1
        return float((weights * f).sum()) * h / 3.0
    if n == 1:
        return math.log(2.0 * (ph - s0) / ph)
    if n == 2:
        return math.log((ph - s0) / s0) / (2.0 * ph)
    return s0 ** (-(1.0 - 2.0 / n)) / ((n - 2.0) * ph)


@dataclass(frozen=True)
class Stage:
    """One effective-rank jump found by :func:`detect_stages`.

    Attributes:
        step: Index (into the history) of the steepest increase within the jump.
        rank_before: Effective rank on the plateau before the jump.
        rank_after: Effective rank on the plateau after the jump.

    """

    step: int
    rank_before: float
    rank_after: float


def detect_stages(
    history: Sequence[float] | torch.Tensor,
    min_jump: float = 0.5,
    window: int | None = None,
    plateau_tol: float = 0.05,
) -> list[Stage]:
    """Find effective-rank increases (plateau, then jump) in a training history.

    Step ``t`` is on a plateau when the effective rank changes by at most ``plateau_tol``
    between steps ``t - window`` and ``t + window`` (clipped to the history). Every maximal run
    of non-plateau steps is a transition; it is reported as a stage when the rank right after it
    exceeds the rank right before it by at least ``min_jump``. Transitions that touch the start
    or end of the history use the first / last value. Decreases are ignored; two jumps with no
    plateau between them are reported as one.

    Args:
        history: Effective ranks ``(T,)`` (tensor or list), or a spectrum history ``(T, r)`` of
            singular values, converted with :func:`effective_rank` row by row.
        min_jump: Smallest reported rise of the effective rank (default 0.5: half a mode).
        window: Half-width in steps of the plateau test; ``None`` means ``max(1, T // 100)``,
            i.e. jumps are expected to take a few percent of the history.
        plateau_tol: Largest rank change over ``2 * window`` steps still counted as a plateau
            (default 0.05).

    Returns:
        The stages in time order.

    Raises:
        ValueError: For a history that is not 1-D/2-D, shorter than 2 steps or non-finite, or
            invalid thresholds.

    """
    try:
        h = torch.as_tensor(history, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:  # ragged, None or non-numeric entries
        raise ValueError(
            f"history must be a sequence of numbers (T,) or a (T, r) table of them: {err}"
        ) from err
    if h.ndim not in (1, 2) or h.shape[0] < 2:
        raise ValueError(
            f"history must have shape (T,) or (T, r) with T >= 2, got {tuple(h.shape)}"
        )
    if not bool(torch.isfinite(h).all()):
        raise ValueError("history must be finite (no NaN or inf)")
    if h.ndim == 2 and bool((h < 0).any()):
        raise ValueError("history of shape (T, r) must hold non-negative singular values")
    jump = check_positive("min_jump", min_jump)
    tol = check_positive("plateau_tol", plateau_tol, allow_zero=True)
    e = effective_rank(h, is_spectrum=True) if h.ndim == 2 else h  # (T,)
    n_steps = e.shape[0]
    if window is None:
        window = max(1, n_steps // 100)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be None or an integer >= 1, got {window!r}")
    idx = torch.arange(n_steps)
    hi, lo = (idx + window).clamp(max=n_steps - 1), (idx - window).clamp(min=0)
    moving = ((e[hi] - e[lo]).abs() > tol).tolist()
    slope = (e[(idx + 1).clamp(max=n_steps - 1)] - e[(idx - 1).clamp(min=0)]).tolist()
    values = e.tolist()
    stages: list[Stage] = []
    t = 0
    while t < n_steps:
        if not moving[t]:
            t += 1
            continue
        start = t
        while t < n_steps and moving[t]:
            t += 1
        end = t - 1  # transition = [start, end]
        before = values[start - 1] if start > 0 else values[0]
        after = values[end + 1] if end < n_steps - 1 else values[-1]
        if after - before >= jump:
            run = slope[start : end + 1]
            steep = start + max(range(len(run)), key=run.__getitem__)
            stages.append(Stage(step=steep, rank_before=before, rank_after=after))
    return stages
