"""Wilson score interval: published values, hand-computed values, symmetry, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.statistics.published import rounded
from storage.statistics.wilson import Z_95, rate, wilson_interval, wilson_intervals


def _interval(successes: int, trials: int) -> tuple[float, float]:
    interval = wilson_interval(successes, trials)
    assert interval is not None
    return interval


def test_z_95_is_the_975_percent_normal_quantile() -> None:
    # Φ(z) = (1 + erf(z / √2)) / 2 must be 0.975 for the two-sided 95% level.
    assert (1 + math.erf(Z_95 / math.sqrt(2))) / 2 == pytest.approx(0.975, abs=1e-15)


def test_contract_example_12_of_37() -> None:
    # 12 not identified, 25 identified. By hand, with z² = 3.8414588:
    #   denominator = n + z² = 37 + 3.8414588 = 40.8414588
    #   centre = (k + z²/2) / denominator = 13.9207294 / 40.8414588 = 0.3408480
    #   half = z · sqrt(k(n-k)/n + z²/4) / denominator
    #        = 1.9599640 · sqrt(8.1081081 + 0.9603647) / 40.8414588
    #        = 1.9599640 · 3.0113905 / 40.8414588 = 0.1445153
    #   interval = (0.1963327, 0.4853633)
    assert rate(12, 37) == pytest.approx(0.3243, abs=5e-5)
    lower, upper = _interval(12, 37)
    assert round(lower, 4) == 0.1963
    assert round(upper, 4) == 0.4854
    assert lower == pytest.approx(0.1963327, abs=1e-7)
    assert upper == pytest.approx(0.4853633, abs=1e-7)


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [
        # Newcombe, "Two-sided confidence intervals for the single proportion: comparison of
        # seven methods", Statistics in Medicine 17 (1998) 857-872, table II, method 3 (the
        # Wilson score interval without continuity correction), printed to 4 decimals.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_published_values(successes: int, trials: int, lower: float, upper: float) -> None:
    got_lower, got_upper = _interval(successes, trials)
    assert round(got_lower, 4) == lower
    assert round(got_upper, 4) == upper


def test_zero_successes() -> None:
    # At k = 0 the centre is (z²/2)/(n + z²) and the half-width z·(z/2)/(n + z²), so the
    # interval is exactly [0, z²/(n + z²)]; for n = 10: 3.8414588 / 13.8414588 = 0.2775328.
    lower, upper = _interval(0, 10)
    assert lower == 0.0
    assert upper == pytest.approx(0.2775328, abs=1e-7)


def test_all_successes() -> None:
    # Mirror image of 0/10: [n/(n + z²), 1] = [10 / 13.8414588, 1] = [0.7224672, 1].
    lower, upper = _interval(10, 10)
    assert lower == pytest.approx(0.7224672, abs=1e-7)
    assert upper == 1.0


def test_single_trial() -> None:
    # n = 1: 1/1 gives [1/(1 + z²), 1] = [1 / 4.8414588, 1] = [0.2065493, 1], and 0/1 the
    # mirror [0, z²/(1 + z²)] = [0, 0.7934507].
    lower, upper = _interval(1, 1)
    assert lower == pytest.approx(0.2065493, abs=1e-7)
    assert upper == 1.0
    lower, upper = _interval(0, 1)
    assert lower == 0.0
    assert upper == pytest.approx(0.7934507, abs=1e-7)


def test_no_trials() -> None:
    assert wilson_interval(0, 0) is None
    assert rate(0, 0) is None


def test_other_confidence_level() -> None:
    # z = 1 (about 68%), 0/3: [0, z²/(n + z²)] = [0, 1/4].
    interval = wilson_interval(0, 3, z=1.0)
    assert interval is not None
    assert interval[0] == 0.0
    assert interval[1] == pytest.approx(0.25, abs=1e-15)


def test_wider_level_gives_wider_interval() -> None:
    lower_95, upper_95 = _interval(5, 20)
    narrow = wilson_interval(5, 20, z=1.0)
    assert narrow is not None
    assert lower_95 < narrow[0] < narrow[1] < upper_95


@pytest.mark.parametrize(
    ("successes", "trials"),
    [(-1, 5), (0, -1), (6, 5), (1, 0), (-1, -1)],
)
def test_bad_counts_raise(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match=r"successes|trials"):
        wilson_interval(successes, trials)
    with pytest.raises(ValueError, match=r"successes|trials"):
        rate(successes, trials)


@pytest.mark.parametrize("z", [0.0, -1.96, math.inf, math.nan])
def test_bad_z_raises(z: float) -> None:
    with pytest.raises(ValueError, match="z must be"):
        wilson_interval(1, 2, z=z)


# (successes, trials) with at least one trial.
_counts = st.integers(min_value=1, max_value=10**6).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(_counts)
def test_mirror_symmetry(counts: tuple[int, int]) -> None:
    # Swapping successes and failures mirrors the interval around 1/2.
    successes, trials = counts
    lower, upper = _interval(successes, trials)
    mirrored_lower, mirrored_upper = _interval(trials - successes, trials)
    assert lower == pytest.approx(1 - mirrored_upper, abs=1e-12)
    assert upper == pytest.approx(1 - mirrored_lower, abs=1e-12)


@given(_counts)
def test_interval_is_inside_unit_range_and_contains_the_rate(counts: tuple[int, int]) -> None:
    successes, trials = counts
    lower, upper = _interval(successes, trials)
    observed = rate(successes, trials)
    assert observed is not None
    assert 0.0 <= lower <= observed <= upper <= 1.0
    # Only the extreme counts touch the ends of [0, 1].
    assert (lower == 0.0) == (successes == 0)
    assert (upper == 1.0) == (successes == trials)


def test_the_vectorised_intervals_are_the_same_floats() -> None:
    pairs = [(k, n) for n in range(0, 120) for k in range(0, n + 1)] + [(0, 0), (7, 10**7)]
    successes = np.array([k for k, _ in pairs], dtype=np.int64)
    trials = np.array([n for _, n in pairs], dtype=np.int64)
    lows, highs = wilson_intervals(successes, trials)
    for (k, n), low, high in zip(pairs, lows.tolist(), highs.tolist(), strict=True):
        expected = wilson_interval(k, n)
        if expected is None:
            assert math.isnan(low)
            assert math.isnan(high)
        else:
            assert (low, high) == expected


@pytest.mark.parametrize(
    ("successes", "trials"), [([-1], [3]), ([4], [3]), ([0], [-1])], ids=["negative", "over", "n<0"]
)
def test_the_vectorised_intervals_refuse_impossible_counts(
    successes: list[int], trials: list[int]
) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_intervals(np.array(successes, dtype=np.int64), np.array(trials, dtype=np.int64))


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=50))
def test_vectorised_rounding_is_pythons_round(values: list[float]) -> None:
    # Rates k/n and exact ties (1/32 * 10**4 = 312.5) besides whatever hypothesis draws.
    values += [k / n for n in range(1, 70) for k in range(n + 1)] + [1 / 32, 0.03125, 0.00005]
    got = rounded(np.array(values, dtype=np.float64))
    assert got == [round(value, 4) for value in values]
    assert math.isnan(rounded(np.array([math.nan]))[0])
