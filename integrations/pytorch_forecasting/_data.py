"""A small synthetic panel in the layout pytorch-forecasting's tutorials use (offline fixtures).

Used by the doctest of :class:`DeepLinear`, by ``DeepLinear_pkg``'s conformance fixtures and by
our tests, so that ``check_estimator(DeepLinear)`` needs neither the network nor the Stallion file.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd


def synthetic_panel(n_series: int = 6, length: int = 48, seed: int = 0) -> pd.DataFrame:
    """Positive AR(1) series with seasonality and covariates, one row per series and step.

    Args:
        n_series: number of series; series ``i`` has group ids ``agency = i % 2`` and
            ``sku = i // 2`` (as strings).
        length: steps per series (``time_idx`` runs ``0 .. length - 1``).
        seed: numpy seed.

    Returns:
        Columns ``agency``, ``sku``, ``time_idx``, ``target`` and ``target2`` (positive),
        known reals ``price`` and ``season``, unknown real ``promo``, static real ``size`` and
        the categorical ``colour`` (static, for bad-input tests).

    """
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
           for v in (n_series, length, seed)) \
            or n_series < 1 or length < 2:
        raise ValueError(f"need integers n_series >= 1, length >= 2 and seed, got "
                         f"{n_series!r}, {length!r}, {seed!r}")
    rng = np.random.default_rng(seed)
    frames = []
    t = np.arange(length)
    for i in range(n_series):
        season = np.sin(2 * np.pi * t / 12)
        price = 1.0 + 0.1 * rng.standard_normal(length)
        promo = (rng.random(length) < 0.2).astype(float)
        noise = np.zeros(length)
        for k in range(1, length):
            noise[k] = 0.7 * noise[k - 1] + 0.1 * rng.standard_normal()
        level = 1.0 + 0.3 * i
        target = level * (1.5 + 0.4 * season - 0.3 * (price - 1.0) + 0.2 * promo + noise)
        frames.append(pd.DataFrame({
            "agency": str(i % 2), "sku": str(i // 2), "time_idx": t,
            "target": np.clip(target, 0.05, None),
            "target2": np.clip(0.5 * target + 0.1 * rng.random(length), 0.05, None),
            "price": price, "season": season, "promo": promo, "size": level,
            "colour": "red" if i % 2 else "blue",
        }))
    data = pd.concat(frames, ignore_index=True)
    data["colour"] = data["colour"].astype("category")
    return data
