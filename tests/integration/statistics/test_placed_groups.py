"""The stored kept groups (stats_placed_groups) stay equal to a placement from scratch: after
submissions, reviews, withdrawals and an import, every family's stored groups are what the
reference placement (storage.statistics.disclosure.kept_levels) makes of the sources now,
whether the background placed them again or a query did."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import h3

from schemas.auth import Role
from schemas.stats import Dimension, StatusScope, Unit
from storage.incidents import folder
from storage.statistics.disclosure import LEVELS, BaseKey, kept_levels
from storage.statistics.published import identification_table
from storage.statistics.query import Period, StatsQuery
from tests.integration.reports.test_import import importer, ndjson, run_import
from tests.integration.statistics.test_stats_cube import random_report
from tests.support.cube_check import CLASSES
from tests.support.helpers import Api, bearer, fold_now

THRESHOLD = 3
PERIODS: tuple[Period, ...] = ("month", "week")
FAMILIES = [
    folder.Family(THRESHOLD, period, status, unit)
    for period, status, unit in itertools.product(
        PERIODS, (StatusScope.ALL, StatusScope.VERIFIED), (Unit.INCIDENT, Unit.REPORT)
    )
]
GroupKey = tuple[Any, ...]


def _parent(cell: int, res: int) -> int:
    parent: int = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), res))
    return parent


def _time_unit(at: datetime, period: Period) -> date:
    day = at.astimezone(UTC).date()
    month = day.replace(day=1)
    return max(month, day - timedelta(days=day.weekday())) if period == "week" else month


async def _sources(conn: asyncpg.Connection, family: folder.Family) -> list[asyncpg.Record]:
    """What each unit counts, read here from the tables (incident facts as folded, counted
    reports) rather than through the code under test."""
    if family.unit is Unit.INCIDENT:
        return await conn.fetch(
            "select earliest_at as at, h3_cell, agency, masked, kind, classification"
            " from stats_folded where scope = $1",
            family.status.value,
        )
    least = 2 if family.status is StatusScope.VERIFIED else 1
    return await conn.fetch(
        "select occurred_at as at, h3_cell, agency, masked, kind,"
        " identification as classification from reports"
        " where incident_id is not null and counted >= $1",
        least,
    )


async def expected_groups(conn: asyncpg.Connection, family: folder.Family) -> Counter[GroupKey]:
    counts: dict[BaseKey, list[int]] = {}
    for row in await _sources(conn, family):
        key: BaseKey = (
            _time_unit(row["at"], family.period),
            _parent(row["h3_cell"], 7),
            row["agency"],
            row["masked"],
            row["kind"],
        )
        counts.setdefault(key, [0, 0, 0])[CLASSES.index(row["classification"])] += 1
    kept = kept_levels({k: sum(v) for k, v in counts.items()}, THRESHOLD, _parent)
    groups: Counter[GroupKey] = Counter()
    for (start, area, agency, masked, kind), index in kept.items():
        level = LEVELS[index]
        known = {Dimension.AGENCY: agency, Dimension.MASKED: masked, Dimension.KIND: kind}
        group = (
            start,
            index,
            *(_parent(area, res) if level.area_resolution >= res else None for res in (7, 6, 5)),
            *(value if d in level.attributes else None for d, value in known.items()),
        )
        for name, count in zip(CLASSES, counts[(start, area, agency, masked, kind)], strict=True):
            groups[(*group, name)] += count
    return +groups


async def stored_groups(conn: asyncpg.Connection, family: folder.Family) -> Counter[GroupKey]:
    groups: Counter[GroupKey] = Counter()
    rows = await conn.fetch(
        "select * from stats_placed_groups"
        " where threshold = $1 and period = $2 and scope = $3 and unit = $4",
        *family.key,
    )
    for row in rows:
        group = (
            row["unit_start"], row["level"], row["a7"], row["a6"], row["a5"], row["agency"],
            row["masked"], row["kind"],
        )  # fmt: skip
        for name in CLASSES:
            assert (*group, name) not in groups, "each group is stored once"
            groups[(*group, name)] = row[name]
    return +groups


def _query(family: folder.Family) -> StatsQuery:
    grouping = Dimension.WEEK if family.period == "week" else Dimension.MONTH
    return StatsQuery(
        group_by=(grouping, Dimension.AREA), date_from=None, date_to=None, area_resolution=7,
        status=family.status, unit=family.unit, time_zone=ZoneInfo("UTC"),
    )  # fmt: skip


async def assert_stored_equal_fresh(conn: asyncpg.Connection) -> int:
    compared = 0
    for family in FAMILIES:
        expected = await expected_groups(conn, family)
        assert await stored_groups(conn, family) == expected, family
        compared += len(expected)
    return compared


async def test_stored_groups_equal_a_fresh_placement_through_every_change(
    api: Api, tmp_path: Path
) -> None:
    rng = random.Random(1313)
    token = await api.device_token()
    ids = []
    for _ in range(70):
        created = await api.submit(token, random_report(rng))
        assert created.status_code == 201
        ids.append(created.json()["id"])
    # A query of each family places its months (and makes the family one the background
    # keeps current).
    for family in FAMILIES:
        await identification_table(api.conn, _query(family), THRESHOLD)
    assert await assert_stored_equal_fresh(api.conn) > 20

    async def background() -> None:
        await fold_now(api.conn)
        rounds = 0
        while await folder.place_changed(api.conn, timedelta(0)):  # a few months per round
            rounds += 1
        assert rounds >= 2  # 8 families x 2 months changed, at most 6 months a round

    moderator = bearer(await api.account_token(Role.moderator))
    for report_id in ids[:20]:
        reviewed = await api.client.post(
            f"/v1/reports/{report_id}/review", json={"status": "verified"}, headers=moderator
        )
        assert reviewed.status_code == 200
    rejected = await api.client.post(
        f"/v1/reports/{ids[20]}/review",
        json={"status": "rejected", "reason": "duplicate"},
        headers=moderator,
    )
    assert rejected.status_code == 200
    await background()
    await assert_stored_equal_fresh(api.conn)

    for report_id in ids[21:30]:
        gone = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
        assert gone.status_code == 204
    await background()
    await assert_stored_equal_fresh(api.conn)

    lines = [random_report(rng) for _ in range(40)]
    path = ndjson(tmp_path / "in.ndjson", lines)
    summary = await run_import(api.conn, path, await importer(api.conn))
    assert summary.imported == 40
    # The import's months changed; this time a query of each family places them again.
    for family in FAMILIES:
        await identification_table(api.conn, _query(family), THRESHOLD)
    assert await assert_stored_equal_fresh(api.conn) > 20


async def test_the_background_re_places_a_changed_month_at_most_so_often(api: Api) -> None:
    rng = random.Random(5)
    token = await api.device_token()
    for _ in range(10):
        assert (await api.submit(token, random_report(rng))).status_code == 201
    family = FAMILIES[0]
    await identification_table(api.conn, _query(family), THRESHOLD)
    assert (await api.submit(token, random_report(rng))).status_code == 201
    # Placed a moment ago: an hour's spacing leaves the changed month for later (or a query).
    assert await folder.place_changed(api.conn, timedelta(hours=1)) == 0
    assert await folder.stale_months(api.conn, family, None, None)
    assert (await folder.place_changed(api.conn, timedelta(0)) or 0) >= 1
    assert await folder.stale_months(api.conn, family, None, None) == []
    assert await stored_groups(api.conn, family) == await expected_groups(api.conn, family)


async def test_the_background_places_the_service_families_no_query_asked_for(api: Api) -> None:
    rng = random.Random(8)
    token = await api.device_token()
    for _ in range(12):
        assert (await api.submit(token, random_report(rng))).status_code == 201
    await fold_now(api.conn)
    # Without the service's threshold the background only keeps placed families current.
    assert await folder.place_changed(api.conn, timedelta(0)) == 0
    assert all([await folder.stale_months(api.conn, family, None, None) for family in FAMILIES])
    rounds = 0
    while await folder.place_changed(api.conn, timedelta(0), threshold=THRESHOLD):
        rounds += 1
    assert rounds >= 1
    for family in FAMILIES:
        assert await folder.stale_months(api.conn, family, None, None) == [], family
        assert await stored_groups(api.conn, family) == await expected_groups(api.conn, family)
    assert [family.key for family in folder.families(THRESHOLD)] == [f.key for f in FAMILIES]
