"""``plainsight import``: the same validation and minimisation as the API, idempotent on
client_id, grouped by the folder as live reports are, rejected lines named, nothing
half-imported, one plain line on failure."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import h3
import msgspec
import pytest

from api.app import apply_migrations
from api.tasks.stats_folding import background_folding
from schemas.auth import Principal, Role
from schemas.codes import ReportStatus
from schemas.report import ReportIn, minimise
from storage.accounts import store as accounts
from storage.db.pool import PooledDatabase, connect
from storage.incidents import folder
from storage.incidents.bulk_grouping import components, microseconds
from storage.incidents.grouping import GroupingRule
from storage.reports.bulk_import import ImportSummary, import_reports
from storage.reports.receipts import ReceiptSigner
from storage.reports.store import submit_report
from tests.support.cli import cli_environment, run_cli
from tests.support.cube_check import check_cube
from tests.support.helpers import PASSWORD, Api, bearer, fold_now, observer_report

CENTRE = h3.latlng_to_cell(40.7191, -74.0017, 9)
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
RULE = GroupingRule(2, timedelta(minutes=90))


def at(cell: str, minutes: int = 0, **overrides: Any) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    return observer_report(
        location={"lat": lat, "lon": lon, "accuracy_m": 5},
        occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
        **overrides,
    )


def ndjson(path: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    with path.open("w") as out:
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


async def importer(conn: asyncpg.Connection) -> uuid.UUID:
    account = await accounts.create_account(
        conn, email=f"steward-{uuid.uuid4().hex[:6]}@example.org", role=Role.admin,
        password=PASSWORD,
    )  # fmt: skip
    return account.id


async def run_import(conn: asyncpg.Connection, path: Path, account_id: uuid.UUID) -> ImportSummary:
    with ThreadPoolExecutor(2) as executor:
        return await import_reports(
            conn, path, account_id=account_id, grouping=RULE, time_zone="UTC", executor=executor
        )


async def incidents_by_client(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("select client_id, incident_id from reports")
    return {str(row["client_id"]): row["incident_id"] for row in rows}


async def test_valid_lines_are_imported_grouped_and_minimised(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    far = sorted(h3.grid_ring(CENTRE, 5))[0]
    lines = [
        at(CENTRE),
        at(sorted(h3.grid_ring(CENTRE, 2))[0], minutes=60),  # same incident as line 1
        at(far),  # alone
        at(CENTRE, minutes=60 + 90),  # linked to line 2 in time, two cells away: same
    ]
    account = await importer(conn)
    summary = await run_import(conn, ndjson(tmp_path / "in.ndjson", lines), account)
    assert (summary.lines, summary.imported, summary.rejected) == (4, 4, 0)
    assert (summary.incidents, summary.merged) == (2, 0)
    incident = await incidents_by_client(conn)
    ids = [incident[line["client_id"]] for line in lines]
    assert ids[0] == ids[1] == ids[3] != ids[2]
    rows = await conn.fetch("select * from reports")
    for row in rows:
        assert row["account_id"] == account
        assert row["device_id"] is None
        assert row["receipt_signature"] is None  # nobody to hand a receipt to
        content = json.loads(row["content"])
        assert not {"lat", "lon"} & set(content["location"])
        assert content["location"]["h3_cell"] in {CENTRE, far, *h3.grid_ring(CENTRE, 2)}
    facts = await conn.fetchval(
        "select reports from incident_facts where incident_id = $1 and scope = 'all'", ids[0]
    )
    assert facts == 3
    await check_cube(conn, "UTC")


async def test_rejected_lines_are_named_and_the_rest_imported(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    good = at(CENTRE)
    future = at(CENTRE)
    future["occurred_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    lines: list[dict[str, Any] | str] = [
        good,
        "{not json",
        at(CENTRE, agents={"masked": "sometimes"}),
        "",
        future,
        {**at(CENTRE), "location": {"lat": 123.0, "lon": 0.0}},
        {**at(CENTRE), "immigration_status": "x"},
        {**at(CENTRE, minutes=5), "client_id": good["client_id"]},
    ]
    account = await importer(conn)
    summary = await run_import(conn, ndjson(tmp_path / "in.ndjson", lines), account)
    assert (summary.imported, summary.rejected) == (1, 6)
    reasons = {item.line: item.reason for item in summary.reasons}
    assert sorted(reasons) == [2, 3, 5, 6, 7, 8]
    assert "$.agents.masked" in reasons[3]
    assert "future" in reasons[5]
    assert "$.location.lat" in reasons[6]
    assert "immigration_status" in reasons[7]
    assert reasons[8] == "client_id repeats line 1"
    assert await conn.fetchval("select count(*) from reports") == 1


async def test_importing_again_changes_nothing(conn: asyncpg.Connection, tmp_path: Path) -> None:
    lines = [at(CENTRE, minutes=m) for m in (0, 30, 400)]
    path = ndjson(tmp_path / "in.ndjson", lines)
    account = await importer(conn)
    first = await run_import(conn, path, account)
    before = await incidents_by_client(conn)
    again = await run_import(conn, path, account)
    assert (first.imported, again.imported, again.already_present) == (3, 0, 3)
    assert await incidents_by_client(conn) == before
    # The same client_id with other content is refused, not overwritten.
    changed = {**lines[0], "narrative": "Something else."}
    third = await run_import(conn, ndjson(tmp_path / "changed.ndjson", [changed]), account)
    assert (third.imported, third.rejected) == (0, 1)
    assert "different content" in third.reasons[0].reason
    await check_cube(conn, "UTC")


async def test_an_import_bridging_stored_incidents_merges_them(api: Api, tmp_path: Path) -> None:
    token = await api.device_token()
    far = sorted(h3.grid_ring(CENTRE, 4))[0]
    bridge = sorted(set(h3.grid_disk(CENTRE, 2)) & set(h3.grid_disk(far, 2)))[0]
    west = await api.submit(token, at(CENTRE))
    east = await api.submit(token, at(far, minutes=80))
    west_id, east_id = west.json()["id"], east.json()["id"]
    stored = {
        row["id"]: row["incident_id"]
        for row in await api.conn.fetch("select id, incident_id from reports")
    }
    assert len(set(stored.values())) == 2
    account = await importer(api.conn)
    summary = await run_import(
        api.conn, ndjson(tmp_path / "in.ndjson", [at(bridge, minutes=40)]), account
    )
    assert (summary.imported, summary.incidents, summary.merged) == (1, 0, 1)
    after = await incidents_by_client(api.conn)
    assert len(set(after.values())) == 1
    assert set(after.values()) == {min(stored.values())}  # the older incident survives
    assert await api.conn.fetchval("select count(*) from incidents") == 1
    # The merged incident reads as one in the statistics, and the cube agrees.
    await check_cube(api.conn, "UTC")
    researcher = bearer(await api.account_token(Role.researcher))
    stats = await api.client.get("/v1/stats/identification?unit=report", headers=researcher)
    assert stats.json()["rows"] == [] or stats.json()["rows"][0]["suppressed"]
    assert west_id != east_id


async def test_a_verified_import_bridging_stored_incidents_counts_in_both_scopes(
    api: Api, tmp_path: Path
) -> None:
    token = await api.device_token()
    far = sorted(h3.grid_ring(CENTRE, 4))[0]
    bridge = sorted(set(h3.grid_disk(CENTRE, 2)) & set(h3.grid_disk(far, 2)))[0]
    await api.submit(token, at(CENTRE))
    await api.submit(token, at(far, minutes=80))
    account = await importer(api.conn)
    with ThreadPoolExecutor(2) as executor:
        summary = await import_reports(
            api.conn, ndjson(tmp_path / "in.ndjson", [at(bridge, minutes=40)]),
            account_id=account, grouping=RULE, time_zone="UTC", executor=executor,
            status=ReportStatus.VERIFIED,
        )  # fmt: skip
    assert (summary.imported, summary.incidents, summary.merged) == (1, 0, 1)
    incidents = await api.conn.fetch("select incident_id, scope, reports from incident_facts")
    assert sorted((row["scope"], row["reports"]) for row in incidents) == [
        ("all", 3),
        ("verified", 1),
    ]
    await check_cube(api.conn, "UTC")


async def test_reports_submitted_before_an_import_are_folded_with_it(
    api: Api, tmp_path: Path
) -> None:
    # Submitted, not folded yet when the import takes the folder's lock: the import's fold
    # takes them in, and they join the imported report's incident.
    token = await api.device_token()
    live = await api.submit(token, at(CENTRE, minutes=30), fold=False)
    assert live.status_code == 201
    account = await importer(api.conn)
    summary = await run_import(api.conn, ndjson(tmp_path / "in.ndjson", [at(CENTRE)]), account)
    assert (summary.imported, summary.incidents) == (1, 1)
    assert (
        await api.conn.fetchval("select count(*) from reports where fold_pending_since is not null")
        == 0
    )
    assert len(set((await incidents_by_client(api.conn)).values())) == 1
    # The imported reports were stored folded: the folder has nothing left to do.
    folded = await folder.fold(api.conn, RULE, "UTC")
    assert folded is not None
    assert folded.reports == 0
    await check_cube(api.conn, "UTC")


async def test_an_import_over_stored_reports_groups_as_the_rule_does_from_scratch(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # Half the reports arrive live (stored pending, grouped by the folder's batches), the
    # other half by import (grouped before they are stored): the incidents must be the
    # rule's connected components over all of them, computed here from scratch.
    rng = random.Random(7)
    cells = sorted(h3.grid_disk(CENTRE, 5))
    lines = [at(rng.choice(cells), minutes=rng.randrange(0, 60 * 48)) for _ in range(300)]
    device_id, _ = await accounts.create_device(conn)
    principal = Principal(id=device_id, role=Role.observer)
    signer = ReceiptSigner(os.urandom(32))
    for body in lines[::2]:
        content = minimise(msgspec.convert(body, ReportIn))
        await submit_report(conn, principal=principal, content=content, signer=signer)
    await fold_now(conn, RULE)
    account = await importer(conn)
    summary = await run_import(conn, ndjson(tmp_path / "in.ndjson", lines[1::2]), account)
    assert summary.imported == 150
    rows = await conn.fetch("select incident_id, h3_cell, occurred_at from reports order by id")
    expected = components(
        [row["h3_cell"] for row in rows],
        [microseconds(row["occurred_at"]) for row in rows],
        RULE.distance,
        microseconds(RULE.window),
    ).tolist()
    # Same partition: two reports share an incident exactly when they share a component.
    pairs = {(row["incident_id"], label) for row, label in zip(rows, expected, strict=True)}
    assert len(pairs) == len({incident for incident, _ in pairs}) == len(set(expected))
    assert summary.merged > 0  # the scenario bridged stored incidents
    await check_cube(conn, "UTC")


async def test_text_needing_escapes_is_stored_as_the_api_stores_it(
    api: Api, tmp_path: Path
) -> None:
    # The import ships rows to COPY in its text format, where a backslash is an escape and
    # a tab or newline ends a field: a narrative full of them must arrive byte for byte.
    narrative = 'C:\\temp\\ \\N "quoted"\ttab\nnew line \\\\ é \u2013 🚐 \\t'
    report = at(CENTRE, narrative=narrative)
    token = await api.device_token()
    assert (await api.submit(token, report)).status_code == 201
    account = await importer(api.conn)
    summary = await run_import(api.conn, ndjson(tmp_path / "in.ndjson", [report]), account)
    assert (summary.imported, summary.rejected) == (1, 0)
    rows = await api.conn.fetch(
        "select content::text as content, payload_sha256, device_id from reports"
    )
    assert len(rows) == 2  # the same client_id, one per owner
    assert rows[0]["content"] == rows[1]["content"]
    assert rows[0]["payload_sha256"] == rows[1]["payload_sha256"]
    assert json.loads(rows[0]["content"])["narrative"] == narrative


REPORTS_SCHEMA = """
select 'index ' || indexdef from pg_indexes where tablename = 'reports'
union all
select 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated
from pg_constraint where conrelid = 'reports'::regclass
order by 1
"""


async def test_large_and_small_imports_leave_the_reports_table_as_it_was(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # An import larger than what is stored drops the plain indexes and foreign keys and
    # builds them again; a smaller one maintains them row by row. Either way the table
    # must end with the same indexes and (validated) constraints.
    before = await conn.fetch(REPORTS_SCHEMA)
    account = await importer(conn)
    first = [at(CENTRE, minutes=m * 200) for m in range(5)]
    second = [at(CENTRE, minutes=2_000 + m * 200) for m in range(2)]
    steps: list[list[str]] = []
    for number, lines in enumerate((first, second)):
        phases: list[str] = []
        with ThreadPoolExecutor(2) as executor:
            summary = await import_reports(
                conn, ndjson(tmp_path / f"{number}.ndjson", lines), account_id=account,
                grouping=RULE, time_zone="UTC", executor=executor, phase=phases.append,
            )  # fmt: skip
        assert summary.imported == len(lines)
        steps.append(phases)
        assert await conn.fetch(REPORTS_SCHEMA) == before
    rebuilt = [any("building" in phase for phase in phases) for phases in steps]
    assert rebuilt == [True, False]
    assert await conn.fetchval("select count(*) from reports") == 7
    # The unique index came back (a client_id cannot be stored twice for one owner), and so
    # did the foreign key to accounts.
    for error, values in (
        (asyncpg.UniqueViolationError, "select gen_random_uuid(), account_id, client_id"),
        (
            asyncpg.ForeignKeyViolationError,
            "select gen_random_uuid(), gen_random_uuid(), client_id",
        ),
    ):
        with pytest.raises(error):
            async with conn.transaction():
                await conn.execute(
                    "insert into reports (id, account_id, client_id, kind, received_at,"
                    f" payload_sha256) {values}, kind, now(), 'x' from reports limit 1"
                )
    await check_cube(conn, "UTC")


async def test_a_failure_midway_leaves_nothing_behind(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    lines = [at(CENTRE, minutes=m * 200) for m in range(30)]
    path = ndjson(tmp_path / "in.ndjson", lines)
    account = await importer(conn)

    class FailingSecondChunk(ThreadPoolExecutor):
        calls = 0

        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            self.calls += 1
            if self.calls == 2:
                raise OSError("disk went away")
            return super().submit(fn, *args, **kwargs)

    import storage.reports.bulk_import as bulk

    original = bulk.CHUNK_LINES
    bulk.CHUNK_LINES = 10  # type: ignore[misc]
    try:
        with FailingSecondChunk(1) as executor, pytest.raises(OSError, match="went away"):
            await import_reports(
                conn, path, account_id=account, grouping=RULE, time_zone="UTC",
                executor=executor,
            )  # fmt: skip
    finally:
        bulk.CHUNK_LINES = original  # type: ignore[misc]
    assert await conn.fetchval("select count(*) from reports") == 0
    assert await conn.fetchval("select count(*) from incidents") == 0


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
async def migrated_database(empty_database: str) -> str:
    await apply_migrations(empty_database)
    return empty_database


async def test_the_command_imports_and_summarises(migrated_database: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = await connect(migrated_database)
    try:
        await accounts.create_account(
            conn, email="steward@example.org", role=Role.moderator, password=PASSWORD
        )
        await accounts.create_account(
            conn, email="officer@example.org", role=Role.officer, password=PASSWORD
        )
    finally:
        await conn.close()
    path = ndjson(tmp_path / "log.ndjson", [at(CENTRE), "[]", at(CENTRE, minutes=10)])
    env = cli_environment(data, migrated_database)
    result = await run_cli("import", str(path), "--account", "steward@example.org", env=env)
    assert result.returncode == 1, result.stderr  # one line was rejected
    assert "3 lines: 2 reports imported as pending into 1 new incidents" in result.stdout
    assert "1 rejected" in result.stdout
    assert "line 2:" in result.stderr
    assert "validating" in result.stderr  # the progress bar
    refused = await run_cli("import", str(path), "--account", "officer@example.org", env=env)
    assert refused.returncode == 2
    assert "not an active admin or moderator" in refused.stderr
    missing = await run_cli("import", str(tmp_path / "nope"), "--account", "x@y.z", env=env)
    assert missing.returncode == 2
    conn = await connect(migrated_database)
    try:
        assert await conn.fetchval("select count(*) from reports") == 2
    finally:
        await conn.close()


async def test_a_failing_import_says_so_in_one_line_and_imports_nothing(
    migrated_database: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = await connect(migrated_database)
    try:
        await accounts.create_account(
            conn, email="steward@example.org", role=Role.moderator, password=PASSWORD
        )
        # The database refuses the insert midway (a full disk, say).
        await conn.execute(
            """
            create function refuse() returns trigger language plpgsql as $$
            begin raise exception 'could not extend file: No space left on device'; end $$;
            create trigger refuse before insert on reports for each statement
            execute function refuse();
            """
        )
    finally:
        await conn.close()
    path = ndjson(tmp_path / "log.ndjson", [at(CENTRE), at(CENTRE, minutes=10)])
    env = cli_environment(data, migrated_database)
    result = await run_cli("import", str(path), "--account", "steward@example.org", env=env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("plainsight:")]
    assert lines == [
        "plainsight: the import failed and nothing was imported (could not extend file: No"
        " space left on device); fix the cause and run it again"
    ]
    # The traceback is in the structured log (one JSON line), not printed at the operator.
    assert not any(line.startswith("Traceback") for line in result.stderr.splitlines())
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("message") == "import failed" for entry in logged), result.stderr
    conn = await connect(migrated_database)
    try:
        assert await conn.fetchval("select count(*) from reports") == 0
    finally:
        await conn.close()


async def test_a_large_import_while_the_service_folds_and_ingests(
    migrated_database: str, tmp_path: Path
) -> None:
    """Tens of thousands of reports imported while a background folder loop runs and live
    reports arrive on the same database: locks are taken in the folder's order (no deadlock),
    and every report ends counted once."""
    rng = random.Random(12)
    cells = sorted(h3.grid_disk(CENTRE, 30))
    lines = [at(rng.choice(cells), minutes=rng.randrange(0, 60 * 24 * 60)) for _ in range(20_000)]
    path = ndjson(tmp_path / "big.ndjson", lines)
    setup = await connect(migrated_database)
    try:
        account = await importer(setup)
        device_id, _ = await accounts.create_device(setup)
    finally:
        await setup.close()
    db = await PooledDatabase.open(migrated_database, min_size=1, max_size=3)
    live: list[uuid.UUID] = []

    async def ingest_live(stop: asyncio.Event) -> None:
        signer = ReceiptSigner(os.urandom(32))
        principal = Principal(id=device_id, role=Role.observer)
        while not stop.is_set():
            body = at(rng.choice(cells), minutes=rng.randrange(0, 60 * 24 * 60))
            content = minimise(msgspec.convert(body, ReportIn))
            async with db.acquire() as conn:
                created = await submit_report(
                    conn, principal=principal, content=content, signer=signer
                )
            live.append(created.created.id)
            await asyncio.sleep(0.01)

    conn = await connect(migrated_database)
    try:
        async with background_folding(db, RULE, "UTC", interval_s=0.05):
            stop = asyncio.Event()
            ingesting = asyncio.create_task(ingest_live(stop))
            await asyncio.sleep(0.3)
            with ThreadPoolExecutor(2) as executor:
                summary = await asyncio.wait_for(
                    import_reports(
                        conn, path, account_id=account, grouping=RULE, time_zone="UTC",
                        executor=executor,
                    ),
                    timeout=300,
                )  # fmt: skip
            await asyncio.sleep(0.3)
            stop.set()
            await ingesting
        assert summary.imported == 20_000
        assert live
        await fold_now(conn, RULE)
        assert await conn.fetchval("select count(*) from reports where counted = 1") == (
            20_000 + len(live)
        )
        await check_cube(conn, "UTC")
    finally:
        await conn.close()
        await db.close()


async def test_the_fold_command_folds_once_and_says_what_it_did(
    migrated_database: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = await connect(migrated_database)
    try:
        device_id, _ = await accounts.create_device(conn)
        principal = Principal(id=device_id, role=Role.observer)
        signer = ReceiptSigner(os.urandom(32))
        for minutes in (0, 30, 500):
            content = minimise(msgspec.convert(at(CENTRE, minutes), ReportIn))
            await submit_report(conn, principal=principal, content=content, signer=signer)
    finally:
        await conn.close()
    env = cli_environment(data, migrated_database)
    result = await run_cli("fold", env=env)
    assert result.returncode == 0, result.stderr
    assert "plainsight: folded 3 reports in 1 batches: 2 new incidents" in result.stdout
    again = await run_cli("fold", env=env)
    assert "plainsight: folded 0 reports" in again.stdout
    conn = await connect(migrated_database)
    try:
        assert await conn.fetchval("select count(*) from incidents") == 2
        await check_cube(conn, "UTC")
    finally:
        await conn.close()
