"""A moderator overrides automatic grouping: merge two incidents, or split reports off one.

Both take the folder's lock first (storage/incidents/folder.py writes the membership and logs both
incidents for the statistics fold), then lock the incident rows. Report-unit statistics do
not depend on incidents, so only incident facts change.

No rule is stored: automatic grouping keeps applying afterwards. A later report within the
grouping distance and window of both parts of a split joins them again (it bridges them, as
any report does), and a later withdrawal or rejection in a merged incident re-evaluates it by
the rule, which splits it again if its parts are not connected.
"""

from __future__ import annotations

import uuid

import asyncpg

from schemas.auth import Principal
from storage.audit.log import record
from storage.errors import DomainError, NotFound
from storage.incidents import folder

LOCK_INCIDENTS = "select id from incidents where id = any($1::bigint[]) order by id for update"
SELECT_MEMBER_IDS = "select id from reports where incident_id = $1"


class InvalidOverride(DomainError):
    """The request names something that does not fit the incident (422 naming the field)."""

    code = "validation_failed"
    status = 422

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


async def merge_incidents(
    conn: asyncpg.Connection, principal: Principal, incident_id: int, other_id: int
) -> None:
    """``other_id``'s reports join ``incident_id``; ``other_id`` disappears."""
    if other_id == incident_id:
        raise InvalidOverride("$.incident_id", "an incident cannot be merged with itself")
    await folder.lock(conn)
    locked = {row["id"] for row in await conn.fetch(LOCK_INCIDENTS, [incident_id, other_id])}
    if incident_id not in locked:
        raise NotFound("no such incident")
    if other_id not in locked:
        raise InvalidOverride("$.incident_id", f"there is no incident {other_id}")
    moved = await folder.merge_incidents(conn, incident_id, other_id)
    await record(
        conn,
        actor=principal,
        action="incident.merged",
        subject_type="incident",
        subject_id=str(incident_id),
        details={"merged_incident_id": other_id, "reports_moved": moved},
    )


async def split_incident(
    conn: asyncpg.Connection, principal: Principal, incident_id: int, report_ids: list[uuid.UUID]
) -> int:
    """The given reports become a new incident; returns its id."""
    await folder.lock(conn)
    if not await conn.fetch(LOCK_INCIDENTS, [incident_id]):
        raise NotFound("no such incident")
    members = {row["id"] for row in await conn.fetch(SELECT_MEMBER_IDS, incident_id)}
    chosen = set(report_ids)
    if len(chosen) != len(report_ids):
        raise InvalidOverride("$.report_ids", "a report is listed more than once")
    strangers = sorted(str(r) for r in chosen - members)
    if strangers:
        raise InvalidOverride(
            "$.report_ids", f"not reports of incident {incident_id}: {', '.join(strangers)}"
        )
    if chosen == members:
        raise InvalidOverride(
            "$.report_ids", "a split must leave at least one report in the incident"
        )
    new_id = await folder.split_incident(conn, incident_id, sorted(chosen))
    await record(
        conn,
        actor=principal,
        action="incident.split",
        subject_type="incident",
        subject_id=str(incident_id),
        details={"new_incident_id": new_id, "report_ids": sorted(str(r) for r in chosen)},
    )
    return new_id
