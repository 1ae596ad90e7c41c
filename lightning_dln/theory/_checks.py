"""Input validation shared by the theory toolkit (private).

Every public function of :mod:`lightning_dln.theory` validates its inputs with these helpers so
that bad input raises a ``ValueError`` naming the argument and the allowed values, instead of
crashing deep inside ``torch.linalg`` or returning silent NaNs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch


def check_matrix(name: str, x: object, *, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a real floating tensor of shape ``(m, n)`` or batched ``(..., m, n)``.

    Args:
        name: Argument name used in the error message.
        x: The candidate tensor.
        finite: Whether to reject NaN / inf entries.

    Returns:
        ``x`` unchanged.

    Raises:
        ValueError: If ``x`` is not a floating tensor with ``ndim >= 2`` and non-empty matrix
            dimensions, or (with ``finite``) has a non-finite entry.

    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a real floating tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (m, n) or batched (..., m, n), got shape {tuple(x.shape)}"
        )
    if x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ValueError(f"{name} must have m >= 1 and n >= 1, got shape {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf entries)")
    return x


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a}: {tuple(b.shape)} != {tuple(a.shape)}"
        )


def check_depth(depth: object, *, allow_inf: bool = True, name: str = "depth") -> float:
    """Validate a depth ``N``: an integer ``>= 1`` or (if allowed) ``math.inf``.

    Integer-valued floats such as ``8.0`` are accepted.

    Returns:
        The depth as a float (``math.inf`` or an integral value).

    """
    allowed = "an integer >= 1 or math.inf" if allow_inf else "an integer >= 1"
    if isinstance(depth, bool) or not isinstance(depth, numbers.Real):
        raise ValueError(f"{name} must be {allowed}, got {depth!r}")
    value = float(depth)
    if math.isinf(value) and value > 0:
        if not allow_inf:
            raise ValueError(f"{name} must be {allowed}, got {depth!r}")
        return value
    if not math.isfinite(value) or value < 1 or value != math.floor(value):
        raise ValueError(f"{name} must be {allowed}, got {depth!r}")
    return value


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Validate a finite real number ``> 0`` (or ``>= 0`` with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number {bound}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite real number {bound}, got {value!r}")
    return v


def check_rcond(rcond: object) -> float | None:
    """Validate an optional relative singular-value threshold (``None`` or in ``[0, 1)``)."""
    if rcond is None:
        return None
    v = check_positive("rcond", rcond, allow_zero=True)
    if v >= 1:
        raise ValueError(f"rcond must be None or a relative threshold in [0, 1), got {rcond!r}")
    return v


SVD_DRIVERS = (None, "gesvd", "gesvdj", "gesvda")


def check_svd_driver(driver: object) -> str | None:
    """Validate a cuSOLVER SVD driver name (``None``, ``"gesvd"``, ``"gesvdj"``, ``"gesvda"``)."""
    if driver not in SVD_DRIVERS:
        raise ValueError(f"svd_driver must be one of {SVD_DRIVERS}, got {driver!r}")
    return driver if driver is None else str(driver)


def check_factors(factors: object) -> list[torch.Tensor]:
    """Validate a non-empty factor list ``[W_1, ..., W_N]`` whose shapes chain.

    ``W_j`` has shape ``(..., d_j, d_{j-1})`` (like ``nn.Linear.weight``), so
    ``W_{j+1}.shape[-1] == W_j.shape[-2]``; all factors share the leading batch shape.
    """
    if isinstance(factors, torch.Tensor) or not isinstance(factors, Sequence):
        raise ValueError("factors must be a list of tensors [W_1, ..., W_N] (W_1 at the input)")
    if len(factors) < 1:
        raise ValueError("factors must hold at least one matrix (N >= 1), got an empty list")
    out = [check_matrix(f"factors[{j}]", w) for j, w in enumerate(factors)]
    batch = out[0].shape[:-2]
    for j in range(1, len(out)):
        if out[j].shape[:-2] != batch:
            raise ValueError(
                f"factors[{j}] has batch shape {tuple(out[j].shape[:-2])}, "
                f"expected {tuple(batch)} like factors[0]"
            )
        if out[j].shape[-1] != out[j - 1].shape[-2]:
            raise ValueError(
                f"factors[{j}] has {out[j].shape[-1]} input columns but factors[{j - 1}] has "
                f"{out[j - 1].shape[-2]} output rows: shapes must chain (W_j is out x in)"
            )
    return out


def default_rcond(m: int, n: int, dtype: torch.dtype) -> float:
    """Return the default relative threshold ``max(m, n) * eps(dtype)`` (numpy's matrix_rank)."""
    return max(m, n) * torch.finfo(dtype).eps
