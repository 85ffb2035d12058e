"""Grouping reports into incidents: the rule, its locks, and re-evaluation after removals.

Two counted reports (not withdrawn, not rejected) belong to one incident when their H3 res-9
cells are within ``distance`` grid steps and their ``occurred_at`` differ by at most
``window``, transitively. A new report is grouped in its own transaction by the SQL function
``ingest_report`` (migration 0003): it joins every incident with a report in its
neighbourhood, merging them when there are several. Removing a report can split an incident;
``reevaluate_incident`` recomputes the connected components of what is left.

Concurrency: each report takes transaction advisory locks on every (coarse cell, time bucket)
its neighbourhood touches. Two reports that could group both lock the coarse cell and bucket
of each other's own position, so the second waits for the first and then sees it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg
import h3.api.basic_int as h3i

from schemas.codes import Agency, Tristate
from schemas.report import Agents, Identification
from storage.bulk_grouping import components, microseconds

# Lock granularity only decides how much unrelated work is serialised, never correctness.
_LOCK_RESOLUTION_BY_MAX_DISTANCE: Final = ((3, 7), (10, 6))
_FALLBACK_LOCK_RESOLUTION: Final = 5
_BUCKET_BITS: Final = 23
# Retention (storage/retention.py) coarsens old reports' cells to this resolution.
COARSENED_RESOLUTION: Final = 7

LOCK_INCIDENT = "select id from incidents where id = $1 for update"
SELECT_MEMBERS = """
select id, h3_cell, occurred_at from reports
where incident_id = $1 order by occurred_at, id
"""
MOVE_REPORTS = "update reports set incident_id = $1 where id = any($2::uuid[])"
NEW_INCIDENT = "insert into incidents default values returning id"
REFRESH = "select refresh_incident($1)"


def classify(identification: Identification) -> str:
    """The contract's definition: any 'yes' identifies; three 'no' do not; else unclear."""
    answers = (
        identification.verbal,
        identification.badge_shown,
        identification.insignia_visible,
    )
    if Tristate.YES in answers:
        return "identified"
    if all(answer is Tristate.NO for answer in answers):
        return "not_identified"
    return "unclear"


def report_agency(agents: Agents) -> str:
    """One report's agency: the first claimed code in byte order, else the first suspected,
    else unknown (what the SQL ``primary_agency`` gives for a single report)."""
    for codes in (agents.agencies_claimed, agents.agencies_suspected):
        known = [code.value for code in codes if code is not Agency.UNKNOWN]
        if known:
            return min(known)
    return Agency.UNKNOWN.value


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    cells: list[int]
    """Every res-9 cell within the grid distance, the report's own included."""
    lock_keys: list[int]
    """Sorted, so that concurrent reports take shared keys in the same order."""


@dataclass(frozen=True, slots=True)
class GroupingRule:
    distance: int
    window: timedelta

    @property
    def lock_resolution(self) -> int:
        for max_distance, resolution in _LOCK_RESOLUTION_BY_MAX_DISTANCE:
            if self.distance <= max_distance:
                return resolution
        return _FALLBACK_LOCK_RESOLUTION

    def neighbourhood(self, cell: int, at: datetime) -> Neighbourhood:
        cells = h3i.grid_disk(cell, self.distance)
        resolution = self.lock_resolution
        parents = {h3i.cell_to_parent(c, resolution) for c in cells}
        # Buckets twice the window long: [at - window, at + window] touches at most two.
        bucket_seconds = 2 * self.window.total_seconds()
        stamp = at.timestamp()
        buckets = {
            int((stamp - self.window.total_seconds()) // bucket_seconds),
            int((stamp + self.window.total_seconds()) // bucket_seconds),
        }
        keys = sorted({lock_key(p, b, resolution) for p in parents for b in buckets})
        return Neighbourhood(cells=cells, lock_keys=keys)


def lock_key(parent: int, bucket: int, resolution: int) -> int:
    # A coarse cell's unused low digits are all ones: drop them, keep the bucket's low bits.
    # The result stays below 2**63, so it is a valid PostgreSQL bigint.
    significant = parent >> (3 * (15 - resolution))
    return (significant << _BUCKET_BITS) | (bucket & ((1 << _BUCKET_BITS) - 1))


async def reevaluate_incident(
    conn: asyncpg.Connection, rule: GroupingRule, incident_id: int
) -> None:
    """After a report left the incident: split what no longer connects, refresh the facts.

    Runs inside the caller's transaction with the incident row locked (``lock_incident``), so
    a concurrent report joining the incident waits and then re-reads its candidates.
    """
    rows = await conn.fetch(SELECT_MEMBERS, incident_id)
    if any(h3i.get_resolution(row["h3_cell"]) <= COARSENED_RESOLUTION for row in rows):
        # Retention coarsened a member's cell: the rule cannot be applied to it any more, so
        # the incident stays whole (membership is kept, never re-derived from coarse cells).
        await conn.execute(REFRESH, incident_id)
        return
    labels = components(
        [row["h3_cell"] for row in rows],
        [microseconds(row["occurred_at"]) for row in rows],
        rule.distance,
        microseconds(rule.window),
    )
    parts: dict[int, list[uuid.UUID]] = {}
    for row, label in zip(rows, labels.tolist(), strict=True):
        parts.setdefault(label, []).append(row["id"])
    # Rows come earliest first, so label 0's part keeps the incident's id; the others get new ones.
    for label, report_ids in parts.items():
        if label == 0:
            continue
        new_id = await conn.fetchval(NEW_INCIDENT)
        await conn.execute(MOVE_REPORTS, new_id, report_ids)
        await conn.execute(REFRESH, new_id)
    await conn.execute(REFRESH, incident_id)


async def lock_incident(conn: asyncpg.Connection, incident_id: int) -> bool:
    return await conn.fetchval(LOCK_INCIDENT, incident_id) is not None
