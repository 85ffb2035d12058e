"""Repeatable definitions against real, new databases: a fresh database and one upgraded file by
file end with the same functions, views and triggers; a changed file is re-applied with what
requires it and nothing else; a numbered file brings every definition back; retiring, failing
files, concurrent runners and edited numbered files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast

import asyncpg
import pytest

from storage.db.migrations import (
    ADVISORY_LOCK_KEY,
    Migration,
    load_migrations,
    migrate,
    pending_repeatables,
)
from storage.db.pool import connect
from storage.db.repeatables import Repeatable, load_repeatables
from storage.errors import MigrationError

FILES = load_migrations()
SHIPPED = load_repeatables()
NEXT_VERSION = max(m.version for m in FILES) + 1

# Everything the schema defines besides tables: what a repeatable file must hold.
FUNCTIONS = """
select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as name,
       p.proname as object, pg_get_functiondef(p.oid) as definition,
       coalesce(p.proacl::text, '') as acl
from pg_proc p
where p.pronamespace = current_schema()::regnamespace
  and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by 1
"""
VIEWS = """
select c.relname as name, pg_get_viewdef(c.oid) as definition
from pg_class c
where c.relnamespace = current_schema()::regnamespace and c.relkind in ('v', 'm')
order by 1
"""
TRIGGERS = """
select t.tgname as name, pg_get_triggerdef(t.oid) as definition, t.tgenabled::text as enabled
from pg_trigger t join pg_class c on c.oid = t.tgrelid
where c.relnamespace = current_schema()::regnamespace and not t.tgisinternal
order by 1
"""
RECORDED = "select name, checksum, applied_at from schema_repeatables order by name"
ADVISORY_WAITING = """
select count(*) from pg_locks
where locktype = 'advisory' and not granted
  and database = (select oid from pg_database where datname = current_database())
"""

PROBE = Repeatable(
    "probe_value",
    "create or replace function probe_value() returns int language sql as $$ select 1 $$",
)
PROBE_CHANGED = Repeatable(PROBE.name, PROBE.sql.replace("select 1", "select 2"))
PROBE_VIEW = Repeatable(
    "probe_view",
    "-- requires: probe_value\ncreate or replace view probe_view as select probe_value() as v",
)
OTHER = Repeatable(
    "probe_other",
    "create or replace function probe_other() returns int language sql as $$ select 3 $$",
)
# What re-applying probe_other would undo.
SABOTAGE = "create or replace function probe_other() returns int language sql as $$ select 99 $$"


async def definitions(conn: asyncpg.Connection) -> dict[str, list[tuple[str, ...]]]:
    return {
        kind: [tuple(row.values()) for row in await conn.fetch(query)]
        for kind, query in (("functions", FUNCTIONS), ("views", VIEWS), ("triggers", TRIGGERS))
    }


async def recorded(conn: asyncpg.Connection) -> dict[str, tuple[str, datetime]]:
    return {row["name"]: (row["checksum"], row["applied_at"]) for row in await conn.fetch(RECORDED)}


async def new_connection(fresh_database: object) -> asyncpg.Connection:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    return await connect(await make())


async def test_fresh_and_upgraded_file_by_file_define_everything_alike(
    fresh_database: object,
) -> None:
    fresh = await new_connection(fresh_database)
    upgraded = await new_connection(fresh_database)
    try:
        await migrate(fresh)
        # As the code of each release did: its numbered files, no repeatable files yet.
        for count in range(1, len(FILES) + 1):
            await migrate(upgraded, FILES[:count], repeatables=[])
        await migrate(upgraded)

        expected = await definitions(fresh)
        assert await definitions(upgraded) == expected
        assert len(expected["functions"]) >= 7
        assert [row[0] for row in expected["views"]] == ["incident_facts"]
        assert len(expected["triggers"]) == 5  # 4 on the audit trail, 1 on sealed originals
        fresh_records = {name: c for name, (c, _) in (await recorded(fresh)).items()}
        upgraded_records = {name: c for name, (c, _) in (await recorded(upgraded)).items()}
        assert fresh_records == upgraded_records == {r.name: r.checksum for r in SHIPPED}
    finally:
        await fresh.close()
        await upgraded.close()


async def test_every_function_view_and_trigger_has_its_file(db: asyncpg.Connection) -> None:
    await migrate(db)
    found = await definitions(db)
    functions = [row[1] for row in found["functions"]]
    # A changed signature must drop the old one: "create or replace" would leave an overload.
    assert len(functions) == len(set(functions)), functions
    objects = {*functions, *(row[0] for row in found["views"])}
    objects |= {row[0] for row in found["triggers"]}
    assert objects == {r.name for r in SHIPPED}
    assert await pending_repeatables(db) == []


async def test_a_changed_file_is_reapplied_with_what_requires_it_and_nothing_else(
    db: asyncpg.Connection,
) -> None:
    await migrate(db, repeatables=[*SHIPPED, PROBE, PROBE_VIEW, OTHER])
    assert await db.fetchval("select v from probe_view") == 1
    before = await recorded(db)
    await db.execute(SABOTAGE)

    assert await migrate(db, repeatables=[*SHIPPED, PROBE_CHANGED, PROBE_VIEW, OTHER]) == []
    after = await recorded(db)
    assert await db.fetchval("select v from probe_view") == 2
    assert after[PROBE.name][0] == PROBE_CHANGED.checksum
    assert after[PROBE.name][1] > before[PROBE.name][1]
    assert after[PROBE_VIEW.name][1] > before[PROBE_VIEW.name][1]  # it requires probe_value
    # Unchanged files were left alone: probe_other still answers what was put in its place.
    assert await db.fetchval("select probe_other()") == 99
    untouched = set(before) - {PROBE.name, PROBE_VIEW.name}
    assert {name: after[name] for name in untouched} == {name: before[name] for name in untouched}

    # Nothing changed: nothing applied.
    await migrate(db, repeatables=[*SHIPPED, PROBE_CHANGED, PROBE_VIEW, OTHER])
    assert await recorded(db) == after
    assert await db.fetchval("select probe_other()") == 99


async def test_a_file_changed_in_the_database_only_is_pending_until_applied(
    db: asyncpg.Connection,
) -> None:
    assert await pending_repeatables(db) == [r.name for r in SHIPPED]  # nothing migrated yet
    await migrate(db)
    await db.execute(
        "update schema_repeatables set checksum = 'stale' where name = 'incident_facts_of'"
    )
    await db.execute("delete from schema_repeatables where name = 'h3_parent'")
    assert sorted(await pending_repeatables(db)) == ["h3_parent", "incident_facts_of"]
    await migrate(db)
    assert await pending_repeatables(db) == []


async def test_after_a_numbered_file_every_file_is_reapplied(db: asyncpg.Connection) -> None:
    await migrate(db, repeatables=[*SHIPPED, OTHER])
    before = await recorded(db)
    expected = await definitions(db)
    await db.execute(SABOTAGE)
    # A numbered file may drop what a repeatable file defines (to change a table under it).
    later = Migration(NEXT_VERSION, "rebuild_under_view", "drop view incident_facts")

    assert await migrate(db, [*FILES, later], repeatables=[*SHIPPED, OTHER]) == [NEXT_VERSION]
    after = await recorded(db)
    assert all(after[name][1] > before[name][1] for name in before)
    assert await db.fetchval("select probe_other()") == 3
    await db.execute(SABOTAGE.replace("99", "3"))  # the sabotage aside, all as before
    assert await definitions(db) == expected


async def test_a_retired_file_is_forgotten_once_a_numbered_file_drops_it(
    db: asyncpg.Connection,
) -> None:
    await migrate(db, repeatables=[*SHIPPED, PROBE, PROBE_VIEW])
    retire = Migration(
        NEXT_VERSION, "retire_probe", "drop view probe_view;\ndrop function probe_value();"
    )
    await migrate(db, [*FILES, retire], repeatables=SHIPPED)
    assert set(await recorded(db)) == {r.name for r in SHIPPED}
    assert await db.fetchval("select to_regprocedure('probe_value()')") is None
    assert await db.fetchval("select to_regclass('probe_view')") is None


async def test_a_failing_file_rolls_back_names_itself_and_the_rest_stays(
    db: asyncpg.Connection,
) -> None:
    broken = Repeatable(
        "probe_broken",
        "create or replace function probe_broken() returns int language sql as $$ select 1 $$;\n"
        "select * from no_such_table;",
    )
    with pytest.raises(MigrationError, match=r"repeatable probe_broken\.sql failed"):
        await migrate(db, repeatables=[*SHIPPED, broken, OTHER])
    # Numbered files and the files before it are in; the broken one left nothing behind.
    assert await db.fetchval("select to_regprocedure('probe_broken()')") is None
    assert "probe_broken" not in await recorded(db)
    assert "fold_statistics" in await recorded(db)
    assert await db.fetchval("select pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY)
    await db.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)

    fixed = Repeatable(broken.name, broken.sql.replace("select * from no_such_table;", ""))
    await migrate(db, repeatables=[*SHIPPED, fixed, OTHER])
    assert await db.fetchval("select probe_broken()") == 1
    assert await db.fetchval("select probe_other()") == 3
    assert await pending_repeatables(db) == []


async def test_two_runners_at_once_apply_a_changed_file_safely(empty_database: str) -> None:
    runners = [await connect(empty_database) for _ in range(2)]
    blocker = await connect(empty_database)
    started: asyncio.Future[list[list[int]]] | None = None
    try:
        await migrate(blocker, repeatables=[*SHIPPED, PROBE, PROBE_VIEW])
        before = await recorded(blocker)
        await blocker.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        wanted = [*SHIPPED, PROBE_CHANGED, PROBE_VIEW]
        started = asyncio.gather(*(migrate(conn, repeatables=wanted) for conn in runners))
        for _ in range(500):
            if await blocker.fetchval(ADVISORY_WAITING) == 2:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the two runners never queued on the advisory lock")
        await blocker.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        async with asyncio.timeout(30):
            assert await started == [[], []]
        after = await recorded(blocker)
        assert await blocker.fetchval("select v from probe_view") == 2
        changed = {name for name in after if after[name] != before[name]}
        assert changed == {PROBE.name, PROBE_VIEW.name}

        # Without the blocker as well: many runners racing on one change, no error.
        racing = [*SHIPPED, PROBE, PROBE_VIEW]
        await asyncio.gather(*(migrate(conn, repeatables=racing) for conn in runners))
        assert await blocker.fetchval("select v from probe_view") == 1
    finally:
        if started is not None and not started.done():
            started.cancel()
            await asyncio.gather(started, return_exceptions=True)
        for conn in [*runners, blocker]:
            await conn.close()


async def test_an_edited_numbered_file_is_still_refused_and_nothing_is_reapplied(
    db: asyncpg.Connection,
) -> None:
    await migrate(db, repeatables=[*SHIPPED, PROBE])
    before = await recorded(db)
    first = FILES[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- an edit\n")
    with pytest.raises(MigrationError, match=r"0001_.*edited"):
        await migrate(db, [edited, *FILES[1:]], repeatables=[*SHIPPED, PROBE_CHANGED])
    assert await recorded(db) == before
    assert await db.fetchval("select probe_value()") == 1
