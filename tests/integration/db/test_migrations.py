"""The migration runner against real, new, empty databases: concurrent starts, checksums,
unknown versions and a failing file."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from storage.db.migrations import ADVISORY_LOCK_KEY, Migration, load_migrations, migrate
from storage.db.pool import connect
from storage.errors import MigrationError

FILES = load_migrations()
NEXT_VERSION = max(m.version for m in FILES) + 1
SELECT_ROWS = "select version, name, checksum from schema_migrations order by version"
# pg_locks is server-wide: count only this database's advisory locks (other runs share servers).
ADVISORY_LOCKS = """
select count(*) filter (where granted) as held, count(*) filter (where not granted) as waiting
from pg_locks
where locktype = 'advisory'
  and database = (select oid from pg_database where datname = current_database())
"""


async def relation_exists(conn: asyncpg.Connection, name: str) -> bool:
    exists: bool = await conn.fetchval("select to_regclass($1) is not null", name)
    return exists


async def applied_rows(conn: asyncpg.Connection) -> list[tuple[int, str, str]]:
    return [(r["version"], r["name"], r["checksum"]) for r in await conn.fetch(SELECT_ROWS)]


async def advisory_locks(conn: asyncpg.Connection) -> tuple[int, int]:
    """(held, waiting) advisory locks in this database."""
    row = await conn.fetchrow(ADVISORY_LOCKS)
    assert row is not None
    return row["held"], row["waiting"]


def expected_rows(migrations: list[Migration]) -> list[tuple[int, str, str]]:
    return [(m.version, m.name, m.checksum) for m in migrations]


def test_shipped_files_are_numbered_and_loaded_in_order() -> None:
    assert FILES, "no migration files found in the migrations package"
    versions = [m.version for m in FILES]
    assert versions == sorted(versions)
    assert versions[0] == 1
    assert all(m.sql.strip() for m in FILES)


async def test_three_runners_at_once_apply_the_schema_exactly_once(empty_database: str) -> None:
    runners = [await connect(empty_database) for _ in range(3)]
    blocker = await connect(empty_database)
    started: asyncio.Future[list[list[int]]] | None = None
    try:
        # Hold the lock so all three runners are provably queued on it before any proceeds.
        await blocker.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        started = asyncio.gather(*(migrate(conn) for conn in runners))
        for _ in range(500):
            if (await advisory_locks(blocker))[1] == 3:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the three runners never queued on the advisory lock")
        await blocker.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        async with asyncio.timeout(30):
            results = await started

        every_version = [m.version for m in FILES]
        assert sorted(results, key=len) == [[], [], every_version], results
        assert await applied_rows(blocker) == expected_rows(FILES)
        assert await relation_exists(blocker, "accounts")
        # The session-level lock was released by every runner.
        assert await advisory_locks(blocker) == (0, 0)

        # Running again (several at once, too) applies nothing and changes nothing.
        again = await asyncio.gather(*(migrate(conn) for conn in runners))
        assert again == [[], [], []]
        assert await applied_rows(blocker) == expected_rows(FILES)
    finally:
        if started is not None and not started.done():  # a failure above: stop the runners
            started.cancel()
            await asyncio.gather(started, return_exceptions=True)
        for conn in [*runners, blocker]:
            await conn.close()


async def test_rerun_applies_nothing(db: asyncpg.Connection) -> None:
    assert await migrate(db) == [m.version for m in FILES]
    rows = await applied_rows(db)
    assert await migrate(db) == []
    assert await migrate(db, FILES) == []
    assert await applied_rows(db) == rows


async def test_later_files_are_applied_on_top(db: asyncpg.Connection) -> None:
    await migrate(db)
    later = Migration(NEXT_VERSION, "later_addition", "create table later_addition (id int)")
    assert await migrate(db, [*FILES, later]) == [NEXT_VERSION]
    assert await applied_rows(db) == expected_rows([*FILES, later])
    assert await relation_exists(db, "later_addition")


async def test_edited_file_is_refused(db: asyncpg.Connection) -> None:
    await migrate(db)
    first = FILES[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- a harmless-looking edit\n")
    later = Migration(NEXT_VERSION, "after_edit", "create table after_edit (id int)")
    with pytest.raises(MigrationError) as caught:
        await migrate(db, [edited, *FILES[1:], later])
    message = str(caught.value)
    assert f"{first.version:04d}_{first.name}.sql" in message
    assert "edited" in message
    # Nothing was applied, the recorded checksum is untouched, the lock is free again.
    assert not await relation_exists(db, "after_edit")
    assert await applied_rows(db) == expected_rows(FILES)
    assert await db.fetchval("select pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY)
    await db.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def test_database_newer_than_the_code_is_refused(db: asyncpg.Connection) -> None:
    future = Migration(NEXT_VERSION, "from_the_future", "create table from_the_future (id int)")
    await migrate(db, [*FILES, future])
    with pytest.raises(MigrationError) as caught:
        await migrate(db)  # the shipped files only: they do not know NEXT_VERSION
    message = str(caught.value)
    assert f"{NEXT_VERSION:04d}_from_the_future" in message
    assert "no such file" in message
    assert await applied_rows(db) == expected_rows([*FILES, future])


async def test_failing_file_rolls_back_and_earlier_ones_stay(db: asyncpg.Connection) -> None:
    broken = Migration(
        NEXT_VERSION,
        "half_done",
        "create table half_done (id int);\n"
        "insert into half_done values (1);\n"
        "select * from no_such_table;\n",
    )
    after = Migration(NEXT_VERSION + 1, "never_reached", "create table never_reached (id int)")
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(db, [*FILES, broken, after])

    assert not await relation_exists(db, "half_done")
    assert not await relation_exists(db, "never_reached")
    assert await applied_rows(db) == expected_rows(FILES)
    assert await relation_exists(db, "accounts")
    # The connection is usable and the lock was released despite the failure.
    assert await advisory_locks(db) == (0, 0)

    # Once the file is fixed (it was never applied, so it may still change), it goes in.
    fixed = Migration(NEXT_VERSION, "half_done", "create table half_done (id int)")
    assert await migrate(db, [*FILES, fixed, after]) == [NEXT_VERSION, NEXT_VERSION + 1]
    assert await relation_exists(db, "half_done")
    assert await relation_exists(db, "never_reached")
