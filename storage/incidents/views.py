"""An incident as a moderator compares it: observers' reports beside officers' notes, each
with its identification answers, and the incident's classification (all reports, and its
verified reports only). Reading it shows report content, so it is audited as ``report.read``.
"""

from __future__ import annotations

import asyncpg
import h3
import msgspec

from schemas.auth import Principal
from schemas.codes import ReportStatus, ReviewReason, Tristate
from schemas.moderation import (
    BySource,
    IncidentReport,
    IncidentView,
    Source,
    SourceSummary,
    source_of,
)
from schemas.report import Identification
from storage.audit.reads import reports_read
from storage.errors import NotFound

# The same facts the fold counts (incident_facts_of), per scope.
SELECT_FACTS = """
select scope, reports, earliest_at, h3_cell, agency, masked, classification
from incident_facts_of(array[$1::bigint])
"""
SELECT_REPORTS = """
select id, kind, status, occurred_at, h3_cell, identification as classification,
       content -> 'identification' as answers,
       content -> 'officer' ->> 'agents_identified_to_officers' as to_officers,
       review_reason, device_id
from reports where incident_id = $1
order by occurred_at, id
"""
CLASSES = ("not_identified", "identified", "unclear")


async def incident_view(
    conn: asyncpg.Connection,
    incident_id: int,
    principal: Principal | None = None,
    *,
    via: str = "incident",
) -> IncidentView:
    """404 for an unknown incident. With ``principal``, the read is audited (one
    ``report.read`` per report shown, ``via`` saying which response showed it)."""
    facts = {row["scope"]: row for row in await conn.fetch(SELECT_FACTS, incident_id)}
    every = facts.get("all")
    if every is None:
        raise NotFound("no such incident")
    members = [_member(row) for row in await conn.fetch(SELECT_REPORTS, incident_id)]
    verified = facts.get("verified")
    view = IncidentView(
        id=incident_id,
        reports=every["reports"],
        earliest_at=every["earliest_at"],
        h3_cell=h3.int_to_str(every["h3_cell"]),
        agency=every["agency"],
        masked=every["masked"],
        classification=every["classification"],
        verified_classification=None if verified is None else verified["classification"],
        by_source=BySource(
            observer=_summary(members, Source.OBSERVER),
            officer=_summary(members, Source.OFFICER),
        ),
        observers=[m for m in members if m.source is Source.OBSERVER],
        officers=[m for m in members if m.source is Source.OFFICER],
    )
    if principal is not None:
        await reports_read(conn, principal, [m.id for m in members], via=via)
    return view


def _member(row: asyncpg.Record) -> IncidentReport:
    to_officers = row["to_officers"]
    reason = row["review_reason"]
    return IncidentReport(
        id=row["id"],
        source=source_of(row["kind"]),
        status=ReportStatus(row["status"]),
        occurred_at=row["occurred_at"],
        h3_cell=h3.int_to_str(row["h3_cell"]),
        identification=msgspec.json.decode(row["answers"], type=Identification),
        agents_identified_to_officers=None if to_officers is None else Tristate(to_officers),
        classification=row["classification"],
        review_reason=None if reason is None else ReviewReason(reason),
        device_id=row["device_id"],
    )


def _summary(members: list[IncidentReport], source: Source) -> SourceSummary:
    mine = [m for m in members if m.source is source]
    counts = {name: sum(1 for m in mine if m.classification == name) for name in CLASSES}
    return SourceSummary(reports=len(mine), **counts)
