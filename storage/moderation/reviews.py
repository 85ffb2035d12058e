"""A moderator's review of a report. The review sets the report's status and marks it for
the folder (storage/incidents/folder.py), which works out what changes, in the same transaction so
the answer shows it:

- verified: the report enters the 'verified' scope (its incident's verified facts change);
- from verified to unverified: it leaves that scope again;
- rejected: it leaves every scope it counted in and its incident, which is re-evaluated as
  after a withdrawal (it may split or disappear);
- from rejected to verified or unverified: it counts again and is grouped as a new report is,
  which may merge the incidents it bridges again.

Withdrawn reports answer 410, as reading them does. Locks: the folder's first, then the
report row.
"""

from __future__ import annotations

import uuid

import asyncpg

from schemas.auth import Principal
from schemas.codes import ReportStatus, ReviewReason
from schemas.moderation import Review, ReviewOutcome
from storage.audit.log import Entry, record_many
from storage.errors import Gone, NotFound
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule

LOCK_STATE = "select status from reports where id = $1 for update"
SET_REVIEW = """
update reports
set status = $2::text, review_reason = $3, reviewed_by = $4, reviewed_at = now(),
    fold_pending_since = now()
where id = $1
returning status, review_reason, reviewed_by, reviewed_at
"""
SELECT_INCIDENT = "select incident_id from reports where id = $1"


async def lock_report(conn: asyncpg.Connection, report_id: uuid.UUID) -> asyncpg.Record:
    """The folder's lock, then the report's row; returns its status."""
    await folder.lock(conn)
    row = await conn.fetchrow(LOCK_STATE, report_id)
    if row is None:
        raise NotFound("no such report")
    return row


async def review_report(
    conn: asyncpg.Connection,
    principal: Principal,
    report_id: uuid.UUID,
    outcome: ReviewOutcome,
    reason: ReviewReason | None,
    grouping: GroupingRule,
) -> Review:
    """Set the report's status and log the change for the statistics, in the caller's
    transaction; audited as ``report.reviewed`` (last: the audit log serialises appenders
    until commit)."""
    row = await lock_report(conn, report_id)
    review = await _apply(conn, principal, report_id, row, outcome, reason, grouping)
    await record_many(conn, [audit_entry(principal, review)])
    return review


async def reject_if_pending(
    conn: asyncpg.Connection,
    principal: Principal,
    report_id: uuid.UUID,
    reason: ReviewReason,
    grouping: GroupingRule,
) -> Review | None:
    """Reject the report if it is still pending once locked (a moderator may have reviewed
    it meanwhile: that decision stands); the review, for the caller to audit, or None."""
    row = await lock_report(conn, report_id)
    if row["status"] != ReportStatus.PENDING:
        return None
    return await _apply(conn, principal, report_id, row, ReviewOutcome.REJECTED, reason, grouping)


def audit_entry(principal: Principal, review: Review) -> Entry:
    return Entry(
        actor=principal,
        action="report.reviewed",
        subject_type="report",
        subject_id=str(review.report_id),
        details={
            "status": review.status.value,
            "reason": None if review.reason is None else review.reason.value,
        },
    )


async def _apply(
    conn: asyncpg.Connection,
    principal: Principal,
    report_id: uuid.UUID,
    row: asyncpg.Record,
    outcome: ReviewOutcome,
    reason: ReviewReason | None,
    grouping: GroupingRule,
) -> Review:
    current = ReportStatus(row["status"])
    if current is ReportStatus.WITHDRAWN:
        raise Gone("this report was withdrawn by its reporter")
    updated = await conn.fetchrow(
        SET_REVIEW, report_id, outcome.value, None if reason is None else reason.value, principal.id
    )
    assert updated is not None  # locked above
    await folder.fold_reports(conn, grouping, [report_id])
    return Review(
        report_id=report_id,
        status=ReportStatus(updated["status"]),
        reason=None if updated["review_reason"] is None else ReviewReason(updated["review_reason"]),
        reviewed_at=updated["reviewed_at"],
        reviewed_by=updated["reviewed_by"],
        incident_id=await incident_of(conn, report_id),
    )


async def incident_of(conn: asyncpg.Connection, report_id: uuid.UUID) -> int | None:
    """The report's incident (None while ungrouped, or once rejected or withdrawn)."""
    incident_id: int | None = await conn.fetchval(SELECT_INCIDENT, report_id)
    return incident_id
