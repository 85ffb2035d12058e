"""The statistics cube stays equal to what it summarises: after submissions, merges, splits,
withdrawals and folds racing concurrent ingest, every rollup holds exactly the counts computed
here in Python from the incident facts and the reports (the cube's sources)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import h3
import httpx
import msgspec

from api.tasks.stats_folding import background_folding
from schemas.auth import Role
from schemas.stats import Dimension, StatusScope, Unit
from storage.accounts import store as accounts
from storage.db.pool import PooledDatabase, connect
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.statistics.disclosure import BaseKey, kept_levels, levels_counted
from storage.statistics.published import TableCache, identification_table
from storage.statistics.query import StatsQuery
from tests.integration.statistics.test_statistics import far_apart_in_one_res5_area
from tests.support.assertions import devices
from tests.support.cube_check import CLASSES, check_cube
from tests.support.helpers import PASSWORD, Api, bearer, fold_now, observer_report

CENTRE = h3.latlng_to_cell(40.7191, -74.0017, 9)
START = datetime(2025, 2, 26, 20, 0, tzinfo=UTC)  # crosses into March in some zones
ANSWERS = {
    "not_identified": {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"},
    "identified": {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"},
    "unclear": {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"},
}


def random_report(rng: random.Random) -> dict[str, Any]:
    # A small neighbourhood and a few days, so reports group, bridge and merge often.
    cell = rng.choice(h3.grid_disk(CENTRE, 6))
    lat, lon = h3.cell_to_latlng(cell)
    when = START + timedelta(minutes=rng.randrange(0, 3 * 24 * 60, 20))
    agencies = rng.sample(["ICE", "CBP", "HSI", "unknown"], rng.randint(0, 2))
    return observer_report(
        location={"lat": lat, "lon": lon},
        occurred_at=when.isoformat(),
        agents={
            "masked": rng.choice(["all", "some", "none", "unknown"]),
            "agencies_claimed": agencies,
            "agencies_suspected": rng.sample(["FBI", "DEA"], rng.randint(0, 1)),
        },
        identification={
            **ANSWERS[rng.choice(CLASSES)],
            "asked": "no",
            "response_when_asked": None,
        },
    )


async def test_the_cube_matches_its_sources_through_merges_splits_and_withdrawals(
    api: Api,
) -> None:
    rng = random.Random(20251126)
    token = await api.device_token()
    researcher = bearer(await api.account_token(Role.researcher))
    submitted = []
    for step in range(60):
        response = await api.submit(token, random_report(rng))
        assert response.status_code == 201, response.text
        submitted.append(response.json()["id"])
        if step % 7 == 6:  # withdraw one, which may split an incident
            victim = submitted.pop(rng.randrange(len(submitted)))
            gone = await api.client.delete(f"/v1/reports/{victim}", headers=bearer(token))
            assert gone.status_code == 204
        if step % 10 == 9:  # statistics fold what is pending so far
            stats = await api.client.get("/v1/stats/identification", headers=researcher)
            assert stats.status_code == 200
    # Verified as a review would: the status, and the report marked for the folder.
    await api.conn.execute(
        "update reports set status = 'verified', fold_pending_since = now()"
        " where id = any($1::uuid[])",
        submitted[::3],
    )
    await check_cube(api.conn, "UTC")


async def test_a_new_time_zone_rebuilds_the_cube(api: Api) -> None:
    rng = random.Random(7)
    token = await api.device_token()
    ids = []
    for _ in range(25):
        created = await api.submit(token, random_report(rng))
        assert created.status_code == 201
        ids.append(created.json()["id"])
    await check_cube(api.conn, "UTC")
    # Changes still pending at the switch (verified reports, a withdrawal) are counted too:
    # the rebuild reads the tables, not the change log.
    moderator = bearer(await api.account_token(Role.moderator))
    for report_id in ids[:6]:
        reviewed = await api.client.post(
            f"/v1/reports/{report_id}/review", json={"status": "verified"}, headers=moderator
        )
        assert reviewed.status_code == 200
    withdrawn = await api.client.delete(f"/v1/reports/{ids[6]}", headers=bearer(token))
    assert withdrawn.status_code == 204
    assert await api.conn.fetchval("select count(*) from stats_changes") > 0
    await check_cube(api.conn, "Pacific/Kiritimati")  # UTC+14: days and months shift
    assert await api.conn.fetchval("select count(*) from stats_changes") == 0
    verified = await api.conn.fetchval(
        "select sum(not_identified + identified + unclear) from stats_cube"
        " where rollup = 2 and scope = 'verified' and unit = 'report'"
    )
    assert verified == 6
    assert await api.conn.fetchval("select time_zone from stats_cube_settings") == (
        "Pacific/Kiritimati"
    )


async def test_folds_racing_concurrent_ingest_count_everything_once(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    client, dsn = pooled_client
    rng = random.Random(99)
    tokens = await devices(client, 16)
    bodies = [random_report(rng) for _ in range(96)]
    conn = await connect(dsn)
    try:

        async def folds() -> None:
            # A second folder beside the service's own loop: the lock orders them.
            for _ in range(30):
                await fold_now(conn)
                await asyncio.sleep(0.01)

        async def submissions() -> list[httpx.Response]:
            return await asyncio.gather(
                *(
                    client.post("/v1/reports", json=body, headers=bearer(tokens[i % 16]))
                    for i, body in enumerate(bodies)
                )
            )

        responses, _ = await asyncio.gather(submissions(), folds())
        assert {r.status_code for r in responses} == {201}
        await check_cube(conn, "UTC")
    finally:
        await conn.close()


PENDING = "select count(*) from reports where fold_pending_since is not null"


async def test_the_service_folds_in_the_background(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    client, dsn = pooled_client
    (token,) = await devices(client, 1)
    rng = random.Random(5)
    for _ in range(5):
        response = await client.post("/v1/reports", json=random_report(rng), headers=bearer(token))
        assert response.status_code == 201
    db = await PooledDatabase.open(dsn, min_size=1, max_size=2)
    try:
        async with background_folding(db, DEFAULT_GROUPING, "UTC", interval_s=0.05):
            for _ in range(200):
                async with db.acquire() as conn:
                    if await conn.fetchval(PENDING) == 0:
                        break
                await asyncio.sleep(0.05)
        async with db.acquire() as conn:
            assert await conn.fetchval(PENDING) == 0
            assert await conn.fetchval("select count(*) from stats_changes") == 0
            cube_reports = await conn.fetchval(
                "select sum(not_identified + identified + unclear) from stats_cube"
                " where rollup = 5 and unit = 'report' and scope = 'all'"
            )
            assert cube_reports == 5
    finally:
        await db.close()


async def test_published_tables_are_reused_until_a_fold_changes_the_cube(api: Api) -> None:
    rng = random.Random(11)
    token = await api.device_token()
    for _ in range(3):
        assert (await api.submit(token, random_report(rng))).status_code == 201
    query = StatsQuery(
        group_by=(Dimension.MONTH,), date_from=None, date_to=None, area_resolution=7,
        status=StatusScope.ALL, unit=Unit.REPORT, time_zone=ZoneInfo("UTC"),
    )  # fmt: skip
    cache = TableCache(capacity=1)
    first = await identification_table(api.conn, query, 1, cache=cache)
    assert await identification_table(api.conn, query, 1, cache=cache) is first
    assert (await api.submit(token, random_report(rng))).status_code == 201
    after = await identification_table(api.conn, query, 1, cache=cache)
    assert after is not first
    assert after.dataset_version != first.dataset_version  # threshold 1: counts visible
    # Capacity 1: another query evicts the first table.
    incidents = dataclasses.replace(query, unit=Unit.INCIDENT)
    await identification_table(api.conn, incidents, 1, cache=cache)
    assert await identification_table(api.conn, query, 1, cache=cache) is not after


async def test_tables_of_months_without_changes_stay_cached(api: Api) -> None:
    """New reports change the months they fall in (in the configured zone), not the others: a
    table of January stays cached while March gets reports; one covering March does not."""
    token = await api.device_token()

    def report_at(when: datetime, lat: float) -> dict[str, Any]:
        return observer_report(occurred_at=when.isoformat(), location={"lat": lat, "lon": -74.0})

    january = datetime(2025, 1, 15, 12, tzinfo=UTC)
    march = datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert (await api.submit(token, report_at(january, 40.70))).status_code == 201
    assert (await api.submit(token, report_at(march, 40.70))).status_code == 201

    def months(first: int, last: int, zone: str = "UTC") -> StatsQuery:
        return StatsQuery(
            group_by=(Dimension.MONTH,), date_from=datetime(2025, first, 1).date(),
            date_to=datetime(2025, last, 28).date(), area_resolution=7,
            status=StatusScope.ALL, unit=Unit.REPORT, time_zone=ZoneInfo(zone),
        )  # fmt: skip

    cache = TableCache()
    only_january = await identification_table(api.conn, months(1, 2), 1, cache=cache)
    with_march = await identification_table(api.conn, months(1, 3), 1, cache=cache)
    assert [row.total for row in only_january.rows] == [1]
    assert [row.total for row in with_march.rows] == [1, 1]
    # Far from the others, so it forms its own incident: only March changes.
    assert (await api.submit(token, report_at(march, 40.80))).status_code == 201
    assert await identification_table(api.conn, months(1, 2), 1, cache=cache) is only_january
    changed = await identification_table(api.conn, months(1, 3), 1, cache=cache)
    assert changed is not with_march
    assert [row.total for row in changed.rows] == [1, 2]
    # A report withdrawn in January changes January.
    created = await api.submit(token, report_at(january, 40.80))
    report_id = created.json()["id"]
    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert withdrawn.status_code == 204
    after_withdrawal = await identification_table(api.conn, months(1, 2), 1, cache=cache)
    assert after_withdrawal is not only_january
    assert [row.total for row in after_withdrawal.rows] == [1]
    # Another time zone rebuilds the cube: every month changes, so nothing stale is served.
    other_zone = await identification_table(api.conn, months(1, 2, "Asia/Tokyo"), 1, cache=cache)
    assert await identification_table(api.conn, months(1, 2), 1, cache=cache) is not (
        after_withdrawal
    )
    assert [row.total for row in other_zone.rows] == [1]


async def test_statistics_over_a_real_pool_while_reports_arrive(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    """Outside a request transaction: the fold commits on its own, the counting reads one
    snapshot; concurrent statistics requests and submissions all succeed and agree at the end."""
    client, dsn = pooled_client
    conn = await connect(dsn)
    try:
        await accounts.create_account(
            conn, email="r@example.org", role=Role.researcher, password=PASSWORD
        )
    finally:
        await conn.close()
    session = await client.post(
        "/v1/sessions", json={"email": "r@example.org", "password": PASSWORD}
    )
    researcher = bearer(session.json()["token"])
    tokens = await devices(client, 12)
    # In one res-5 area, so that the twelve count together (a group below the threshold in
    # every area would be left out of the tables).
    cells = far_apart_in_one_res5_area(CENTRE, 12)
    bodies = []
    for cell in cells:
        lat, lon = h3.cell_to_latlng(cell)
        bodies.append(observer_report(location={"lat": lat, "lon": lon}))
    responses = await asyncio.gather(
        *(
            client.post("/v1/reports", json=b, headers=bearer(t))
            for b, t in zip(bodies, tokens, strict=True)
        ),
        *(client.get("/v1/stats/identification", headers=researcher) for _ in range(6)),
    )
    assert {r.status_code for r in responses} <= {200, 201}
    final = await client.get("/v1/stats/identification?unit=report", headers=researcher)
    assert final.json()["rows"][0]["total"] == 12
    again = await client.get("/v1/stats/identification?unit=report", headers=researcher)
    assert again.json()["dataset_version"] == final.json()["dataset_version"]


def _expected_tables(
    facts: list[Any], threshold: int, group_by: tuple[Dimension, ...], resolution: int
) -> list[tuple[tuple[str, ...], tuple[int, int, int]]]:
    """The researcher table computed here from the folded incidents, one at a time, with the
    reference placement (storage.statistics.disclosure.kept_levels), in UTC."""
    counts: dict[BaseKey, list[int]] = {}
    for fact in facts:
        day = fact["earliest_at"].astimezone(UTC).date()
        month = day.replace(day=1)
        time = (
            max(month, day - timedelta(days=day.weekday())) if Dimension.WEEK in group_by else month
        )
        area = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(fact["h3_cell"]), 7))
        key: BaseKey = (time, area, fact["agency"], fact["masked"], fact["kind"])
        cell = counts.setdefault(key, [0, 0, 0])
        cell[CLASSES.index(fact["classification"])] += 1

    def parent(area: int, res: int) -> int:
        cell: int = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(area), res))
        return cell

    kept = kept_levels({k: sum(v) for k, v in counts.items()}, threshold, parent)
    table: dict[tuple[str, ...], list[int]] = {}
    for key, level in kept.items():
        if level >= levels_counted(group_by, resolution):
            continue
        start, area, agency, masked, kind = key
        assert isinstance(start, date)
        iso = start.isocalendar()
        values = {
            Dimension.MONTH: start.strftime("%Y-%m"),
            Dimension.WEEK: f"{iso.year}-W{iso.week:02d}",
            Dimension.AREA: h3.cell_to_parent(h3.int_to_str(area), resolution),
            Dimension.AGENCY: agency,
            Dimension.MASKED: masked,
            Dimension.KIND: kind,
        }
        row = table.setdefault(tuple(values[d] for d in group_by), [0, 0, 0])
        for index, value in enumerate(counts[key]):
            row[index] += value
    return sorted((cell, (n, i, u)) for cell, (n, i, u) in table.items())


async def test_the_base_grid_in_sql_matches_the_reference_placement(api: Api) -> None:
    rng = random.Random(4242)
    token = await api.device_token()
    for _ in range(120):
        assert (await api.submit(token, random_report(rng))).status_code == 201
    await fold_now(api.conn)
    facts = await api.conn.fetch("select * from stats_folded where scope = 'all'")
    groupings = [
        (),
        (Dimension.MONTH,),
        (Dimension.WEEK, Dimension.AREA),
        (Dimension.MONTH, Dimension.WEEK, Dimension.AGENCY),
        (Dimension.AREA, Dimension.AGENCY),
        (Dimension.AREA, Dimension.MASKED, Dimension.KIND),
        (Dimension.MONTH, Dimension.AREA, Dimension.AGENCY, Dimension.MASKED, Dimension.KIND),
    ]
    compared = 0
    for group_by, resolution, threshold in itertools.product(groupings, (5, 6, 7), (2, 4, 9)):
        query = StatsQuery(
            group_by=group_by, date_from=None, date_to=None, area_resolution=resolution,
            status=StatusScope.ALL, unit=Unit.INCIDENT, time_zone=ZoneInfo("UTC"),
        )  # fmt: skip
        table = await identification_table(api.conn, query, threshold)
        got = sorted(
            (
                tuple(msgspec.to_builtins(row)[d.value] for d in group_by),
                (row.not_identified, row.identified, row.unclear),
            )
            for row in table.rows
        )
        assert got == _expected_tables(facts, threshold, group_by, resolution)
        compared += len(got)
    assert compared > 100  # the scenario publishes something in most tables


async def test_tables_summed_from_placed_months_match_fresh_ones(api: Api) -> None:
    """Tables never cached: any grouping and range summed from the groups earlier queries
    placed equals the table summed from groups placed afresh, also after a report changes
    one month (only its groups are placed again)."""
    rng = random.Random(99)
    token = await api.device_token()
    for _ in range(50):  # 26 February 20:00 .. 1 March: two months, three ISO weeks
        assert (await api.submit(token, random_report(rng))).status_code == 201
    placed = TableCache(capacity=0)

    def query(group_by: tuple[Dimension, ...], start: int | None, end: int | None) -> StatsQuery:
        return StatsQuery(
            group_by=group_by,
            date_from=None if start is None else date(2025, start, 1),
            date_to=None if end is None else date(2025, end, 1),
            area_resolution=6, status=StatusScope.ALL, unit=Unit.INCIDENT,
            time_zone=ZoneInfo("UTC"),
        )  # fmt: skip

    cases = [
        query(group_by, start, end)
        for group_by in [(Dimension.MONTH, Dimension.AREA), (Dimension.AGENCY,), (Dimension.WEEK,)]
        for start, end in [(None, None), (2, 2), (3, 3), (2, 3)]
    ]

    async def fresh_placement() -> None:
        await api.conn.execute("delete from stats_placed_groups")
        await api.conn.execute("delete from stats_placed_months")

    async def compare() -> int:
        reused = [await identification_table(api.conn, case, 2, cache=placed) for case in cases]
        for case, table in zip(cases, reused, strict=True):
            await fresh_placement()
            assert await identification_table(api.conn, case, 2) == table
        return sum(len(table.rows) for table in reused)

    assert await compare() > 0
    await identification_table(api.conn, cases[0], 2)
    placed_at = "select month, placed_at from stats_placed_months where period = 'month'"
    before = {row["month"]: row["placed_at"] for row in await api.conn.fetch(placed_at)}
    march = observer_report(occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC).isoformat())
    assert (await api.submit(token, march)).status_code == 201
    await identification_table(api.conn, cases[0], 2)
    after = {row["month"]: row["placed_at"] for row in await api.conn.fetch(placed_at)}
    assert after[date(2025, 2, 1)] == before[date(2025, 2, 1)]
    assert after[date(2025, 3, 1)] > before[date(2025, 3, 1)]
    await compare()
