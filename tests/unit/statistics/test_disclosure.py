"""The base grid's levels: which levels a table counts, where groups are kept (worked by hand,
k = 11), and the property the design rests on: tables are a function of the kept groups only,
so removing what was dropped changes no table, and every published cell reaches k."""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.stats import Dimension
from storage.statistics.disclosure import LEVELS, BaseKey, Cell, kept_levels, levels_counted

K = 11
AREA, AGENCY, MASKED, KIND, MONTH, WEEK = (
    Dimension.AREA,
    Dimension.AGENCY,
    Dimension.MASKED,
    Dimension.KIND,
    Dimension.MONTH,
    Dimension.WEEK,
)


def parent(area: int, resolution: int) -> int:
    """Areas as integers whose res-6 parent is area // 10 and res-5 parent area // 100."""
    divisor: int = 10 ** (7 - resolution)
    return area // divisor


def test_cell_total_adds_all_three_counts() -> None:
    assert Cell(("x",), 1, 20, 300).total == 321


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        Cell(("x",), 1, -1, 0)


@pytest.mark.parametrize(
    ("group_by", "resolution", "counted"),
    [
        ((), 7, 6),  # everything kept, down to res 5
        ((MONTH,), 7, 6),
        ((WEEK, MONTH), 7, 6),
        ((AREA,), 7, 4),  # not the groups kept at res 6 or 5
        ((AREA,), 6, 5),
        ((MONTH, AREA), 5, 6),
        ((AGENCY,), 7, 3),  # not the groups kept after agency was dropped
        ((AGENCY, AREA), 5, 3),
        ((MASKED,), 7, 2),
        ((AGENCY, MASKED), 7, 2),
        ((KIND,), 7, 1),
        ((MASKED, KIND, AREA), 5, 1),
        ((AREA, AGENCY, MASKED, KIND), 7, 1),
    ],
)
def test_a_table_counts_the_levels_at_least_as_fine_as_itself(
    group_by: tuple[Dimension, ...], resolution: int, counted: int
) -> None:
    assert levels_counted(group_by, resolution) == counted


def test_the_levels_are_a_chain_from_fine_to_coarse() -> None:
    for finer, coarser in itertools.pairwise(LEVELS):
        assert set(coarser.attributes) <= set(finer.attributes)
        assert coarser.area_resolution <= finer.area_resolution
        assert coarser != finer


def test_groups_are_kept_at_the_first_level_where_they_reach_the_threshold() -> None:
    totals: dict[BaseKey, int] = {
        ("2025-03", 1111111, "ICE", "all", "obs"): 12,  # kept as it is
        ("2025-03", 1111111, "ICE", "all", "note"): 4,  # with the next: ICE/all 10, then
        ("2025-03", 1111111, "ICE", "all", "other"): 6,  # ... no: 4 + 6 = 10 < 11
        ("2025-03", 1111111, "CBP", "none", "obs"): 1,  # area 1111111: 4 + 6 + 1 = 11
        ("2025-03", 1111112, "HSI", "some", "obs"): 7,  # res 6 (111111): 7 + 3 = 10
        ("2025-03", 1111113, "HSI", "some", "obs"): 3,
        ("2025-03", 1111199, "ICE", "some", "obs"): 1,  # res 5 (11111): 10 + 1 = 11
        ("2025-03", 2222222, "ICE", "all", "obs"): 10,  # alone in its res-5 area: dropped
        ("2025-04", 1111111, "ICE", "all", "note"): 4,  # another month: alone, dropped
        ("2025-04", 1111111, "ICE", "all", "obs"): 0,  # empty: never kept
    }
    assert kept_levels(totals, K, parent) == {
        ("2025-03", 1111111, "ICE", "all", "obs"): 0,
        ("2025-03", 1111111, "ICE", "all", "note"): 3,
        ("2025-03", 1111111, "ICE", "all", "other"): 3,
        ("2025-03", 1111111, "CBP", "none", "obs"): 3,
        ("2025-03", 1111112, "HSI", "some", "obs"): 5,
        ("2025-03", 1111113, "HSI", "some", "obs"): 5,
        ("2025-03", 1111199, "ICE", "some", "obs"): 5,
    }


def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        kept_levels({}, 0, parent)


GROUPINGS: list[tuple[tuple[Dimension, ...], int]] = [
    (group_by, resolution)
    for group_by in [
        (),
        (AREA,),
        (AGENCY,),
        (MASKED,),
        (KIND,),
        (AREA, AGENCY),
        (AREA, AGENCY, MASKED, KIND),
        (AGENCY, MASKED),
        (MONTH, AREA, KIND),
    ]
    for resolution in (5, 6, 7)
]


def tables(
    totals: dict[BaseKey, int], threshold: int
) -> dict[tuple[tuple[Dimension, ...], int], dict[tuple[Hashable, ...], int]]:
    """Every grouping's cells as the service makes them: kept groups from the levels the
    grouping counts, summed."""
    kept = kept_levels(totals, threshold, parent)
    result = {}
    for group_by, resolution in GROUPINGS:
        counted = levels_counted(group_by, resolution)
        cells: dict[tuple[Hashable, ...], int] = {}
        for key, level in kept.items():
            if level >= counted:
                continue
            time, area, agency, masked, kind = key
            values: dict[Dimension, Hashable] = {
                MONTH: time,
                AREA: parent(area, resolution),
                AGENCY: agency,
                MASKED: masked,
                KIND: kind,
            }
            cell = tuple(values[d] for d in group_by)
            cells[cell] = cells.get(cell, 0) + totals[key]
        result[(group_by, resolution)] = cells
    return result


# Small worlds so that groups collide: 2 months, areas in 2 res-5 areas x 2 res-6 x 3 res-7.
base_keys = st.tuples(
    st.sampled_from(["m1", "m2"]),
    st.sampled_from(
        [1111110 + a + 100 * b + 10 * c for a in range(3) for b in (0, 1) for c in (0, 1)]
    ),
    st.sampled_from(["ICE", "CBP", "HSI"]),
    st.sampled_from(["all", "none"]),
    st.sampled_from(["obs", "note"]),
)
worlds = st.dictionaries(base_keys, st.integers(min_value=1, max_value=14), max_size=40)


@settings(max_examples=300, deadline=None)
@given(worlds, st.integers(min_value=1, max_value=15))
def test_every_published_cell_reaches_the_threshold(
    totals: dict[BaseKey, int], threshold: int
) -> None:
    for cells in tables(totals, threshold).values():
        assert all(total >= threshold for total in cells.values())


@settings(max_examples=300, deadline=None)
@given(worlds, st.integers(min_value=2, max_value=15), st.data())
def test_what_was_dropped_changes_no_table(
    totals: dict[BaseKey, int], threshold: int, data: st.DataObject
) -> None:
    """Remove all of a dropped base cell, or one incident of it: every table is the same.
    This is the attacker's presence test on every grouping at once."""
    dropped = sorted(set(totals) - set(kept_levels(totals, threshold, parent)))
    if not dropped:
        return
    victim = data.draw(st.sampled_from(dropped))
    published = tables(totals, threshold)
    without = {key: total for key, total in totals.items() if key != victim}
    assert tables(without, threshold) == published
    one_fewer = {**totals, victim: totals[victim] - 1}
    assert tables(one_fewer, threshold) == published


def test_dropping_is_needed_for_that_property() -> None:
    """The same check on a world where a small cell is kept (it joins others to reach k):
    removing one of its incidents changes a table. The property above is not vacuous."""
    totals: dict[BaseKey, int] = {
        ("m1", 1111111, "ICE", "all", "obs"): 5,
        ("m1", 1111111, "CBP", "all", "obs"): 6,
    }
    victim: BaseKey = ("m1", 1111111, "ICE", "all", "obs")
    assert kept_levels(totals, K, parent) == dict.fromkeys(totals, 3)
    assert tables({**totals, victim: 4}, K) != tables(totals, K)
