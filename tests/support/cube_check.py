"""Checks the statistics cube against its sources, computed here in Python one contribution
at a time (shared by the cube and import tests)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import h3

from tests.support.helpers import fold_now

CLASSES = ("not_identified", "identified", "unclear")
ROLLUPS = {  # id: (grain, with area: area only, else the attributes), as stats_rollups holds them
    1: ("month", True),
    2: ("month", False),
    3: ("week", True),
    4: ("week", False),
    5: ("day", False),
}


def period(day: date, grain: str) -> date:
    if grain == "month":
        return day.replace(day=1)
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day


def incident_agency(reports: list[asyncpg.Record], incident: int, scope: str) -> str:
    """The contract's rule: most often claimed, else most often suspected, else unknown
    (ties: first code in byte order)."""
    members = [
        r for r in reports
        if r["incident_id"] == incident and (scope == "all" or r["status"] == "verified")
    ]  # fmt: skip
    for column in ("agencies_claimed", "agencies_suspected"):
        counts = Counter(code for r in members for code in r[column] if code != "unknown")
        if counts:
            best: str = min(counts, key=lambda code: (-counts[code], code.encode()))
            return best
    return "unknown"


def expected_cube(
    facts: list[asyncpg.Record], reports: list[asyncpg.Record], zone: str
) -> Counter[tuple[Any, ...]]:
    """Every rollup's counts computed from the sources, one contribution at a time."""
    tz = ZoneInfo(zone)
    contributions = [
        ("incident", f["scope"], f["earliest_at"], f["h3_cell"],
         incident_agency(reports, f["incident_id"], f["scope"]), f["masked"], f["kind"],
         f["classification"])
        for f in facts
    ] + [
        ("report", scope, r["occurred_at"], r["h3_cell"], r["agency"], r["masked"], r["kind"],
         r["identification"])
        for r in reports
        for scope in (("all", "verified") if r["status"] == "verified" else ("all",))
    ]  # fmt: skip
    cube: Counter[tuple[Any, ...]] = Counter()
    for unit, scope, at, cell, agency, masked, kind, classification in contributions:
        day = at.astimezone(tz).date()
        area = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), 7))
        for rollup, (grain, with_area) in ROLLUPS.items():
            key = (
                rollup,
                scope,
                unit,
                period(day, grain),
                area if with_area else 0,
                "" if with_area else agency,
                "" if with_area else masked,
                "" if with_area else kind,
                classification,
            )
            cube[key] += 1
    return cube


async def actual_cube(conn: asyncpg.Connection) -> Counter[tuple[Any, ...]]:
    cube: Counter[tuple[Any, ...]] = Counter()
    for row in await conn.fetch("select * from stats_cube"):
        for classification in CLASSES:
            if row[classification]:
                key = (
                    row["rollup"],
                    row["scope"],
                    row["unit"],
                    row["period"],
                    row["area"],
                    row["agency"],
                    row["masked"],
                    row["kind"],
                    classification,
                )
                cube[key] = row[classification]
    return cube


async def check_cube(conn: asyncpg.Connection, zone: str) -> None:
    """Run the folder (the service's path), then compare the cube with a recomputation from
    the reports' statuses, independent of what the folder records (reports.counted)."""
    await fold_now(conn, time_zone=zone)
    assert (
        await conn.fetchval("select count(*) from reports where fold_pending_since is not null")
        == 0
    )
    # Counted reports are exactly the grouped ones, verified ones in both scopes.
    assert (
        await conn.fetchval(
            """
        select count(*) from reports
        where counted <> case when incident_id is null then 0
                              when status = 'verified' then 2 else 1 end
           or (incident_id is not null and status in ('withdrawn', 'rejected'))
        """
        )
        == 0
    )
    facts = await conn.fetch("select * from incident_facts where reports > 0")
    reports = await conn.fetch("select * from reports where incident_id is not null")
    assert facts, "the scenario must have produced incidents"
    assert await actual_cube(conn) == expected_cube(facts, reports, zone)
    assert await conn.fetchval("select count(*) from incident_facts where reports = 0") == 0
    assert await conn.fetchval("select count(*) from stats_changes") == 0
    # What the fold remembers per incident is what the cube counts.
    assert await conn.fetchval("select count(*) from stats_folded") == len(facts)
