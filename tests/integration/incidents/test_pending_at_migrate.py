"""Reports stored before incident grouping existed (migrations 0001-0002 only) are marked
pending by the migrations and grouped by the folder, which the migration runner runs once the
later migrations are in: into new incidents, or into the stored incidents they are close to,
counted by the statistics cube, exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import h3
import msgspec

from schemas.auth import Principal, Role
from schemas.report import ReportContent, ReportIn, minimise
from storage.accounts import store as accounts
from storage.db.migrations import load_migrations, migrate
from storage.db.pool import connect
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule, classify, report_agency
from storage.reports.receipts import ReceiptSigner
from storage.reports.store import canonical_content, submit_report
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.cube_check import check_cube
from tests.support.helpers import observer_report

FILES = load_migrations()
BEFORE_GROUPING = [m for m in FILES if m.version <= 2]
RULE = GroupingRule(2, timedelta(minutes=90))
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CENTRE = h3.latlng_to_cell(40.7191, -74.0017, 9)
NEXT_DOOR = sorted(h3.grid_ring(CENTRE, 1))[0]
# Three steps from CENTRE and four from NEXT_DOOR: too far for distance 2.
THREE_AWAY = max(sorted(h3.grid_ring(CENTRE, 3)), key=lambda c: h3.grid_distance(NEXT_DOOR, c))
FAR = sorted(h3.grid_ring(CENTRE, 10))[0]
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {**NOT_IDENTIFIED, "verbal": "yes"}
UNCLEAR = {**NOT_IDENTIFIED, "verbal": "unclear"}
PENDING = "select count(*) from reports where fold_pending_since is not null"


@dataclass(frozen=True, slots=True)
class Old:
    """A report as stored before 0003: content, time and cell, no incident."""

    name: str
    cell: str | None
    minutes: int = 0
    status: str = "pending"
    identification: dict[str, str] | None = None


# a, b, g: b is next door 30 min after a; g is in a's cell 70 min after b (100 after a), so
# the three are one incident transitively. f: 91 min after g, outside the window. h: three
# cells away. c: far away. w (withdrawn) and r (rejected) are not counted.
SCENARIO = [
    Old("a", CENTRE, 0),
    Old("b", NEXT_DOOR, 30, "verified", IDENTIFIED),
    Old("g", CENTRE, 100, "unverified"),
    Old("f", CENTRE, 191, identification=UNCLEAR),
    Old("h", THREE_AWAY, 10),
    Old("c", FAR, 10),
    Old("w", None, status="withdrawn"),
    Old("r", CENTRE, 5, "rejected"),
]
EXPECTED_GROUPS = [{"a", "b", "g"}, {"f"}, {"h"}, {"c"}]
INSERT_OLD = """
insert into reports (id, device_id, client_id, kind, status, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content)
values ($1, $2, $3, 'observer_report', $4, now(), $5, 'signature', $6, $7, $8::jsonb)
"""
# After 0003, with the columns its UPDATE derived for old reports, still without an incident.
INSERT_UNGROUPED = """
insert into reports (id, device_id, client_id, kind, status, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content, identification, masked,
                     agencies_claimed, agencies_suspected, agency)
values ($1, $2, $3, 'observer_report', 'pending', now(), $4, 'signature', $5, $6, $7::jsonb,
        $8, $9, $10, $11, $12)
"""


def content_at(cell: str, minutes: int, identification: dict[str, str] | None) -> ReportContent:
    lat, lon = h3.cell_to_latlng(cell)
    body = observer_report(
        location={"lat": lat, "lon": lon, "accuracy_m": 5},
        occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
        identification=identification or NOT_IDENTIFIED,
    )
    return minimise(msgspec.convert(body, ReportIn))


async def insert_old(conn: asyncpg.Connection, device: uuid.UUID, report: Old) -> uuid.UUID:
    report_id = uuid.uuid4()
    at, cell, body = None, None, None
    if report.cell is not None:
        content = content_at(report.cell, report.minutes, report.identification)
        at, cell, body = content.occurred_at, h3.str_to_int(report.cell), canonical_content(content)
    sha = hashlib.sha256(body or b"").hexdigest()
    args = (report_id, device, uuid.uuid4(), report.status, sha, at, cell, body and body.decode())
    await conn.execute(INSERT_OLD, *args)
    return report_id


async def insert_ungrouped(
    conn: asyncpg.Connection, device: uuid.UUID, cell: str, minutes: int
) -> uuid.UUID:
    content = content_at(cell, minutes, None)
    body = canonical_content(content)
    report_id = uuid.uuid4()
    await conn.execute(
        INSERT_UNGROUPED, report_id, device, content.client_id,
        hashlib.sha256(body).hexdigest(), content.occurred_at, h3.str_to_int(cell),
        body.decode(), classify(content.identification), content.agents.masked.value,
        list(content.agents.agencies_claimed), list(content.agents.agencies_suspected),
        report_agency(content.agents),
    )  # fmt: skip
    return report_id


async def submit(conn: asyncpg.Connection, device: uuid.UUID, cell: str, minutes: int) -> int:
    """A report through the normal ingest path; returns its incident."""
    await submit_report(
        conn,
        principal=Principal(id=device, role=Role.observer),
        content=content_at(cell, minutes, None),
        signer=ReceiptSigner.from_seed(TEST_RECEIPT_SEED),
    )
    await fold(conn)
    incident: int = await conn.fetchval(
        "select incident_id from reports order by received_at desc limit 1"
    )
    return incident


async def incident_of(conn: asyncpg.Connection, ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    rows = await conn.fetch(
        "select id, incident_id from reports where id = any($1)", [*ids.values()]
    )
    by_id = {row["id"]: row["incident_id"] for row in rows}
    return {name: by_id[report_id] for name, report_id in ids.items()}


async def facts(conn: asyncpg.Connection, incident: int, scope: str) -> tuple[int, ...]:
    row = await conn.fetchrow(
        "select reports, not_identified, identified, unclear from incident_facts"
        " where incident_id = $1 and scope = $2",
        incident,
        scope,
    )
    assert row is not None, (incident, scope)
    return tuple(row)


async def cube_total(conn: asyncpg.Connection, unit: str, scope: str = "all") -> int:
    """Everything the cube counts for a unit and scope (month rollup by attributes)."""
    total: int = await conn.fetchval(
        "select coalesce(sum(not_identified + identified + unclear), 0) from stats_cube"
        " where rollup = 2 and unit = $1 and scope = $2",
        unit,
        scope,
    )
    return total


async def stored_before_grouping(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    """Migrations 0001-0002 only, and the scenario's reports as they stored them."""
    # As the code of that release migrated: no repeatable definitions (today's need later tables).
    assert await migrate(conn, BEFORE_GROUPING, repeatables=[]) == [1, 2]
    # A device row as migration 0001 stored it (today's insert names later columns).
    device = uuid.uuid4()
    await conn.execute(
        "insert into devices (id, token_hash) values ($1, $2)",
        device,
        hashlib.sha256(device.bytes).digest(),
    )
    return {report.name: await insert_old(conn, device, report) for report in SCENARIO}


async def fold(conn: asyncpg.Connection) -> folder.FoldSummary:
    summary = await folder.fold(conn, RULE, "UTC")
    assert summary is not None
    return summary


async def test_reports_from_before_grouping_are_grouped_and_counted(
    db: asyncpg.Connection,
) -> None:
    ids = await stored_before_grouping(db)
    applied = await migrate(db, grouping=RULE)
    assert applied == [m.version for m in FILES if m.version > 2]
    assert await db.fetchval(PENDING) == 0

    incident = await incident_of(db, ids)
    assert incident["w"] is None  # withdrawn
    assert incident["r"] is None  # rejected
    groups: dict[int, set[str]] = {}
    for name, number in incident.items():
        if number is not None:
            groups.setdefault(number, set()).add(name)
    assert sorted(groups.values(), key=min) == sorted(EXPECTED_GROUPS, key=min)
    assert await db.fetchval("select count(*) from incidents") == 4

    # (reports, not identified, identified, unclear); only b was verified.
    assert await facts(db, incident["a"], "all") == (3, 2, 1, 0)
    assert await facts(db, incident["a"], "verified") == (1, 0, 1, 0)
    assert await facts(db, incident["f"], "all") == (1, 0, 0, 1)
    assert await facts(db, incident["h"], "all") == (1, 1, 0, 0)
    earliest = await db.fetchval(
        "select earliest_report from incident_facts where incident_id = $1 and scope = 'all'",
        incident["a"],
    )
    assert earliest == ids["a"]

    assert (await fold(db)).changes > 0
    assert await cube_total(db, "incident") == 4
    assert await cube_total(db, "report") == 6
    assert await cube_total(db, "report", "verified") == 1
    assert await cube_total(db, "incident", "verified") == 1
    await check_cube(db, "UTC")  # every rollup agrees with the reports and facts


async def test_ungrouped_reports_join_and_bridge_stored_incidents(db: asyncpg.Connection) -> None:
    await migrate(db, grouping=RULE)
    device, _ = await accounts.create_device(db)
    # Two stored incidents four cells apart; a cell two steps from each bridges them.
    east = sorted(h3.grid_ring(CENTRE, 4))[0]
    bridge = sorted(set(h3.grid_disk(CENTRE, 2)) & set(h3.grid_disk(east, 2)))[0]
    west_incident = await submit(db, device, CENTRE, 0)
    east_incident = await submit(db, device, east, 80)
    assert west_incident != east_incident
    await fold(db)

    joins = await insert_ungrouped(db, device, NEXT_DOOR, 20)  # near the west one only
    bridges = await insert_ungrouped(db, device, bridge, 40)
    alone = await insert_ungrouped(db, device, FAR, 40)
    assert (await fold(db)).reports == 3

    survivor = min(west_incident, east_incident)  # the older incident survives, as at ingest
    incident = await incident_of(db, {"joins": joins, "bridges": bridges, "alone": alone})
    assert incident["joins"] == incident["bridges"] == survivor
    assert incident["alone"] not in (None, survivor)
    assert await db.fetchval("select count(distinct incident_id) from reports") == 2
    assert await db.fetchval("select count(*) from incidents") == 2
    assert await facts(db, survivor, "all") == (4, 4, 0, 0)
    await check_cube(db, "UTC")
    assert await cube_total(db, "incident") == 2
    assert await cube_total(db, "report") == 5


async def submitted(
    conn: asyncpg.Connection, device: uuid.UUID, cell: str, minutes: int
) -> tuple[uuid.UUID, int]:
    """A report through the normal ingest path; returns it and its incident."""
    incident = await submit(conn, device, cell, minutes)
    report_id: uuid.UUID = await conn.fetchval(
        "select id from reports order by received_at desc limit 1"
    )
    return report_id, incident


async def test_stored_incident_split_by_the_loaded_period_is_merged_whole(
    db: asyncpg.Connection,
) -> None:
    """Stored incident X = {p, r, q} holds together only through r, which lies outside the
    period around the new reports; so X's nearby reports fall into two components. In one, new
    n1 ties p to y (incident Y, older than X); in the other, n2 ties q to z (incident Z,
    newer). Merged part by part, Y would absorb X while X absorbed Z, and X re-created for
    n2 would keep q and z apart from the rest: every report must end in one incident."""
    await migrate(db, grouping=RULE)
    device, _ = await accounts.create_device(db)
    distance = h3.grid_distance
    p_cell = CENTRE
    q_cell = sorted(h3.grid_ring(p_cell, 4))[0]
    bridge = sorted(set(h3.grid_disk(p_cell, 2)) & set(h3.grid_disk(q_cell, 2)))[0]
    y_cell = max(sorted(h3.grid_ring(p_cell, 1)), key=lambda c: distance(q_cell, c))
    z_cell = max(sorted(h3.grid_ring(q_cell, 1)), key=lambda c: distance(p_cell, c))
    near_p = sorted(set(h3.grid_ring(p_cell, 1)) & set(h3.grid_ring(y_cell, 1)))
    n1_cell = max(near_p, key=lambda c: distance(q_cell, c))
    n2_cell = q_cell
    # The distances the scenario relies on (the rule's distance is 2).
    assert distance(p_cell, q_cell) == 4  # p and q connect only through r
    assert max(distance(bridge, p_cell), distance(bridge, q_cell)) <= 2
    assert distance(y_cell, p_cell) <= 2 < distance(y_cell, q_cell)
    assert distance(z_cell, q_cell) <= 2 < distance(z_cell, p_cell)
    assert distance(y_cell, z_cell) > 2  # y and z, at the same time, stay apart
    assert max(distance(n1_cell, p_cell), distance(n1_cell, y_cell)) <= 2
    assert min(distance(n1_cell, q_cell), distance(n1_cell, z_cell)) > 2
    assert max(distance(n2_cell, q_cell), distance(n2_cell, z_cell)) <= 2
    assert min(distance(n2_cell, p_cell), distance(n2_cell, y_cell)) > 2
    assert distance(n1_cell, n2_cell) > 2

    # Minutes from T0. y is 170 after p (beyond the 90-minute window): its own incident,
    # submitted first so that it is the oldest. r, 80 before p and q, joins both to p's.
    y, y_incident = await submitted(db, device, y_cell, 170)
    p, x_incident = await submitted(db, device, p_cell, 0)
    r, r_incident = await submitted(db, device, bridge, -80)
    q, q_incident = await submitted(db, device, q_cell, 0)
    z, z_incident = await submitted(db, device, z_cell, 170)
    assert r_incident == q_incident == x_incident
    assert y_incident < x_incident < z_incident
    assert await db.fetchval("select count(*) from incidents") == 3
    await fold(db)

    # Both at +85: r lies outside [-5, +175], the period around them.
    n1 = await insert_ungrouped(db, device, n1_cell, 85)  # 85 after p, 85 before y
    n2 = await insert_ungrouped(db, device, n2_cell, 85)  # 85 after q, 85 before z
    assert (await fold(db)).reports == 2

    names = {"y": y, "p": p, "r": r, "q": q, "z": z, "n1": n1, "n2": n2}
    assert await incident_of(db, names) == dict.fromkeys(names, y_incident)
    assert await db.fetchval("select count(distinct incident_id) from reports") == 1
    assert [row["id"] for row in await db.fetch("select id from incidents")] == [y_incident]
    assert await facts(db, y_incident, "all") == (7, 7, 0, 0)
    await check_cube(db, "UTC")
    assert await cube_total(db, "incident") == 1
    assert await cube_total(db, "report") == 7


async def test_migrating_again_groups_nothing(db: asyncpg.Connection) -> None:
    await stored_before_grouping(db)
    await migrate(db, grouping=RULE)
    await fold(db)
    before = await db.fetch("select id, incident_id, counted from reports order by id")
    assert await migrate(db, grouping=RULE) == []
    assert (await fold(db)).reports == 0
    assert await db.fetch("select id, incident_id, counted from reports order by id") == before
    assert await db.fetchval("select count(*) from stats_changes") == 0
    # Nothing pending: the folder's check is answered from the (empty) partial index.
    async with db.transaction():
        await db.execute("set local enable_seqscan = off")
        plan = "\n".join(row[0] for row in await db.fetch("explain " + folder.NEEDS_FOLD, "UTC"))
    assert "reports_fold_pending_idx" in plan


async def test_runners_starting_together_group_each_report_once(
    db: asyncpg.Connection, empty_database: str
) -> None:
    ids = await stored_before_grouping(db)
    runners = [await connect(empty_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(conn, grouping=RULE) for conn in runners))
    finally:
        for conn in runners:
            await conn.close()
    assert sorted(map(len, results)) == [0, 0, len(FILES) - 2]
    assert await db.fetchval(PENDING) == 0
    assert await db.fetchval("select count(*) from reports where counted > 0") == 6
    incident = await incident_of(db, ids)
    assert len({incident[name] for name in ("a", "b", "g")}) == 1
    assert await db.fetchval("select count(*) from incidents") == 4
    await check_cube(db, "UTC")
