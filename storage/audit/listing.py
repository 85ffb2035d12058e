"""Reading the audit log a page at a time: newest first, keyset on the entry id, with optional
filters. Only the conditions given go into the SQL, so each filter uses its index (0007's
actor and subject indexes, 0019's action and time indexes) instead of a generic plan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

SELECT_PAGE = """
select id, at, actor_id, actor_role, action, subject_type, subject_id, details::text as details
from audit_log
where {conditions}
order by id desc
limit ${limit}
"""


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What to narrow the log to; None leaves a filter out. ``since`` is inclusive,
    ``until`` exclusive."""

    action: str | None = None
    actor_id: uuid.UUID | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    action: str
    subject_type: str | None
    subject_id: str | None
    details: dict[str, Any]


async def list_entries(
    conn: asyncpg.Connection, filters: AuditFilters, *, limit: int, before_id: int | None
) -> tuple[list[AuditEntry], int | None]:
    """A page of entries older than ``before_id`` (None: the newest), and the ``before_id``
    of the next page (None on the last)."""
    conditions: list[str] = []
    values: list[object] = []

    def where(template: str, value: object) -> None:
        values.append(value)
        conditions.append(template.format(f"${len(values)}"))

    if before_id is not None:
        where("id < {}", before_id)
    if filters.action is not None:
        where("action = {}", filters.action)
    if filters.actor_id is not None:
        where("actor_id = {}", filters.actor_id)
    if filters.subject_type is not None:
        where("subject_type = {}", filters.subject_type)
    if filters.subject_id is not None:
        where("subject_id = {}", filters.subject_id)
    if filters.since is not None:
        where("at >= {}", filters.since)
    if filters.until is not None:
        where("at < {}", filters.until)
    values.append(limit + 1)
    sql = SELECT_PAGE.format(conditions=" and ".join(conditions) or "true", limit=len(values))
    rows = await conn.fetch(sql, *values)
    entries = [_entry(row) for row in rows[:limit]]
    next_before = entries[-1].id if len(rows) > limit else None
    return entries, next_before


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor_id=row["actor_id"],
        actor_role=row["actor_role"],
        action=row["action"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        details=msgspec.json.decode(row["details"]),
    )
