"""Which reads go into the audit trail: moderators and admins reading others' reports and
photos. Owners reading their own are not audited (and cost no extra query)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from schemas.auth import Principal
from storage.audit.log import Entry, record, record_many
from storage.reports.store import can_read_all

SELECT_OWN = "select id from reports where id = any($1::uuid[]) and owner_id = $2"


async def reports_read(
    conn: asyncpg.Connection,
    reader: Principal,
    report_ids: Sequence[uuid.UUID],
    *,
    via: str,
) -> None:
    """One ``report.read`` entry per report shown to a moderator or admin who does not own it;
    ``via`` says how (``get`` one report, a ``list`` page)."""
    if not report_ids or not can_read_all(reader):
        return
    own = {row["id"] for row in await conn.fetch(SELECT_OWN, list(report_ids), reader.id)}
    await record_many(
        conn,
        [
            Entry(
                actor=reader,
                action="report.read",
                subject_type="report",
                subject_id=str(report_id),
                details={"via": via},
            )
            for report_id in report_ids
            if report_id not in own
        ],
    )


async def photo_read(
    conn: asyncpg.Connection,
    reader: Principal,
    photo_id: uuid.UUID,
    report_id: uuid.UUID,
    *,
    not_modified: bool,
) -> None:
    """A ``photo.read`` entry when a moderator or admin is served a photo of someone else's
    report (``not_modified``: a 304, the reader's cached copy was shown again)."""
    if not can_read_all(reader):
        return
    if await conn.fetchval(SELECT_OWN, [report_id], reader.id) is not None:
        return
    await record(
        conn,
        actor=reader,
        action="photo.read",
        subject_type="photo",
        subject_id=str(photo_id),
        details={"report_id": str(report_id), "not_modified": not_modified},
    )
