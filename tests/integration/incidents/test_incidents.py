"""Incident grouping by the folder, re-evaluation on withdrawal, and per-incident facts.

The rule (API contract, "Statistics and exports"): two reports are one incident when their H3
res-9 cells are within grid distance 2 and their times differ by at most 90 minutes,
transitively. Positions are built with the h3 library from chosen cells, so every expected
grouping below follows from the rule by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import h3
import httpx
import pytest

from schemas.auth import Role
from storage.db.pool import connect
from tests.support.assertions import devices
from tests.support.helpers import Api, bearer, fold_now, observer_report, officer_note

ORIGIN = h3.latlng_to_cell(40.7191, -74.0017, 9)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"}
UNCLEAR = {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"}


def ring_cell(centre: str, distance: int, index: int = 0) -> str:
    cell: str = sorted(h3.grid_ring(centre, distance))[index]
    return cell


def report_at(cell: str, minutes: float = 0, **overrides: Any) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    when = T0 + timedelta(minutes=minutes)
    return observer_report(
        location={"lat": lat, "lon": lon, "accuracy_m": 10},
        occurred_at=when.isoformat(),
        **overrides,
    )


async def submit(api: Api, token: str, body: dict[str, Any]) -> str:
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def incident_of(conn: asyncpg.Connection, report_id: str) -> int | None:
    value: int | None = await conn.fetchval(
        "select incident_id from reports where id = $1", uuid.UUID(report_id)
    )
    return value


async def facts(conn: asyncpg.Connection, incident_id: int | None) -> asyncpg.Record:
    row = await conn.fetchrow(
        "select * from incident_facts where incident_id = $1 and scope = 'all'", incident_id
    )
    assert row is not None
    return row


async def incident_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("select count(*) from incidents")
    return count


@pytest.fixture
async def token(api: Api) -> str:
    return await api.device_token()


# --- the rule ----------------------------------------------------------------------------


async def test_reports_two_cells_apart_within_90_minutes_are_one_incident(
    api: Api, token: str
) -> None:
    first = await submit(api, token, report_at(ORIGIN))
    second = await submit(api, token, report_at(ring_cell(ORIGIN, 2), minutes=90))
    assert await incident_of(api.conn, first) == await incident_of(api.conn, second)
    assert await incident_count(api.conn) == 1


async def test_three_cells_apart_is_another_incident(api: Api, token: str) -> None:
    first = await submit(api, token, report_at(ORIGIN))
    second = await submit(api, token, report_at(ring_cell(ORIGIN, 3)))
    assert await incident_of(api.conn, first) != await incident_of(api.conn, second)
    assert await incident_count(api.conn) == 2


async def test_more_than_90_minutes_apart_is_another_incident(api: Api, token: str) -> None:
    first = await submit(api, token, report_at(ORIGIN))
    later = await submit(api, token, report_at(ORIGIN, minutes=91))
    earlier = await submit(api, token, report_at(ORIGIN, minutes=-91))
    incidents = {await incident_of(api.conn, r) for r in (first, later, earlier)}
    assert len(incidents) == 3


async def test_a_late_arriving_earlier_report_joins_too(api: Api, token: str) -> None:
    first = await submit(api, token, report_at(ORIGIN, minutes=60))
    earlier = await submit(api, token, report_at(ring_cell(ORIGIN, 1), minutes=0))
    assert await incident_of(api.conn, first) == await incident_of(api.conn, earlier)
    row = await facts(api.conn, await incident_of(api.conn, first))
    # The incident's time and area are those of its earliest report.
    assert row["earliest_at"] == T0
    assert h3.int_to_str(row["h3_cell"]) == ring_cell(ORIGIN, 1)
    assert row["earliest_report"] == uuid.UUID(earlier)


async def test_a_report_bridging_two_incidents_merges_them(api: Api, token: str) -> None:
    far = ring_cell(ORIGIN, 4)
    west = await submit(api, token, report_at(ORIGIN))
    east = await submit(api, token, report_at(far, minutes=80))
    assert await incident_of(api.conn, west) != await incident_of(api.conn, east)
    # A cell within 2 of both, 40 minutes after the first: close to each of them.
    bridge_cell = sorted(set(h3.grid_disk(ORIGIN, 2)) & set(h3.grid_disk(far, 2)))[0]
    bridge = await submit(api, token, report_at(bridge_cell, minutes=40))
    incidents = {await incident_of(api.conn, r) for r in (west, east, bridge)}
    assert len(incidents) == 1
    assert await incident_count(api.conn) == 1
    assert (await facts(api.conn, incidents.pop()))["reports"] == 3


async def test_transitive_chain_in_time(api: Api, token: str) -> None:
    # 0 -> 80 -> 160 minutes: the ends are 160 minutes apart but linked through the middle.
    ids = [await submit(api, token, report_at(ORIGIN, minutes=m)) for m in (0, 160, 80)]
    assert len({await incident_of(api.conn, r) for r in ids}) == 1


# --- withdrawal re-evaluates ------------------------------------------------------------


async def test_withdrawing_the_bridge_splits_the_incident(api: Api, token: str) -> None:
    far = ring_cell(ORIGIN, 4)
    bridge_cell = sorted(set(h3.grid_disk(ORIGIN, 2)) & set(h3.grid_disk(far, 2)))[0]
    west = await submit(api, token, report_at(ORIGIN))
    bridge = await submit(api, token, report_at(bridge_cell, minutes=40))
    east = await submit(api, token, report_at(far, minutes=80))
    assert await incident_of(api.conn, west) == await incident_of(api.conn, east)

    response = await api.client.delete(f"/v1/reports/{bridge}", headers=bearer(token))
    assert response.status_code == 204, response.text
    west_incident = await incident_of(api.conn, west)
    east_incident = await incident_of(api.conn, east)
    assert west_incident != east_incident
    assert await incident_of(api.conn, bridge) is None
    assert await incident_count(api.conn) == 2
    assert (await facts(api.conn, west_incident))["reports"] == 1
    assert (await facts(api.conn, east_incident))["earliest_at"] == T0 + timedelta(minutes=80)


async def test_withdrawing_the_only_report_removes_the_incident(api: Api, token: str) -> None:
    report = await submit(api, token, report_at(ORIGIN))
    response = await api.client.delete(f"/v1/reports/{report}", headers=bearer(token))
    assert response.status_code == 204
    assert await incident_count(api.conn) == 0
    # What is left is a tombstone: no reports, kept until the statistics cube folds it out.
    assert await api.conn.fetchval("select count(*) from incident_facts where reports > 0") == 0


async def test_withdrawing_the_earliest_report_moves_the_incident_time(
    api: Api, token: str
) -> None:
    first = await submit(api, token, report_at(ORIGIN, minutes=0))
    second = await submit(api, token, report_at(ring_cell(ORIGIN, 1), minutes=30))
    incident = await incident_of(api.conn, second)
    await api.client.delete(f"/v1/reports/{first}", headers=bearer(token))
    row = await facts(api.conn, incident)
    assert row["reports"] == 1
    assert row["earliest_at"] == T0 + timedelta(minutes=30)
    assert h3.int_to_str(row["h3_cell"]) == ring_cell(ORIGIN, 1)


async def test_a_withdrawn_report_is_never_a_grouping_candidate(api: Api, token: str) -> None:
    gone = await submit(api, token, report_at(ORIGIN))
    await api.client.delete(f"/v1/reports/{gone}", headers=bearer(token))
    fresh = await submit(api, token, report_at(ORIGIN, minutes=5))
    assert await incident_of(api.conn, fresh) is not None
    assert (await facts(api.conn, await incident_of(api.conn, fresh)))["reports"] == 1


async def test_a_replayed_report_does_not_count_twice(api: Api, token: str) -> None:
    body = report_at(ORIGIN)
    await submit(api, token, body)
    replay = await api.submit(token, body)
    assert replay.status_code == 200
    assert await api.conn.fetchval("select sum(reports) from incident_facts") == 1
    cube = "select sum(not_identified + identified + unclear) from stats_cube where rollup = 5"
    assert await api.conn.fetchval(cube + " and unit = 'report' and scope = 'all'") == 1


# --- classification and the incident's dimensions ----------------------------------------


@pytest.mark.parametrize(
    ("identifications", "expected"),
    [
        ([NOT_IDENTIFIED], "not_identified"),
        ([IDENTIFIED], "identified"),
        ([UNCLEAR], "unclear"),
        ([NOT_IDENTIFIED, NOT_IDENTIFIED, IDENTIFIED], "not_identified"),
        ([NOT_IDENTIFIED, IDENTIFIED], "unclear"),  # a tie
        ([NOT_IDENTIFIED, IDENTIFIED, UNCLEAR], "unclear"),  # a three-way tie
        ([IDENTIFIED, IDENTIFIED, UNCLEAR, NOT_IDENTIFIED], "identified"),
        ([UNCLEAR, UNCLEAR, NOT_IDENTIFIED], "unclear"),
        # badge shown alone identifies; "no" to all three is needed for not identified
        ([{"verbal": "no", "badge_shown": "yes", "insignia_visible": "unclear"}], "identified"),
        ([{"verbal": "no", "badge_shown": "no", "insignia_visible": "unclear"}], "unclear"),
    ],
)
async def test_incident_classification_is_the_plurality_of_its_reports(
    api: Api, token: str, identifications: list[dict[str, str]], expected: str
) -> None:
    ids = [
        await submit(
            api,
            token,
            report_at(
                ORIGIN,
                minutes=i,
                identification={**answers, "asked": "no", "response_when_asked": None},
            ),
        )
        for i, answers in enumerate(identifications)
    ]
    row = await facts(api.conn, await incident_of(api.conn, ids[0]))
    assert row["reports"] == len(identifications)
    assert row["classification"] == expected


@pytest.mark.parametrize(
    ("agencies", "expected"),
    [
        ([(["ICE"], [])], "ICE"),
        ([(["ICE"], []), (["CBP"], []), (["CBP"], [])], "CBP"),
        ([([], ["FBI"]), (["DEA"], [])], "DEA"),  # claimed beats suspected
        ([([], ["FBI"]), ([], ["FBI", "HSI"]), ([], ["HSI"])], "FBI"),  # tie: byte order
        ([([], [])], "unknown"),
        ([(["unknown"], ["unknown"])], "unknown"),
        ([(["unknown"], ["USMS"])], "USMS"),
    ],
)
async def test_primary_agency(
    api: Api, token: str, agencies: list[tuple[list[str], list[str]]], expected: str
) -> None:
    ids = []
    for i, (claimed, suspected) in enumerate(agencies):
        agents = {"agencies_claimed": claimed, "agencies_suspected": suspected}
        ids.append(await submit(api, token, report_at(ORIGIN, minutes=i, agents=agents)))
    # The fold of the statistics works the agency out (off the ingest path).
    await api.conn.execute("select fold_statistics('UTC')")
    agency = await api.conn.fetchval(
        "select agency from stats_folded where incident_id = $1 and scope = 'all'",
        await incident_of(api.conn, ids[0]),
    )
    assert agency == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["unknown"], "unknown"),
        (["unknown", "none"], "none"),
        (["all", "none"], "all"),  # a tie goes towards more masking
        (["some", "none", "none"], "none"),
        (["some", "some", "all"], "some"),
    ],
)
async def test_masked_is_the_most_often_reported_known_value(
    api: Api, token: str, values: list[str], expected: str
) -> None:
    ids = [
        await submit(api, token, report_at(ORIGIN, minutes=i, agents={"masked": masked}))
        for i, masked in enumerate(values)
    ]
    assert (await facts(api.conn, await incident_of(api.conn, ids[0])))["masked"] == expected


async def test_kind_is_that_of_the_earliest_report(api: Api, token: str) -> None:
    officer = await api.account_token(Role.officer)
    lat, lon = h3.cell_to_latlng(ORIGIN)
    note = officer_note(
        location={"lat": lat, "lon": lon}, occurred_at=(T0 - timedelta(minutes=5)).isoformat()
    )
    await submit(api, officer, note)
    observer = await submit(api, token, report_at(ORIGIN))
    row = await facts(api.conn, await incident_of(api.conn, observer))
    assert (row["kind"], row["reports"]) == ("officer_note", 2)


# --- concurrency --------------------------------------------------------------------------


async def _incidents(dsn: str) -> list[asyncpg.Record]:
    """Incidents and their sizes, once the folder has taken in everything committed (the
    service's own loop may be folding at the same time: the lock orders them)."""
    conn = await connect(dsn)
    try:
        await fold_now(conn)
        return list(
            await conn.fetch(
                "select incident_id, count(*) as n from reports"
                " where incident_id is not null group by incident_id"
            )
        )
    finally:
        await conn.close()


async def test_simultaneous_reports_of_one_event_end_in_one_incident(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    client, dsn = pooled_client
    tokens = await devices(client, 12)
    for attempt in range(3):
        cells = [ORIGIN, *h3.grid_ring(ORIGIN, 1), *h3.grid_ring(ORIGIN, 2)][:12]
        bodies = [report_at(cell, minutes=i - attempt * 1000) for i, cell in enumerate(cells)]
        responses = await asyncio.gather(
            *(
                client.post("/v1/reports", json=body, headers=bearer(tok))
                for body, tok in zip(bodies, tokens, strict=True)
            )
        )
        assert [r.status_code for r in responses] == [201] * 12
    groups = await _incidents(dsn)
    assert sorted(row["n"] for row in groups) == [12, 12, 12]


async def test_a_chain_sent_all_at_once_still_ends_in_one_incident(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    """Reports along a line, each close only to its neighbours, arrive concurrently and in
    scrambled order: whatever the interleaving, transitivity makes them one incident."""
    client, dsn = pooled_client
    line = h3.grid_path_cells(ORIGIN, ring_cell(ORIGIN, 24))
    chain = line[::2]  # two steps apart: each links only to the next
    order = list(range(len(chain)))
    order = order[::3] + order[1::3] + order[2::3]
    tokens = await devices(client, len(chain))
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/reports", json=report_at(chain[i], minutes=i * 20), headers=bearer(tok)
            )
            for i, tok in zip(order, tokens, strict=True)
        )
    )
    assert {r.status_code for r in responses} == {201}
    groups = await _incidents(dsn)
    assert [row["n"] for row in groups] == [len(chain)]
    conn = await connect(dsn)
    try:
        assert await conn.fetchval("select count(*) from incidents") == 1
        facts_sql = "select reports from incident_facts where reports > 0"
        assert await conn.fetchval(facts_sql) == len(chain)
    finally:
        await conn.close()


async def test_concurrent_withdrawals_and_submissions_leave_consistent_incidents(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    client, dsn = pooled_client
    tokens = await devices(client, 8)
    first = [
        (
            await client.post("/v1/reports", json=report_at(ORIGIN, minutes=i), headers=bearer(t))
        ).json()["id"]
        for i, t in enumerate(tokens)
    ]
    withdrawals = [
        client.delete(f"/v1/reports/{rid}", headers=bearer(t))
        for rid, t in zip(first[::2], tokens[::2], strict=True)
    ]
    submissions = [
        client.post(
            "/v1/reports", json=report_at(ring_cell(ORIGIN, 1), minutes=i), headers=bearer(t)
        )
        for i, t in enumerate(tokens)
    ]
    responses = await asyncio.gather(*withdrawals, *submissions)
    assert {r.status_code for r in responses} <= {201, 204}
    conn = await connect(dsn)
    try:
        await fold_now(conn)
        counted = await conn.fetchval("select count(*) from reports where incident_id is not null")
        assert counted == 8 - 4 + 8
        # Facts agree with the reports they summarise, and no incident is empty.
        mismatches = await conn.fetchval(
            """
            select count(*) from incidents i
            full join (select * from incident_facts where reports > 0) f
                   on f.incident_id = i.id and f.scope = 'all'
            left join (select incident_id, count(*) as n from reports
                       where incident_id is not null group by incident_id) r
                   on r.incident_id = i.id
            where f.reports is distinct from r.n
            """
        )
        assert mismatches == 0
        assert await conn.fetchval("select count(*) from incidents") == 1
    finally:
        await conn.close()
