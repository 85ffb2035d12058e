"""Wilson score interval for a binomial proportion.

Published rates come from small counts, where the textbook normal (Wald) interval misbehaves:
it collapses to zero width at 0/n and n/n and spills outside [0, 1]. The Wilson interval
(Wilson 1927; recommended by Newcombe 1998 and Brown, Cai & DasGupta 2001) stays inside [0, 1]
and keeps close to its nominal coverage even for a handful of trials.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Z_95 = 1.959963984540054
"""The two-sided 95% standard normal quantile, Φ⁻¹(0.975)."""


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0:
        raise ValueError(f"trials must be >= 0, got {trials}")
    if successes < 0:
        raise ValueError(f"successes must be >= 0, got {successes}")
    if successes > trials:
        raise ValueError(f"successes ({successes}) exceed trials ({trials})")


def rate(successes: int, trials: int) -> float | None:
    """The observed proportion successes / trials, or None when there were no trials."""
    _check_counts(successes, trials)
    if trials == 0:
        return None
    return successes / trials


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The (lower, upper) Wilson score interval, or None when there were no trials.

    ``z`` is the standard normal quantile of the confidence level (1.959964 for 95%).
    """
    _check_counts(successes, trials)
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive finite number, got {z}")
    if trials == 0:
        return None
    # The usual form (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), multiplied through
    # by n so it works on the integer counts directly.
    k, n, z2 = successes, trials, z * z
    denominator = n + z2
    centre = (k + z2 / 2) / denominator
    half_width = z * math.sqrt(k * (n - k) / n + z2 / 4) / denominator
    # At k = 0 (k = n) the bound is exactly 0 (1) but the subtraction leaves rounding noise
    # of either sign; pin it, and clamp the rest against the same noise.
    lower = 0.0 if k == 0 else max(0.0, centre - half_width)
    upper = 1.0 if k == n else min(1.0, centre + half_width)
    return lower, upper


def wilson_intervals(
    successes: npt.NDArray[np.int64], trials: npt.NDArray[np.int64], z: float = Z_95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``wilson_interval`` for many counts at once, with the same operations in the same
    order (so the same floats); NaN where there were no trials."""
    if np.any(trials < 0) or np.any(successes < 0) or np.any(successes > trials):
        raise ValueError("counts must satisfy 0 <= successes <= trials")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive finite number, got {z}")
    k, n, z2 = successes, trials, z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = n + z2
        centre = (k + z2 / 2) / denominator
        half_width = z * np.sqrt(k * (n - k) / n + z2 / 4) / denominator
        lower = np.where(k == 0, 0.0, np.maximum(0.0, centre - half_width))
        upper = np.where(k == n, 1.0, np.minimum(1.0, centre + half_width))
    empty = n == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)
