"""The grouping rule, set-based: the one implementation, used by the folder for everything
(live reports, imports, reviews, withdrawals), for one report or millions at once.

Two res-9 cells are within grid distance ``2r`` exactly when some cell lies within ``r`` of
both (a shortest path has a middle). So every report is filed under each cell of its radius-r
disk ("meeting cells"); two reports are close in space exactly when they share one. Within a
meeting cell, reports sorted by time link to their successor when at most ``window`` apart: if
two reports there are within the window, every consecutive pair between them is too, so the
components are the same as with all pairs. Components are then found by label propagation.
Everything after the per-report disks is numpy, so five million reports take seconds.

An odd distance has no middle cell; it is grouped pair by pair (slower, still exact).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import h3
import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt

Labels = npt.NDArray[np.int64]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds(value: datetime | timedelta) -> int:
    """Exact integer time (microseconds since the epoch, or in the span): the window test
    must agree with the database's to the microsecond."""
    span = value if isinstance(value, timedelta) else value - EPOCH
    return span // timedelta(microseconds=1)


def grid_distance(a: int, b: int) -> int:
    """Grid steps between two cells; far apart or across a pentagon counts as unreachable."""
    try:
        return int(h3i.grid_distance(a, b))
    except h3.H3BaseException:
        return 1 << 30


def components(cells: Sequence[int], times: Sequence[int], distance: int, window: int) -> Labels:
    """For each report, the smallest index of a report in its incident. ``times`` and
    ``window`` are integers in one unit (``microseconds``)."""
    count = len(cells)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    first, second = close_pairs(cells, times, distance, window)
    return connected_components(count, first, second)


def close_pairs(
    cells: Sequence[int], times: Sequence[int], distance: int, window: int
) -> tuple[Labels, Labels]:
    """Edges (index pairs) linking reports close in space and time: enough of them that
    their connected components are the rule's incidents (not necessarily every close pair)."""
    if len(cells) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if distance % 2:
        return _pairs_one_by_one(cells, times, distance, window)
    return _pairs_through_meeting_cells(cells, times, distance // 2, window)


def _pairs_through_meeting_cells(
    cells: Sequence[int], times: Sequence[int], radius: int, window: int
) -> tuple[Labels, Labels]:
    meeting, owner, at = _meeting_entries(cells, times, radius)
    linked = (meeting[1:] == meeting[:-1]) & (at[1:] - at[:-1] <= window)
    return owner[:-1][linked], owner[1:][linked]


def _pairs_one_by_one(
    cells: Sequence[int], times: Sequence[int], distance: int, window: int
) -> tuple[Labels, Labels]:
    by_cell: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index in sorted(range(len(cells)), key=times.__getitem__):
        by_cell[cells[index]].append((times[index], index))
    first: list[int] = []
    second: list[int] = []
    for index, (cell, at) in enumerate(zip(cells, times, strict=True)):
        for near in h3i.grid_disk(cell, distance):
            reports = by_cell.get(near)
            if not reports or grid_distance(cell, near) > distance:
                continue
            start = bisect_left(reports, (at - window, -1))
            for other_at, other in reports[start:]:
                if other_at > at:
                    break
                if other != index:
                    first.append(other)
                    second.append(index)
    return np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)


def connected_components(count: int, first: Labels, second: Labels) -> Labels:
    """Label every node with the smallest node of its component (hook roots to the smaller
    root along every edge, then jump pointers, until nothing changes)."""
    labels = np.arange(count, dtype=np.int64)
    while True:
        low = np.minimum(labels[first], labels[second])
        hooked = labels.copy()
        np.minimum.at(hooked, labels[first], low)
        np.minimum.at(hooked, labels[second], low)
        while True:
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, labels):
            return labels
        labels = hooked


def links_to_new(
    cells: Sequence[int], times: Sequence[int], is_new: Sequence[bool], distance: int, window: int
) -> tuple[Labels, Labels]:
    """Edges for grouping new reports with stored ones whose incidents stay as they are:
    enough new-new and new-stored links that the components, once each stored report is
    replaced by its incident, are what adding the new reports one by one gives. No link
    between two stored reports: they connect only through their incidents (a moderator may
    have split two close reports apart)."""
    new = np.asarray(is_new, dtype=bool)
    if len(cells) == 0 or not new.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if distance % 2:
        first, second = _pairs_one_by_one(cells, times, distance, window)
        keep = new[first] | new[second]
        return first[keep], second[keep]
    meeting, owner, at = _meeting_entries(cells, times, distance // 2)
    fresh = new[owner]
    # New with new: consecutive in time among the new entries of a meeting cell.
    nm, no, na = meeting[fresh], owner[fresh], at[fresh]
    linked = (nm[1:] == nm[:-1]) & (na[1:] - na[:-1] <= window)
    firsts, seconds = [no[:-1][linked]], [no[1:][linked]]
    # Stored with the nearest new entry before and after it in the meeting cell: a stored
    # report within the window of some new one there is within it of the nearest one, and
    # the new ones between are linked among themselves.
    count = len(meeting)
    index = np.arange(count, dtype=np.int64)
    before = np.maximum.accumulate(np.where(fresh, index, -1))
    after = np.minimum.accumulate(np.where(fresh, index, count)[::-1])[::-1]
    stored = np.flatnonzero(~fresh)
    for near, sign in ((before[stored], 1), (after[stored], -1)):
        valid = (near >= 0) & (near < count)
        s, n = stored[valid], near[valid]
        ok = (meeting[n] == meeting[s]) & (sign * (at[s] - at[n]) <= window)
        firsts.append(owner[n[ok]])
        seconds.append(owner[s[ok]])
    return np.concatenate(firsts), np.concatenate(seconds)


def _meeting_entries(
    cells: Sequence[int], times: Sequence[int], radius: int
) -> tuple[npt.NDArray[np.uint64], Labels, Labels]:
    """Every report filed under each cell of its radius-r disk, sorted by cell and time."""
    per_report = 1 + 3 * radius * (radius + 1)
    distinct, inverse = np.unique(np.asarray(cells, dtype=np.uint64), return_inverse=True)
    disks = np.zeros((len(distinct), per_report), dtype=np.uint64)
    for row, cell in enumerate(distinct.tolist()):
        disk = h3i.grid_disk(cell, radius)
        disks[row, : len(disk)] = disk
    meeting = disks[inverse.reshape(-1)].reshape(-1)
    owner = np.repeat(np.arange(len(cells), dtype=np.int64), per_report)
    real = meeting != 0
    meeting, owner = meeting[real], owner[real]
    at = np.asarray(times, dtype=np.int64)[owner]
    order = np.lexsort((at, meeting))
    return meeting[order], owner[order], at[order]
