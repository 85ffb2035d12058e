"""Forward-only SQL migrations: advisory lock, checksums, one transaction per file.

Numbered files are frozen once applied (an edited one is refused); the current definition of
every function, view and trigger is a repeatable file (storage/db/repeatables.py), re-applied
after them when it changed, and all of them after any numbered file ran.

Several replicas may start at once: each takes the same session-level advisory lock, so
exactly one applies pending files while the others wait, then find nothing left to do. Under
the same lock, the folder then takes in reports the migrations marked pending (those stored
before incident grouping existed).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg

from storage.db import locks
from storage.db.repeatables import (
    Repeatable,
    apply_repeatables,
    changed,
    load_repeatables,
    recorded_checksums,
)
from storage.errors import MigrationError
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = locks.MIGRATIONS
FOLDER_VERSION: Final = 16
"""The migration that made the folder the one writer of incidents (reports.counted)."""
_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_VERSIONS_TABLE = """
create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""
SELECT_APPLIED = "select version, name, checksum from schema_migrations order by version"
INSERT_APPLIED = "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The migration files shipped in the ``migrations`` package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("migrations").iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    *,
    grouping: GroupingRule | None = None,
    repeatables: list[Repeatable] | None = None,
) -> list[int]:
    """Apply pending migrations, then the repeatable definitions that changed (all of them if
    a numbered file ran); return the versions applied by this call. With ``grouping`` (the
    configured rule), then run the folder once, still under the lock: reports stored before
    incidents existed were marked pending by the migration, and are grouped now."""
    wanted = load_migrations() if migrations is None else migrations
    definitions = load_repeatables() if repeatables is None else repeatables
    applied_now: list[int] = []
    await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(CREATE_VERSIONS_TABLE)
        applied = {row["version"]: row for row in await conn.fetch(SELECT_APPLIED)}
        _check_applied_match_files(applied, wanted)
        for migration in wanted:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    INSERT_APPLIED, migration.version, migration.name, migration.checksum
                )
            log.info("migration applied", extra={"version": migration.version})
            applied_now.append(migration.version)
        await apply_repeatables(conn, definitions, everything=bool(applied_now))
        if grouping is not None and FOLDER_VERSION in {*applied, *applied_now}:
            await folder.fold(conn, grouping, None)
    finally:
        await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return applied_now


async def pending_migrations(conn: asyncpg.Connection) -> list[int]:
    """Versions shipped but not yet applied (used by /readyz)."""
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    applied: set[int] = set()
    if exists:
        applied = {row["version"] for row in await conn.fetch(SELECT_APPLIED)}
    return [m.version for m in load_migrations() if m.version not in applied]


async def pending_repeatables(conn: asyncpg.Connection) -> list[str]:
    """Repeatable files shipped but not applied as they are now (used by /readyz)."""
    return changed(load_repeatables(), await recorded_checksums(conn))


def _check_applied_match_files(
    applied: dict[int, asyncpg.Record], migrations: list[Migration]
) -> None:
    by_version = {m.version: m for m in migrations}
    for version, row in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"database has migration {version:04d}_{row['name']} applied, but no such file "
                "ships with this version of Plainsight (is the code older than the database?)"
            )
        if migration.checksum != row["checksum"]:
            raise MigrationError(
                f"migration {version:04d}_{migration.name}.sql was edited after it was applied "
                "(checksum differs); migrations are forward-only: add a new numbered file instead"
            )
