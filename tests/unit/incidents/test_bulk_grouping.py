"""Bulk grouping finds exactly the incidents that the rule defines, compared with a brute-force
check of every pair (h3's own grid distance, the plain time difference, union-find)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.incidents.bulk_grouping import (
    components,
    connected_components,
    links_to_new,
    microseconds,
)

CENTRE = h3.latlng_to_cell(40.7191, -74.0017, 9)
NEARBY = sorted(h3.grid_disk(CENTRE, 7))
WINDOW_S = 90 * 60


def brute_force(
    cells: list[str],
    seconds: list[int],
    distance: int,
    close: Callable[[str, str, int], bool] = lambda a, b, d: h3.grid_distance(a, b) <= d,
) -> list[int]:
    parent = list(range(len(cells)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(cells)), 2):
        close_in_time = abs(seconds[i] - seconds[j]) <= WINDOW_S
        if close_in_time and close(cells[i], cells[j], distance):
            low, high = sorted((find(i), find(j)))
            parent[high] = low
    return [min(k for k in range(len(cells)) if find(k) == find(i)) for i in range(len(cells))]


reports = st.lists(
    st.tuples(st.sampled_from(NEARBY), st.integers(0, 12 * 3600)), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(reports, st.sampled_from([0, 1, 2, 3, 4]))
def test_same_incidents_as_checking_every_pair(
    sample: list[tuple[str, int]], distance: int
) -> None:
    cells = [cell for cell, _ in sample]
    seconds = [at for _, at in sample]
    got = components([h3.str_to_int(c) for c in cells], seconds, distance, WINDOW_S)
    assert got.tolist() == brute_force(cells, seconds, distance)


PENTAGON = sorted(h3.get_pentagons(9))[0]
AROUND_PENTAGON = sorted(h3.grid_disk(PENTAGON, 3))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(AROUND_PENTAGON), st.integers(0, 4 * 3600)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([2, 4]),
)
def test_around_a_pentagon_too(sample: list[tuple[str, int]], distance: int) -> None:
    # A pentagon's disk has one cell fewer than the others, and grid distances across it are
    # undefined: reports there link when their radius-1 disks meet, and the padding of the
    # pentagon's shorter disk must link nothing.
    def disks_meet(a: str, b: str, distance: int) -> bool:
        return bool(set(h3.grid_disk(a, distance // 2)) & set(h3.grid_disk(b, distance // 2)))

    cells = [cell for cell, _ in sample]
    seconds = [at for _, at in sample]
    got = components([h3.str_to_int(c) for c in cells], seconds, distance, WINDOW_S)
    assert got.tolist() == brute_force(cells, seconds, distance, disks_meet)


def test_exactly_the_window_and_the_distance_link() -> None:
    far = sorted(h3.grid_ring(CENTRE, 2))[0]
    farther = next(c for c in sorted(h3.grid_ring(CENTRE, 3)) if h3.grid_distance(c, far) > 2)
    cells = [h3.str_to_int(c) for c in (CENTRE, far, CENTRE, farther)]
    # 0-1: distance 2, exactly 90 min apart: linked. 2: 91 min after 0 (too late for it) but
    # 1 min after 1, two cells away: linked through 1. 3: three cells from 0, the others
    # farther still: alone.
    seconds = [0, WINDOW_S, WINDOW_S + 60, 0]
    assert components(cells, seconds, 2, WINDOW_S).tolist() == [0, 0, 0, 3]


def test_long_chains_and_no_edges() -> None:
    count = 10_000
    chain = connected_components(
        count, np.arange(count - 1, dtype=np.int64), np.arange(1, count, dtype=np.int64)
    )
    assert set(chain.tolist()) == {0}
    alone = connected_components(5, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert alone.tolist() == [0, 1, 2, 3, 4]
    assert components([], [], 2, WINDOW_S).tolist() == []


def test_the_window_is_exact_to_the_microsecond() -> None:
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    window = microseconds(timedelta(minutes=90))
    cells = [h3.str_to_int(CENTRE)] * 2
    on_the_edge = [microseconds(start), microseconds(start + timedelta(minutes=90))]
    just_past = [on_the_edge[0], on_the_edge[1] + 1]
    assert components(cells, on_the_edge, 2, window).tolist() == [0, 0]
    assert components(cells, just_past, 2, window).tolist() == [0, 1]


def _linked(first: np.ndarray, second: np.ndarray) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, b in zip(first.tolist(), second.tolist(), strict=True)}


@pytest.mark.parametrize("distance", [2, 3])
def test_links_to_new_never_link_two_stored_reports(distance: int) -> None:
    # Two stored reports in one cell, 30 min apart (a moderator split them): no link between
    # them; a new report 60 min after the first is within the window of both.
    cell = h3.str_to_int(CENTRE)
    start = datetime(2025, 11, 12, 14, 0, tzinfo=UTC)
    times = [microseconds(start + timedelta(minutes=m)) for m in (60, 0, 30)]
    window = microseconds(timedelta(minutes=90))
    first, second = links_to_new([cell] * 3, times, [True, False, False], distance, window)
    labels = connected_components(3, first, second)
    assert (1, 2) not in _linked(first, second)
    assert labels.tolist() == [0, 0, 0]  # the new report bridges both


def test_links_to_new_without_new_reports_is_empty() -> None:
    cell = h3.str_to_int(CENTRE)
    first, second = links_to_new([cell, cell], [0, 1], [False, False], 2, 10)
    assert first.tolist() == []
    assert second.tolist() == []


def test_links_to_new_respects_the_window() -> None:
    cell = h3.str_to_int(CENTRE)
    first, second = links_to_new([cell, cell], [0, 11], [True, False], 2, 10)
    assert first.tolist() == []
    first, second = links_to_new([cell, cell], [0, 10], [True, False], 2, 10)
    assert _linked(first, second) == {(0, 1)}
