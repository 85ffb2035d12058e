"""Field reports and officer notes: submit, read, list, withdraw."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter

from api.dependencies import Transaction, decode_json_body
from api.errors import InvalidInput
from api.json_response import JSONResponse
from api.middleware.auth import REPORTERS, ROLES_OPT
from api.openapi import REQUEST_BODY_OPT
from api.problems import problem_specs
from schemas.auth import Principal, Role
from schemas.codes import ReportStatus
from schemas.receipts import ReportCreated
from schemas.report import ReportIn, ReportView, minimise
from storage.audit import log as audit
from storage.audit import reads as audit_reads
from storage.db.pool import Database
from storage.evidence.sealer import purge_queued
from storage.photos import store as photos
from storage.reports import store as reports

READERS = frozenset({Role.observer, Role.officer, Role.moderator, Role.admin})
OWNERS = frozenset({Role.observer, Role.officer, Role.admin})
# Which report kinds each role may submit (admins may test either).
KINDS_BY_ROLE = {
    Role.observer: frozenset({"observer_report"}),
    Role.officer: frozenset({"officer_note"}),
    Role.admin: frozenset({"observer_report", "officer_note"}),
}


def with_article(noun: str) -> str:
    """The kind with its article: "an observer_report", "an officer_note"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


PageLimit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (1-200)")]


class ReportPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ReportView]
    next_cursor: str | None


@post(
    "/v1/reports",
    opt={ROLES_OPT: REPORTERS, REQUEST_BODY_OPT: ReportIn},
    tags=["reports"],
    summary="Submit a report (idempotent on client_id)",
    status_code=201,
    responses={
        200: ResponseSpec(
            ReportCreated,
            generate_examples=False,
            description="The same report again: the original answer (`receipt` null once"
            " retention has rewritten the report; see README, Retention)",
        ),
        **problem_specs(400, 401, 403, 409, 410, 413, 422),
    },
)
async def submit_report(request: Request[Principal, str, State]) -> Response[ReportCreated]:
    """201 when stored; 200 with the original body when the same report is re-sent;
    409 when the client_id was used for different content; 410 when it was withdrawn."""
    report: ReportIn = await decode_json_body(request, ReportIn)  # type: ignore[arg-type]
    principal = request.user
    kind = reports.kind_of(report)
    if kind not in KINDS_BY_ROLE.get(principal.role, frozenset()):
        detail = f"the {principal.role} role may not submit {with_article(kind)}"
        raise InvalidInput("$.kind", detail, status=403, code="kind_not_allowed")
    state = request.app.state
    # The hottest path takes its connection directly (no dependency injection) and runs one
    # statement (one INSERT; the folder groups and counts it later), atomic on its own: no
    # BEGIN/COMMIT.
    async with state.db.acquire() as conn:
        submission = await reports.submit_report(
            conn,
            principal=principal,
            content=minimise(report),
            signer=state.signer,
        )
    return JSONResponse(submission.created, status_code=200 if submission.replayed else 201)


@get(
    "/v1/reports/{report_id:uuid}",
    opt={ROLES_OPT: READERS},
    tags=["reports"],
    summary="Read one report (location as its H3 cell)",
    responses=problem_specs(401, 403, 404, 410),
)
async def get_report(
    request: Request[Principal, str, State], conn: Transaction, report_id: FromPath[uuid.UUID]
) -> ReportView:
    return await read_report(conn, request.user, report_id)


async def read_report(
    conn: asyncpg.Connection, reader: Principal, report_id: uuid.UUID
) -> ReportView:
    """One report for a reader allowed to see it, audited as ``report.read`` (the API's and
    the console's report pages)."""
    view = await reports.get_report(conn, reader, report_id)
    await audit_reads.reports_read(conn, reader, [report_id], via="get")
    return view


@get(
    "/v1/reports",
    opt={ROLES_OPT: READERS},
    tags=["reports"],
    summary="List reports, newest first (own reports; moderators and admins: all)",
    responses=problem_specs(401, 403, 422),
)
async def list_reports(
    request: Request[Principal, str, State],
    conn: Transaction,
    limit: PageLimit = 50,
    cursor: FromQuery[str | None] = None,
    status: FromQuery[ReportStatus | None] = None,
) -> ReportPage:
    if status is not None and not reports.can_read_all(request.user):
        raise InvalidInput(
            "status",
            "only moderators and admins may filter by status",
            status=403,
            code="forbidden",
        )
    items, next_cursor = await reports.list_reports(
        conn,
        request.user,
        limit=limit,
        cursor=cursor,
        status=None if status is None else status.value,
    )
    await audit_reads.reports_read(conn, request.user, [item.id for item in items], via="list")
    return ReportPage(items=items, next_cursor=next_cursor)


@delete(
    "/v1/reports/{report_id:uuid}",
    opt={ROLES_OPT: OWNERS},
    tags=["reports"],
    summary="Withdraw one's own report: content and photos are purged",
    responses=problem_specs(401, 403, 404),
)
async def withdraw_report(
    request: Request[Principal, str, State], report_id: FromPath[uuid.UUID]
) -> None:
    state = request.app.state
    db: Database = state.db
    async with db.transaction() as conn:
        await reports.withdraw_report(conn, request.user, report_id, state.grouping)
        released = await photos.delete_report_photos(conn, report_id)
        await audit.record(
            conn,
            actor=request.user,
            action="report.withdrawn",
            subject_type="report",
            subject_id=str(report_id),
        )
    # After the commit: a blob goes only once no row refers to it (a crash here leaves
    # orphans for `plainsight gc`, never a row without its blob).
    if released:
        async with db.acquire() as conn:
            await photos.release_blobs(conn, state.blobs, released)
            # Deleting the photos queued their sealed originals, if any (storage/evidence).
            await purge_queued(conn, state.sealed_originals)


ROUTES = [submit_report, get_report, list_reports, withdraw_report]
