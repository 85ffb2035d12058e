"""Repeatable definitions (Flyway's ``R__`` migrations): every SQL function, view and trigger
lives once, in its own file of ``migrations/repeatable/`` named after it, as idempotent DDL
(``create or replace function``, ``create or replace view``, ``drop trigger if exists`` then
``create trigger``).

The migration runner re-applies a file when its checksum differs from the one recorded in
``schema_repeatables`` (the file changed, or is new), together with every file that requires
it, and re-applies all of them after any numbered file ran (a numbered file may drop and
recreate what they depend on). Numbered files stay frozen and never define these objects. To
retire one, delete its file and drop the object in a new numbered file; its record is
forgotten at the next migration.

A file names what must exist before it with a ``-- requires: a, b`` line (a view over a
function, a trigger over its function, an SQL-language function calling another); files are
applied in that order, otherwise by name.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import asyncpg

from storage.errors import MigrationError

log = logging.getLogger(__name__)

PACKAGE = "migrations"
FOLDER = "repeatable"
_FILENAME = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")
_REQUIRES = re.compile(r"^--\s*requires:(.*)$", re.MULTILINE)

CREATE_TABLE = """
create table if not exists schema_repeatables (
    name text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""
SELECT_RECORDED = "select name, checksum from schema_repeatables"
UPSERT_RECORDED = """
insert into schema_repeatables (name, checksum) values ($1, $2)
on conflict (name) do update set checksum = excluded.checksum, applied_at = now()
"""
DELETE_RETIRED = "delete from schema_repeatables where not (name = any($1::text[]))"
TABLE_EXISTS = "select to_regclass('schema_repeatables') is not null"


@dataclass(frozen=True, slots=True)
class Repeatable:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def requires(self) -> tuple[str, ...]:
        names: list[str] = []
        for line in _REQUIRES.findall(self.sql):
            names.extend(part.strip() for part in line.split(",") if part.strip())
        return tuple(names)


def load_repeatables() -> list[Repeatable]:
    """The repeatable files shipped in ``migrations/repeatable``, in the order to apply them."""
    found: list[Repeatable] = []
    for entry in resources.files(PACKAGE).joinpath(FOLDER).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILENAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"repeatable file {entry.name} must be named after its object: "
                "lower-case letters, digits and underscores, then .sql"
            )
        found.append(Repeatable(match[1], entry.read_text(encoding="utf-8")))
    return in_order(found)


def in_order(repeatables: Iterable[Repeatable]) -> list[Repeatable]:
    """Every file after the ones it requires, otherwise by name. Refuses a requirement that
    names no file, and a cycle."""
    by_name = {r.name: r for r in repeatables}
    waiting_on: dict[str, set[str]] = {}
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for name, repeatable in by_name.items():
        for required in repeatable.requires:
            if required not in by_name:
                raise MigrationError(
                    f"repeatable {name}.sql requires {required}, but no {required}.sql ships"
                )
            if required == name:
                raise MigrationError(f"repeatable {name}.sql requires itself")
            waiting_on.setdefault(name, set()).add(required)
            dependents[required].append(name)
    ready = [name for name in by_name if not waiting_on.get(name)]
    heapq.heapify(ready)
    ordered: list[Repeatable] = []
    while ready:
        name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for dependent in dependents[name]:
            waiting_on[dependent].discard(name)
            if not waiting_on[dependent]:
                heapq.heappush(ready, dependent)
    if len(ordered) != len(by_name):
        stuck = sorted(set(by_name) - {r.name for r in ordered})
        raise MigrationError(f"repeatable files require each other in a cycle: {stuck}")
    return ordered


def with_dependents(repeatables: list[Repeatable], names: set[str]) -> set[str]:
    """``names`` and every file that requires one of them, directly or not."""
    found = set(names)
    grew = True
    while grew:
        grew = False
        for repeatable in repeatables:
            if repeatable.name not in found and found.intersection(repeatable.requires):
                found.add(repeatable.name)
                grew = True
    return found


async def recorded_checksums(conn: asyncpg.Connection) -> dict[str, str]:
    if not await conn.fetchval(TABLE_EXISTS):
        return {}
    return {row["name"]: row["checksum"] for row in await conn.fetch(SELECT_RECORDED)}


def changed(repeatables: list[Repeatable], recorded: dict[str, str]) -> list[str]:
    """Names of the files whose checksum differs from the recorded one, or not recorded."""
    return [r.name for r in repeatables if recorded.get(r.name) != r.checksum]


async def apply_repeatables(
    conn: asyncpg.Connection, repeatables: list[Repeatable], *, everything: bool
) -> list[str]:
    """Apply the changed files and their dependents (all of them with ``everything``), each in
    its own transaction, in order; forget records of files no longer shipped. The caller holds
    the migration lock. Returns the names applied."""
    await conn.execute(CREATE_TABLE)
    ordered = in_order(repeatables)
    if everything:
        wanted = {r.name for r in ordered}
    else:
        wanted = with_dependents(ordered, set(changed(ordered, await recorded_checksums(conn))))
    applied: list[str] = []
    for repeatable in ordered:
        if repeatable.name not in wanted:
            continue
        try:
            async with conn.transaction():
                await conn.execute(repeatable.sql)
                await conn.execute(UPSERT_RECORDED, repeatable.name, repeatable.checksum)
        except asyncpg.PostgresError as exc:
            raise MigrationError(
                f"repeatable {repeatable.name}.sql failed: {exc}; fix the file and migrate again"
            ) from exc
        applied.append(repeatable.name)
    await conn.execute(DELETE_RETIRED, [r.name for r in ordered])
    if applied:
        log.info("repeatable definitions applied", extra={"repeatables": applied})
    return applied
