"""Differential privacy for public releases, with OpenDP.

The unit protected is one incident: adding or removing an incident changes one class count
(not identified, identified or unclear) of one cell in each table by one, so every table is a
histogram of L1 sensitivity 1 and a release is the sequential composition of its measurements
(their ε and δ add up).

- Tables whose keys are known before looking at the data (national, every agency and masking
  value of the codebook) get discrete Laplace noise on every count of every key, present or
  not (pure ε-DP): a zero is noised like any other count, so absence says nothing.
- Areas are not known in advance (listing every H3 cell on Earth would not fit), so area
  totals go through OpenDP's thresholded mechanism (propose-test-release, Rogers 2023): a
  noisy total is kept only when it reaches a threshold chosen so that an area with a single
  incident is published with probability below δ. The areas kept are then a public list, and
  their class counts get plain noise like the other tables.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import opendp.prelude as dp

from storage.statistics.wilson import Z_95

dp.enable_features("contrib")

MEASUREMENTS: Final = ("national", "agency", "masked", "area_selection", "area_counts")
SHARES: Final = {
    "national": 0.1,
    "agency": 0.2,
    "masked": 0.2,
    "area_selection": 0.25,
    "area_counts": 0.25,
}
"""How a release's ε is split between its measurements. The national counts are large, so a
tenth of the budget keeps them useful; areas, the smallest cells, get half between choosing
which to publish and counting them."""
MAX_THRESHOLD: Final = 100_000
LAPLACE_95_IN_SD: Final = -math.log(0.05) / math.sqrt(2)
"""Laplace noise exceeds 2.12 standard deviations 5% of the time, where normal noise exceeds
1.96: its tails are heavier."""
LAPLACE_TAIL_FACTOR: Final = (LAPLACE_95_IN_SD / Z_95) ** 2
"""The interval counts the noise's variance as this much larger (1.17), so that it keeps its
coverage when the noise, not sampling, dominates."""


@dataclass(frozen=True, slots=True)
class Budget:
    """ε and δ of one measurement and the noise scale and threshold that spend them."""

    epsilon: float
    delta: float
    scale: float
    threshold: int | None = None

    @property
    def noise_variance(self) -> float:
        return discrete_laplace_variance(self.scale)


def split(epsilon: float, delta: float) -> dict[str, Budget]:
    """The release's ε (and δ, all of it for the area selection) per measurement."""
    budgets: dict[str, Budget] = {}
    for name in MEASUREMENTS:
        share = epsilon * SHARES[name]
        scale = 1.0 / share
        if name == "area_selection":
            budgets[name] = Budget(share, delta, scale, area_threshold(scale, delta))
        else:
            budgets[name] = Budget(share, 0.0, scale)
    return budgets


def discrete_laplace_variance(scale: float) -> float:
    """Variance of the discrete Laplace (two-sided geometric) noise OpenDP adds to integers:
    P(x) ∝ exp(-|x| / scale), variance 2·e^(-1/s) / (1 - e^(-1/s))²."""
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (1.0 - q) ** 2


def _privacy_map(measurement: dp.Measurement, distance: object) -> Any:
    """What the measurement spends for inputs ``distance`` apart (OpenDP's privacy map)."""
    return measurement.map(distance)  # type: ignore[no-untyped-call]


def _histogram_measurement(scale: float) -> dp.Measurement:
    return dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )


def noisy_counts(counts: Sequence[int], budget: Budget) -> list[int]:
    """Every count with discrete Laplace noise (one incident moves one count by one)."""
    if not counts:
        return []
    measurement = _histogram_measurement(budget.scale)
    # The map says what the noise costs; check it against the budget it should spend.
    assert _privacy_map(measurement, 1) <= budget.epsilon * (1 + 1e-9)
    released: list[int] = measurement(list(counts))
    return released


@functools.cache
def _threshold_measurement(scale: float, threshold: int) -> dp.Measurement:
    return dp.m.make_laplace_threshold(
        dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
        dp.l01inf_distance(dp.absolute_distance(T=int)),
        scale=scale,
        threshold=threshold,
    )


def _threshold_delta(scale: float, threshold: int) -> float:
    # One incident: one key changes (l0 = 1), by one (l1 = linf = 1).
    _, delta = _privacy_map(_threshold_measurement(scale, threshold), (1, 1, 1))
    return float(delta)


@functools.cache
def area_threshold(scale: float, delta: float) -> int:
    """The smallest threshold at which OpenDP's privacy map gives at most ``delta``."""
    low, high = 1, 2
    while _threshold_delta(scale, high) > delta:
        low, high = high, high * 2
        if high > MAX_THRESHOLD:
            raise ValueError(f"no threshold up to {MAX_THRESHOLD} reaches δ = {delta}")
    while low < high:
        middle = (low + high) // 2
        if _threshold_delta(scale, middle) <= delta:
            high = middle
        else:
            low = middle + 1
    return high


def thresholded_counts(counts: Mapping[str, int], budget: Budget) -> dict[str, int]:
    """Noisy counts of the keys whose noisy count reaches the threshold; the others are
    left out, so a small key's presence is not revealed."""
    assert budget.threshold is not None
    if not counts:
        return {}
    measurement = _threshold_measurement(budget.scale, budget.threshold)
    released: dict[str, int] = measurement(dict(counts))
    return released


@dataclass(frozen=True, slots=True)
class NoisyRate:
    rate: float
    low: float
    high: float


def noisy_rate(not_identified: int, identified: int, noise_variance: float) -> NoisyRate | None:
    """The rate not identified / (not identified + identified) from noisy counts, with a 95%
    interval that accounts for the noise as well as for sampling.

    The rate is taken from the counts clamped at 0, as published. The interval inverts the
    score test Wilson's interval inverts, with the noise added to its variance: for a
    candidate rate p, D = k - p·n (k the noisy not-identified count, n the noisy decided
    total, both before clamping, so that the noise averages out) has variance
    n·p(1-p) + σ²((1-p)² + p²) when each count carries independent noise of variance σ²; the
    interval is every p with D² ≤ z²·Var(D), a quadratic inequality in p. With σ² = 0 it is
    exactly Wilson's interval. σ² is taken LAPLACE_TAIL_FACTOR times larger, for the noise's
    heavier tails. When the noise swamps the counts the interval is [0, 1]."""
    k, m = max(not_identified, 0), max(identified, 0)
    if k + m == 0:
        return None
    bounds = noisy_score_interval(
        not_identified, not_identified + identified, noise_variance * LAPLACE_TAIL_FACTOR
    )
    return NoisyRate(rate=k / (k + m), low=bounds[0], high=bounds[1])


def noisy_score_interval(
    successes: float, trials: float, noise_variance: float, z: float = Z_95
) -> tuple[float, float]:
    """{p : (k - p·n)² ≤ z²(n·p(1-p) + σ²(1 - 2p + 2p²))}, clamped to [0, 1]."""
    k, n, z2, s2 = successes, max(trials, 0.0), z * z, noise_variance
    a = n * n + z2 * n - 2 * z2 * s2
    b = -2 * k * n - z2 * n + 2 * z2 * s2
    c = k * k - z2 * s2
    discriminant = b * b - 4 * a * c
    if a <= 0 or discriminant < 0:
        return 0.0, 1.0
    root = math.sqrt(discriminant)
    low, high = (-b - root) / (2 * a), (-b + root) / (2 * a)
    return min(max(low, 0.0), 1.0), max(min(high, 1.0), 0.0)
