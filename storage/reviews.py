"""A moderator's review of a report, and what it changes in the statistics.

- verified: the report enters the 'verified' scope (a +1 report change row, which also queues
  its incident for the fold, whose verified facts change);
- from verified to unverified: it leaves that scope again (-1);
- rejected: it leaves every scope it counted in and its incident, which is re-evaluated as
  after a withdrawal (it may split or disappear);
- from rejected to verified or unverified: it counts again and is grouped as a new report is
  (``regroup_report``), which may merge the incidents it bridges again.

Withdrawn reports answer 410, as reading them does. Locks are taken as a withdrawal takes
them: the incident row, then the report row, re-read until the report has not moved (a
rejected report has no incident; regrouping it then takes ingest's locks).
"""

from __future__ import annotations

import uuid

import asyncpg
import h3.api.basic_int as h3i

from schemas.auth import Principal
from schemas.codes import ReportStatus, ReviewReason
from schemas.moderation import Review, ReviewOutcome
from storage.audit import Entry, record_many
from storage.errors import Gone, NotFound
from storage.incidents import (
    COARSENED_RESOLUTION,
    GroupingRule,
    lock_incident,
    reevaluate_incident,
)
from storage.reports import LOG_WITHDRAWAL

SELECT_STATE = "select incident_id, status, occurred_at, h3_cell from reports where id = $1"
LOCK_STATE = SELECT_STATE + " for update"
# The report enters (+1) or leaves (-1) the verified scope; its incident is queued with it.
LOG_VERIFIED = """
insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                           masked, kind, identification)
select incident_id, 'verified', $2::smallint, occurred_at, h3_cell, agency, masked, kind,
       identification
from reports where id = $1 and incident_id is not null
"""
# The report leaving every scope it counted in is LOG_WITHDRAWAL, written before this.
SET_REVIEW = """
update reports
set status = $2::text, review_reason = $3, reviewed_by = $4, reviewed_at = now(),
    incident_id = case when $2::text = 'rejected' then null else incident_id end
where id = $1
returning status, review_reason, reviewed_by, reviewed_at, incident_id
"""
REGROUP = "select regroup_report($1, $2, $3, $4)"


async def lock_report(conn: asyncpg.Connection, report_id: uuid.UUID) -> asyncpg.Record:
    """Lock the report's incident, then the report (the order a merging ingest takes them
    in); again if a merge moved the report meanwhile. Returns its incident and status."""
    while True:
        row = await conn.fetchrow(SELECT_STATE, report_id)
        if row is None:
            raise NotFound("no such report")
        if row["incident_id"] is not None:
            await lock_incident(conn, row["incident_id"])
        locked = await conn.fetchrow(LOCK_STATE, report_id)
        assert locked is not None  # reports are never deleted, only purged
        if locked["incident_id"] == row["incident_id"]:
            return locked


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
    reinstated = current is ReportStatus.REJECTED and outcome is not ReviewOutcome.REJECTED
    was_verified = current is ReportStatus.VERIFIED
    # Change rows describe the report as it counted before this review.
    if outcome is ReviewOutcome.REJECTED:
        if current is not ReportStatus.REJECTED:
            await conn.execute(LOG_WITHDRAWAL, report_id)
    elif outcome is ReviewOutcome.VERIFIED and not was_verified and not reinstated:
        await conn.execute(LOG_VERIFIED, report_id, 1)
    elif outcome is not ReviewOutcome.VERIFIED and was_verified:
        await conn.execute(LOG_VERIFIED, report_id, -1)
    updated = await conn.fetchrow(
        SET_REVIEW, report_id, outcome.value, None if reason is None else reason.value, principal.id
    )
    assert updated is not None  # locked above
    incident_id = updated["incident_id"]
    left = row["incident_id"]
    if outcome is ReviewOutcome.REJECTED and left is not None:
        await reevaluate_incident(conn, grouping, left)
    if reinstated:
        # Counted again ('all' change row in regroup_report), then verified if so.
        # A cell coarsened by retention is grouped with nothing: its report forms an incident
        # of its own (the grouping rule is defined on res-9 cells).
        cells: list[int] = []
        keys: list[int] = []
        if h3i.get_resolution(row["h3_cell"]) > COARSENED_RESOLUTION:
            around = grouping.neighbourhood(row["h3_cell"], row["occurred_at"])
            cells, keys = around.cells, around.lock_keys
        incident_id = await conn.fetchval(REGROUP, report_id, cells, grouping.window, keys)
        if outcome is ReviewOutcome.VERIFIED:
            await conn.execute(LOG_VERIFIED, report_id, 1)
    return Review(
        report_id=report_id,
        status=ReportStatus(updated["status"]),
        reason=None if updated["review_reason"] is None else ReviewReason(updated["review_reason"]),
        reviewed_at=updated["reviewed_at"],
        reviewed_by=updated["reviewed_by"],
        incident_id=incident_id,
    )
