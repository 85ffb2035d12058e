"""A report's review history, from the audit log: every ``report.reviewed`` entry (a
moderator's review, or a rejection when its device was revoked), oldest first. The report row
keeps only the latest review; the log keeps them all."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from schemas.auth import Role
from schemas.codes import ReportStatus, ReviewReason

# The log's subject index (subject_type, subject_id, id) answers this.
SELECT_REVIEWS = """
select at, actor_id, actor_role, details::text as details
from audit_log
where subject_type = 'report' and subject_id = $1 and action = 'report.reviewed'
order by id
"""


class ReviewDetails(msgspec.Struct, frozen=True):
    status: ReportStatus
    reason: ReviewReason | None = None


class ReviewRecord(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: Role | None
    status: ReportStatus
    reason: ReviewReason | None


async def review_history(conn: asyncpg.Connection, report_id: uuid.UUID) -> list[ReviewRecord]:
    records = []
    for row in await conn.fetch(SELECT_REVIEWS, str(report_id)):
        details = msgspec.json.decode(row["details"], type=ReviewDetails)
        role = row["actor_role"]
        records.append(
            ReviewRecord(
                at=row["at"],
                actor_id=row["actor_id"],
                actor_role=None if role is None else Role(role),
                status=details.status,
                reason=details.reason,
            )
        )
    return records
