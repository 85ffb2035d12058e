"""The identification statistics recomputed from scratch, from what the clients sent and what
the moderators decided: no stored incident, cube or fact is read. Incidents are the contract's
rule (H3 res-9 grid distance at most 2 and at most 90 minutes apart, transitively), an
incident's time and area those of its earliest report, its class the plurality of its
reports' (a tie is unclear), and rates carry a Wilson 95% interval worked out here."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import h3

DISTANCE = 2
WINDOW = timedelta(minutes=90)
Z_95 = 1.959963984540054
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Sent:
    """One acknowledged report as its client knows it, with the moderators' last word."""

    id: uuid.UUID
    lat: float
    lon: float
    occurred_at: datetime
    answers: dict[str, str]
    status: str = "pending"

    @property
    def cell(self) -> str:
        return str(h3.latlng_to_cell(self.lat, self.lon, 9))

    @property
    def classification(self) -> str:
        values = [self.answers[k] for k in ("verbal", "badge_shown", "insignia_visible")]
        if all(value == "no" for value in values):
            return "not_identified"
        if "yes" in values:
            return "identified"
        return "unclear"

    @property
    def counted(self) -> bool:
        return self.status not in ("rejected", "withdrawn")


def _linked(a: Sent, b: Sent) -> bool:
    if abs(a.occurred_at - b.occurred_at) > WINDOW:
        return False
    try:
        return int(h3.grid_distance(a.cell, b.cell)) <= DISTANCE
    except h3.H3BaseException:  # too far apart for a grid distance
        return False


def incidents(reports: Sequence[Sent]) -> list[list[Sent]]:
    """Connected components of the counted reports under the rule (union-find)."""
    counted = [r for r in reports if r.counted]
    parent = list(range(len(counted)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(counted):
        for j in range(i + 1, len(counted)):
            if _linked(a, counted[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[Sent]] = {}
    for i, report in enumerate(counted):
        groups.setdefault(root(i), []).append(report)
    return list(groups.values())


def _plurality(members: Iterable[Sent]) -> str:
    counts = Counter(r.classification for r in members)
    ni, ok, unclear = counts["not_identified"], counts["identified"], counts["unclear"]
    if ni > ok and ni > unclear:
        return "not_identified"
    if ok > ni and ok > unclear:
        return "identified"
    return "unclear"


def _key(report: Sent, group_by: Sequence[str]) -> tuple[str, ...]:
    key = []
    for dimension in group_by:
        if dimension == "month":
            key.append(report.occurred_at.astimezone(UTC).strftime("%Y-%m"))
        elif dimension == "area":
            key.append(str(h3.cell_to_parent(report.cell, 7)))
        else:
            raise ValueError(f"no recount by {dimension}")
    return tuple(key)


def expected_counts(
    reports: Sequence[Sent], *, group_by: Sequence[str], unit: str, status: str
) -> dict[tuple[str, ...], Counter[str]]:
    """(group key) → counts of each class, before any suppression."""
    wanted = (lambda r: r.status == "verified") if status == "verified" else (lambda r: True)
    cells: dict[tuple[str, ...], Counter[str]] = {}
    if unit == "report":
        units = [(r, r.classification) for r in reports if r.counted and wanted(r)]
    else:
        units = []
        for members in incidents(reports):
            scoped = [r for r in members if wanted(r)]
            if scoped:
                earliest = min(scoped, key=lambda r: (r.occurred_at, r.id))
                units.append((earliest, _plurality(scoped)))
    for report, classification in units:
        cells.setdefault(_key(report, group_by), Counter())[classification] += 1
    return cells


def wilson(successes: int, trials: int) -> tuple[float, float] | None:
    if trials == 0:
        return None
    p, z2 = successes / trials, Z_95 * Z_95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z_95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def compare(
    served: list[dict[str, Any]],
    expected: dict[tuple[str, ...], Counter[str]],
    group_by: Sequence[str],
) -> list[str]:
    """Every difference between the served rows and the recount (empty: equal)."""
    problems = []
    rows = {tuple(str(row[d]) for d in group_by): row for row in served}
    if set(rows) != set(expected):
        problems.append(f"groups served {sorted(rows)} != recounted {sorted(expected)}")
    for key in sorted(set(rows) & set(expected)):
        row, counts = rows[key], expected[key]
        ni, ok, unclear = counts["not_identified"], counts["identified"], counts["unclear"]
        want: dict[str, Any] = {
            "total": ni + ok + unclear, "not_identified": ni, "identified": ok,
            "unclear": unclear, "suppressed": False,
        }  # fmt: skip
        interval = wilson(ni, ni + ok)
        for name, value in want.items():
            if row[name] != value:
                problems.append(f"{key} {name}: served {row[name]!r}, recounted {value!r}")
        rate = None if ni + ok == 0 else ni / (ni + ok)
        for name, value in (
            ("rate_not_identified", rate),
            ("ci_low", None if interval is None else interval[0]),
            ("ci_high", None if interval is None else interval[1]),
        ):
            got = row[name]
            if (got is None) != (value is None) or (
                value is not None and abs(got - value) > TOLERANCE
            ):
                problems.append(f"{key} {name}: served {got!r}, recounted {value!r}")
    return problems
