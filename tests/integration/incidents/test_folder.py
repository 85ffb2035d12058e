"""The folder (storage/incidents/folder.py): batches, merges, splits, idempotence, concurrent
folders, and that it is the only writer of the statistics change log."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import asyncpg
import h3
import pytest

from api.app import apply_migrations
from storage.accounts import store as accounts
from storage.db import locks
from storage.db.pool import connect
from storage.incidents import folder
from storage.incidents.grouping import DEFAULT_GROUPING
from tests.integration.incidents.test_incidents import ORIGIN, report_at, ring_cell
from tests.support.cube_check import check_cube
from tests.support.helpers import Api, fold_now

ROOT = Path(__file__).resolve().parents[3]
WRITES_CHANGE_LOG = re.compile(r"insert\s+into\s+stats_changes", re.IGNORECASE)
WRITES_PLACED = re.compile(
    r"(insert\s+into|update|delete\s+from|truncate)\s+stats_placed_(groups|months)", re.IGNORECASE
)
PENDING = "select count(*) from reports where fold_pending_since is not null"


async def post(api: Api, token: str, cell: str, minutes: float) -> uuid.UUID:
    response = await api.submit(token, report_at(cell, minutes), fold=False)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def incident_of(conn: asyncpg.Connection, report_id: uuid.UUID) -> int | None:
    value: int | None = await conn.fetchval(
        "select incident_id from reports where id = $1", report_id
    )
    return value


def test_only_log_changes_writes_the_change_log_in_python() -> None:
    writers = sorted(
        str(path.relative_to(ROOT))
        for top in ("api", "storage", "schemas")
        for path in (ROOT / top).rglob("*.py")
        if WRITES_CHANGE_LOG.search(path.read_text())
    )
    assert writers == ["storage/incidents/folder.py"]
    source = (ROOT / "storage" / "incidents" / "folder.py").read_text()
    # Both statements are used by log_changes alone.
    for name in ("LOG_REPORT_CHANGES", "LOG_INCIDENT_CHANGES"):
        users = [m.start() for m in re.finditer(rf"\b{name}\b", source)]
        assert len(users) == 2, name  # the constant and its one use
        body = source[source.index("async def log_changes") :]
        body = body[: body.index("\nasync def ", 1)]
        assert name in body
    # Reports stored already folded (an import) are logged by log_stored alone.
    assert len(re.findall(r"\bLOG_STORED\b", source)) == 2
    body = source[source.index("async def log_stored") :]
    assert "LOG_STORED" in body[: body.index("\nasync def ", 1)]


def test_only_the_folder_writes_the_placed_groups() -> None:
    writers = sorted(
        str(path.relative_to(ROOT))
        for top in ("api", "storage", "schemas")
        for path in (ROOT / top).rglob("*.py")
        if WRITES_PLACED.search(path.read_text())
    )
    assert writers == ["storage/incidents/folder.py"]


async def test_no_sql_function_writes_the_placed_groups(conn: asyncpg.Connection) -> None:
    functions = await conn.fetch(
        """
        select p.proname, p.prosrc from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')
        """
    )
    assert [row["proname"] for row in functions if WRITES_PLACED.search(row["prosrc"])] == []


async def test_no_sql_function_writes_the_change_log(conn: asyncpg.Connection) -> None:
    writers = await conn.fetch(
        """
        select p.proname, p.prosrc from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')
        """
    )
    assert writers, "the migrated database has functions"
    assert [row["proname"] for row in writers if WRITES_CHANGE_LOG.search(row["prosrc"])] == []


async def test_fold_statistics_takes_the_registered_folder_lock(conn: asyncpg.Connection) -> None:
    source = await conn.fetchval("select prosrc from pg_proc where proname = 'fold_statistics'")
    assert f"pg_advisory_xact_lock({locks.FOLDER})" in source


async def test_ingest_only_appends_and_the_folder_groups(api: Api) -> None:
    token = await api.device_token()
    first = await post(api, token, ORIGIN, 0)
    second = await post(api, token, ring_cell(ORIGIN, 2), 30)
    assert await incident_of(api.conn, first) is None
    assert await api.conn.fetchval(PENDING) == 2
    assert await api.conn.fetchval("select count(*) from stats_changes") == 0

    summary = await fold_now(api.conn)

    assert (summary.reports, summary.new_incidents) == (2, 1)
    assert await incident_of(api.conn, first) == await incident_of(api.conn, second)
    assert await api.conn.fetchval(PENDING) == 0
    assert await api.conn.fetchval("select counted from reports where id = $1", first) == 1
    await check_cube(api.conn, "UTC")


async def test_folding_again_changes_nothing(api: Api) -> None:
    token = await api.device_token()
    for minutes in (0, 40, 80):
        await post(api, token, ORIGIN, minutes)
    await fold_now(api.conn)
    before = await api.conn.fetch("select id, incident_id, counted from reports order by id")
    cube = await api.conn.fetch("select * from stats_cube order by 1, 2, 3, 4, 5, 6, 7, 8")

    again = await fold_now(api.conn)

    assert (again.reports, again.changes) == (0, 0)
    assert await api.conn.fetch("select id, incident_id, counted from reports order by id") == (
        before
    )
    assert await api.conn.fetch("select * from stats_cube order by 1, 2, 3, 4, 5, 6, 7, 8") == (
        cube
    )


async def test_small_batches_give_what_one_batch_gives(api: Api) -> None:
    """A chain folded two reports at a time: later batches join and merge what earlier
    ones made, and the result is the rule's one incident."""
    token = await api.device_token()
    line = h3.grid_path_cells(ORIGIN, ring_cell(ORIGIN, 16))
    chain = line[::2]
    order = list(range(len(chain)))
    order = order[1::2] + order[::2]  # every other one first: separate incidents, then bridges
    for i in order:
        await post(api, token, chain[i], i * 20)

    summary = await folder.fold(api.conn, DEFAULT_GROUPING, "UTC", batch_size=2)

    assert summary is not None
    assert summary.batches == -(-len(chain) // 2)
    assert await api.conn.fetchval("select count(*) from incidents") == 1
    await check_cube(api.conn, "UTC")


async def test_a_bridge_merges_and_its_withdrawal_splits_again(api: Api) -> None:
    token = await api.device_token()
    path = h3.grid_path_cells(ORIGIN, ring_cell(ORIGIN, 4))
    west = await post(api, token, path[0], 0)
    east = await post(api, token, path[4], 0)
    await fold_now(api.conn)
    assert await incident_of(api.conn, west) != await incident_of(api.conn, east)
    oldest = min(await incident_of(api.conn, west) or 0, await incident_of(api.conn, east) or 0)

    bridge = await post(api, token, path[2], 10)
    summary = await fold_now(api.conn)
    assert summary.merged_incidents == 1
    assert {await incident_of(api.conn, r) for r in (west, east, bridge)} == {oldest}

    response = await api.client.delete(
        f"/v1/reports/{bridge}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204
    # The withdrawal folded at once: the bridge is out, its incident split, its traces gone.
    assert await incident_of(api.conn, west) != await incident_of(api.conn, east)
    row = await api.conn.fetchrow(
        "select incident_id, counted, occurred_at, h3_cell, fold_pending_since"
        " from reports where id = $1",
        bridge,
    )
    assert row is not None
    assert tuple(row) == (None, 0, None, None, None)
    await check_cube(api.conn, "UTC")


async def test_a_report_withdrawn_before_any_fold_never_counts(api: Api) -> None:
    token = await api.device_token()
    report = await post(api, token, ORIGIN, 0)
    response = await api.client.delete(
        f"/v1/reports/{report}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204
    assert await api.conn.fetchval("select count(*) from incidents") == 0
    assert await api.conn.fetchval(PENDING) == 0
    cube = "select coalesce(sum(not_identified + identified + unclear), 0) from stats_cube"
    assert await api.conn.fetchval(cube) == 0


async def test_a_split_is_kept_until_a_new_report_bridges_it(api: Api) -> None:
    """A moderator split two close reports apart: folding a later report near only one part
    keeps them apart (stored reports link only through their incidents)."""
    token = await api.device_token()
    first = await post(api, token, ORIGIN, 0)
    second = await post(api, token, ORIGIN, 30)
    await fold_now(api.conn)
    incident = await incident_of(api.conn, first)
    assert incident is not None
    new_id = await folder.split_incident(api.conn, incident, [second])
    # Close to the first only in time (the second is 30 min later; 0 - 70 = -70 from the
    # first, 100 from the second).
    await post(api, token, ORIGIN, -70)
    await fold_now(api.conn)
    assert await incident_of(api.conn, second) == new_id
    assert await api.conn.fetchval("select count(*) from incidents") == 2
    await check_cube(api.conn, "UTC")


async def test_two_folders_on_two_connections_fold_each_report_once(
    empty_database: str,
) -> None:
    """Committed reports, and two connections folding at once in small batches: the lock
    orders them and every report is taken in once."""
    await apply_migrations(empty_database)
    setup = await connect(empty_database)
    try:
        device_id, _ = await accounts.create_device(setup)
        ids = [uuid.uuid4() for _ in range(40)]
        await setup.executemany(
            """
            insert into reports (id, device_id, client_id, kind, received_at, payload_sha256,
                                 receipt_signature, occurred_at, h3_cell, content,
                                 identification, masked, agencies_claimed,
                                 agencies_suspected, agency)
            values ($1, $2, $1, 'observer_report', now(), repeat('0', 64), null,
                    now() - make_interval(mins => $3), $4, '{}'::jsonb, 'unclear', 'all',
                    '{}', '{}', 'unknown')
            """,
            [(rid, device_id, i * 30, h3.str_to_int(ORIGIN)) for i, rid in enumerate(ids)],
        )
        a, b = await connect(empty_database), await connect(empty_database)
        try:
            results = await asyncio.gather(
                folder.fold(a, DEFAULT_GROUPING, "UTC", batch_size=7),
                folder.fold(b, DEFAULT_GROUPING, "UTC", batch_size=7),
            )
        finally:
            await a.close()
            await b.close()
        assert sum(r.reports for r in results if r is not None) == 40
        assert await setup.fetchval("select count(*) from incidents") == 1
        await check_cube(setup, "UTC")
    finally:
        await setup.close()


async def test_the_background_folder_skips_while_another_holds_the_lock(
    database_url: str,
) -> None:
    holder, other = await connect(database_url), await connect(database_url)
    try:
        async with holder.transaction():
            await folder.lock(holder)
            # Another zone than the cube's: there is something to fold, and it must wait.
            assert await folder.fold(other, DEFAULT_GROUPING, "Asia/Tokyo", wait=False) is None
    finally:
        await holder.close()
        await other.close()


INSERT_PENDING = """
insert into reports (id, device_id, client_id, kind, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content, identification, masked,
                     agencies_claimed, agencies_suspected, agency)
values ($1, $2, $1, 'observer_report', now(), repeat('0', 64), null, now(), $3, '{}'::jsonb,
        'unclear', 'all', '{}', '{}', 'unknown')
"""


async def test_a_waiting_fold_takes_in_a_report_whose_row_another_transaction_holds(
    empty_database: str,
) -> None:
    """A committed report whose row a photo upload holds (``for update``, until its commit):
    the background folder passes it over for its next round, but a fold that waits (the one a
    statistics query runs first, which must count every report committed before the query)
    waits for the row and takes it in. Seen in the deployment test as a statistics answer one
    report short while a photo of that report was being stored."""
    await apply_migrations(empty_database)
    setup, upload = await connect(empty_database), await connect(empty_database)
    folding = await connect(empty_database)
    try:
        device_id, _ = await accounts.create_device(setup)
        report = uuid.uuid4()
        await setup.execute(INSERT_PENDING, report, device_id, h3.str_to_int(ORIGIN))
        upload_tx = upload.transaction()
        await upload_tx.start()
        await upload.execute("select id from reports where id = $1 for update", report)
        background = await folder.fold(folding, DEFAULT_GROUPING, "UTC", wait=False)
        assert background is not None
        assert background.reports == 0  # passed over, not waited for
        waiting = asyncio.create_task(folder.fold(folding, DEFAULT_GROUPING, "UTC"))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits for the row...
        await upload_tx.commit()
        summary = await asyncio.wait_for(waiting, 10)  # ...and takes it in once it is free
        assert summary is not None
        assert summary.reports == 1
        assert await setup.fetchval(PENDING) == 0
        await check_cube(setup, "UTC")
    finally:
        for conn in (setup, upload, folding):
            await conn.close()


@pytest.mark.parametrize("bad", [-1, 0])
async def test_a_batch_size_below_one_is_refused(api: Api, bad: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await folder.fold(api.conn, DEFAULT_GROUPING, "UTC", batch_size=bad)


ADVISORY_CALL = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?(?:un)?lock(?:_shared)?\(\s*(\d+)")


def _spellings(value: int) -> set[str]:
    return {str(value), f"{value:_}", hex(value), hex(value).upper().replace("0X", "0x")}


def test_every_advisory_lock_key_is_named_once_in_the_registry() -> None:
    keys = {name: value for name, value in vars(locks).items() if name.isupper()}
    assert len(set(keys.values())) == len(keys), "two locks share a key"
    for path in sorted(ROOT.glob("[ast]*/**/*.py")):
        if path == ROOT / "storage" / "db" / "locks.py" or ".venv" in path.parts:
            continue
        text = path.read_text()
        for match in ADVISORY_CALL.finditer(text):
            pytest.fail(f"{path}: a literal advisory-lock key {match[1]}; name it in locks.py")
        for name, value in keys.items():
            for spelling in _spellings(value):
                assert not re.search(rf"\b{spelling}\b", text, re.IGNORECASE), (path, name)


async def test_sql_functions_lock_only_registered_keys(conn: asyncpg.Connection) -> None:
    sources = await conn.fetch(
        """
        select p.proname, p.prosrc from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')
        """
    )
    used = {
        (row["proname"], int(m[1]))
        for row in sources
        for m in ADVISORY_CALL.finditer(row["prosrc"])
    }
    assert used == {("fold_statistics", locks.FOLDER)}
