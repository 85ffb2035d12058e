"""The privacy mechanisms of public releases, checked by simulation with OpenDP's own noise:
the budget split, the area threshold, a planted incident's absence, the noise's variance and
the coverage of the noise-aware interval."""

from __future__ import annotations

import math
import statistics

import numpy as np
import opendp.prelude as dp
import pytest

from storage.statistics import privacy
from storage.statistics.wilson import wilson_interval

DEFAULT_EPSILON = 1.0
DEFAULT_DELTA = 1e-6


def test_the_measurements_spend_exactly_the_release_budget() -> None:
    budgets = privacy.split(DEFAULT_EPSILON, DEFAULT_DELTA)
    assert set(budgets) == set(privacy.MEASUREMENTS)
    assert math.isclose(math.fsum(b.epsilon for b in budgets.values()), DEFAULT_EPSILON)
    assert math.fsum(b.delta for b in budgets.values()) == DEFAULT_DELTA
    for budget in budgets.values():
        assert math.isclose(budget.scale, 1 / budget.epsilon)


def test_the_area_threshold_is_the_smallest_that_keeps_delta() -> None:
    selection = privacy.split(DEFAULT_EPSILON, DEFAULT_DELTA)["area_selection"]
    threshold = selection.threshold
    assert threshold is not None
    measurement = dp.m.make_laplace_threshold(
        dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
        dp.l01inf_distance(dp.absolute_distance(T=int)),
        scale=selection.scale,
        threshold=threshold,
    )
    epsilon, delta = measurement.map((1, 1, 1))  # type: ignore[no-untyped-call]
    assert delta <= DEFAULT_DELTA
    assert math.isclose(epsilon, selection.epsilon)
    lower = dp.m.make_laplace_threshold(
        dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
        dp.l01inf_distance(dp.absolute_distance(T=int)),
        scale=selection.scale,
        threshold=threshold - 1,
    )
    assert lower.map((1, 1, 1))[1] > DEFAULT_DELTA  # type: ignore[no-untyped-call]


def test_a_planted_single_incident_is_never_listed_and_busy_areas_always() -> None:
    selection = privacy.split(DEFAULT_EPSILON, DEFAULT_DELTA)["area_selection"]
    assert selection.threshold is not None
    busy = selection.threshold * 3
    seen = 0
    for _ in range(2000):
        kept = privacy.thresholded_counts({"quiet": 1, "busy": busy, "city": busy}, selection)
        seen += "quiet" in kept
        assert {"busy", "city"} <= set(kept)
    # δ = 1e-6 per release: over 2000 releases the chance of seeing it even once is 0.2%.
    assert seen == 0


def test_known_keys_are_all_released_zeros_included() -> None:
    budget = privacy.split(DEFAULT_EPSILON, DEFAULT_DELTA)["agency"]
    released = privacy.noisy_counts([0] * 39, budget)
    assert len(released) == 39
    assert any(value != 0 for value in released)  # P(all 39 exactly 0) < 1e-20


def test_the_stated_noise_variance_is_opendps() -> None:
    budget = privacy.split(DEFAULT_EPSILON, DEFAULT_DELTA)["national"]
    samples = privacy.noisy_counts([0] * 40_000, budget)
    expected = budget.noise_variance
    assert math.isclose(statistics.pvariance(samples), expected, rel_tol=0.05)
    assert math.isclose(expected, 2 * budget.scale**2, rel_tol=0.01)  # ~ continuous Laplace


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (3, 10), (10, 10), (8, 11), (130, 500)])
def test_without_noise_the_interval_is_wilsons(k: int, n: int) -> None:
    expected = wilson_interval(k, n)
    assert expected is not None
    got = privacy.noisy_score_interval(k, n, 0.0)
    assert got == pytest.approx(expected, abs=1e-12)


def test_the_interval_widens_with_the_noise() -> None:
    widths = [
        privacy.noisy_score_interval(30, 100, variance) for variance in (0.0, 8.0, 50.0, 200.0)
    ]
    spans = [high - low for low, high in widths]
    assert spans == sorted(spans)
    assert spans[0] < spans[-1]


def test_noise_that_swamps_the_counts_gives_the_whole_range() -> None:
    assert privacy.noisy_score_interval(2, 3, 200.0) == (0.0, 1.0)
    assert privacy.noisy_rate(-4, -2, 50.0) is None


# The configurations a release meets: scales of the default split (agency and masked 5,
# areas 4, national 10), small and large cells, rates from rare to common.
COVERAGE_CASES = [
    (scale, n, p)
    for scale in (4.0, 5.0, 10.0)
    for n in (20, 60, 250, 1000)
    for p in (0.2, 0.5, 0.85)
]
SIMULATED_RELEASES = 3000


@pytest.mark.parametrize(("scale", "n", "p"), COVERAGE_CASES)
def test_the_95_percent_interval_covers_the_true_rate(scale: float, n: int, p: float) -> None:
    """Many simulated releases of one cell: true counts drawn as a binomial sample, noised
    with OpenDP's discrete Laplace, the interval from the noisy counts; at least 93% of the
    intervals given must hold the true rate."""
    rng = np.random.default_rng(int(scale * 1_000_000 + n * 100 + p * 100))
    true_not_identified = rng.binomial(n, p, SIMULATED_RELEASES)
    counts = np.column_stack([true_not_identified, n - true_not_identified]).ravel()
    measurement = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )
    noisy = np.asarray(measurement([int(c) for c in counts])).reshape(-1, 2)
    variance = privacy.discrete_laplace_variance(scale)
    covered = given = 0
    for not_identified, identified in noisy:
        rate = privacy.noisy_rate(int(not_identified), int(identified), variance)
        if rate is None:
            continue
        given += 1
        covered += rate.low <= p <= rate.high
    assert given >= SIMULATED_RELEASES * 0.9
    assert covered / given >= 0.93, f"coverage {covered / given:.3f}"
