"""Set-based incident grouping for bulk imports: the same rule as ingest, for millions at once.

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
    if distance % 2:
        first, second = _pairs_one_by_one(cells, times, distance, window)
    else:
        first, second = _pairs_through_meeting_cells(cells, times, distance // 2, window)
    return connected_components(count, first, second)


def _pairs_through_meeting_cells(
    cells: Sequence[int], times: Sequence[int], radius: int, window: int
) -> tuple[Labels, Labels]:
    per_report = 1 + 3 * radius * (radius + 1)  # cells in a disk (no pentagon inside)
    # Reports crowd into few cells: each distinct cell's disk is computed once.
    distinct, inverse = np.unique(np.asarray(cells, dtype=np.uint64), return_inverse=True)
    disks = np.zeros((len(distinct), per_report), dtype=np.uint64)  # 0 is no H3 cell
    for row, cell in enumerate(distinct.tolist()):
        disk = h3i.grid_disk(cell, radius)  # a pentagon's disk has one cell fewer
        disks[row, : len(disk)] = disk
    meeting = disks[inverse.reshape(-1)].reshape(-1)
    owner = np.repeat(np.arange(len(cells), dtype=np.int64), per_report)
    real = meeting != 0
    meeting, owner = meeting[real], owner[real]
    at = np.asarray(times, dtype=np.int64)[owner]
    order = np.lexsort((at, meeting))
    meeting, owner, at = meeting[order], owner[order], at[order]
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
