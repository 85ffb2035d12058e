"""Moderators and admins: review reports, the review queue, device revocation, incidents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import asyncpg
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, QueryParameter

from api.dependencies import Transaction, decode_json_body
from api.errors import InvalidInput
from api.middleware.auth import ROLES_OPT, STAFF
from api.openapi import REQUEST_BODY_OPT
from api.problems import problem_specs
from schemas.auth import Principal
from schemas.moderation import (
    DeviceRevoked,
    IncidentView,
    MergeRequest,
    QueuePage,
    Review,
    ReviewRequest,
    RevokeRequest,
    SplitRequest,
    SplitResult,
)
from storage.accounts.device_revocation import revoke_device
from storage.errors import NotFound
from storage.incidents import overrides as incident_overrides
from storage.incidents.views import incident_view
from storage.moderation import reviews
from storage.moderation.queue import review_queue

PageLimit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (1-200)")]
MAX_INCIDENT_ID = 2**63 - 1  # a bigint


def known_incident(incident_id: int) -> int:
    # Beyond bigint the database cannot even be asked: no such incident.
    if not 1 <= incident_id <= MAX_INCIDENT_ID:
        raise NotFound("no such incident")
    return incident_id


@post(
    "/v1/reports/{report_id:uuid}/review",
    opt={ROLES_OPT: STAFF, REQUEST_BODY_OPT: ReviewRequest},
    tags=["moderation"],
    summary="Review a report: verified, unverified or rejected (with a codebook reason)",
    status_code=200,
    responses=problem_specs(400, 401, 403, 404, 410, 422),
)
async def review_report(
    request: Request[Principal, str, State], conn: Transaction, report_id: FromPath[uuid.UUID]
) -> Review:
    """410 for a withdrawn report. A rejected report given another status counts again."""
    data = await decode_json_body(request, ReviewRequest)
    return await reviews.review_report(
        conn, request.user, report_id, data.status, data.reason, request.app.state.grouping
    )


@get(
    "/v1/moderation/queue",
    opt={ROLES_OPT: STAFF},
    tags=["moderation"],
    summary="Pending reports, oldest first, with photo provenance and near-duplicate hints",
    responses=problem_specs(401, 403, 422),
)
async def moderation_queue(
    request: Request[Principal, str, State],
    conn: Transaction,
    limit: PageLimit = 50,
    cursor: FromQuery[str | None] = None,
) -> QueuePage:
    """Keyset-paginated like GET /v1/reports; each page read is audited as `report.read`."""
    return await review_queue(conn, request.user, limit=limit, cursor=cursor)


@post(
    "/v1/devices/{device_id:uuid}/revoke",
    opt={ROLES_OPT: STAFF, REQUEST_BODY_OPT: RevokeRequest},
    tags=["moderation"],
    summary="Revoke an observer device's token; optionally reject its pending reports",
    status_code=200,
    responses=problem_specs(400, 401, 403, 404, 422),
)
async def revoke(
    request: Request[Principal, str, State], conn: Transaction, device_id: FromPath[uuid.UUID]
) -> DeviceRevoked:
    """The token stops working when this commits, in every process (PostgreSQL NOTIFY)."""
    data = await decode_json_body(request, RevokeRequest)
    return await revoke_and_forget(
        conn, request.app.state, request.user, device_id, reject_pending=data.reject_pending
    )


async def revoke_and_forget(
    conn: asyncpg.Connection,
    state: State,
    moderator: Principal,
    device_id: uuid.UUID,
    *,
    reject_pending: bool,
) -> DeviceRevoked:
    """Revoke the device (the API's route and the console's form), and drop its token from
    this process's cache at once; other processes hear of it from the commit's NOTIFY."""
    result = await revoke_device(
        conn, moderator, device_id, reject_pending=reject_pending, grouping=state.grouping
    )
    state.principals.forget(device_id)
    return result


@get(
    "/v1/incidents/{incident_id:int}",
    opt={ROLES_OPT: STAFF},
    tags=["moderation"],
    summary="An incident: observers' reports beside officers' notes, and its classification",
    responses=problem_specs(401, 403, 404),
)
async def get_incident(
    request: Request[Principal, str, State], conn: Transaction, incident_id: FromPath[int]
) -> IncidentView:
    return await incident_view(conn, known_incident(incident_id), request.user)


@post(
    "/v1/incidents/{incident_id:int}/merge",
    opt={ROLES_OPT: STAFF, REQUEST_BODY_OPT: MergeRequest},
    tags=["moderation"],
    summary="Merge another incident into this one",
    status_code=200,
    responses=problem_specs(400, 401, 403, 404, 422),
)
async def merge_incidents(
    request: Request[Principal, str, State], conn: Transaction, incident_id: FromPath[int]
) -> IncidentView:
    """Automatic grouping still applies afterwards (see the README, "Moderation")."""
    data = await decode_json_body(request, MergeRequest)
    with _field_errors():
        await incident_overrides.merge_incidents(
            conn, request.user, known_incident(incident_id), data.incident_id
        )
    return await incident_view(conn, incident_id, request.user, via="merge")


@post(
    "/v1/incidents/{incident_id:int}/split",
    opt={ROLES_OPT: STAFF, REQUEST_BODY_OPT: SplitRequest},
    tags=["moderation"],
    summary="Split reports off an incident into a new one",
    status_code=200,
    responses=problem_specs(400, 401, 403, 404, 422),
)
async def split_incident(
    request: Request[Principal, str, State], conn: Transaction, incident_id: FromPath[int]
) -> SplitResult:
    """Automatic grouping still applies afterwards (see the README, "Moderation")."""
    data = await decode_json_body(request, SplitRequest)
    with _field_errors():
        new_id = await incident_overrides.split_incident(
            conn, request.user, known_incident(incident_id), data.report_ids
        )
    # The response shows both parts' reports: each read is audited like the incident view's.
    return SplitResult(
        incident=await incident_view(conn, incident_id, request.user, via="split"),
        new_incident=await incident_view(conn, new_id, request.user, via="split"),
    )


@contextmanager
def _field_errors() -> Iterator[None]:
    # Storage names the offending body field; the API answers it like any validation error.
    try:
        yield
    except incident_overrides.InvalidOverride as exc:
        raise InvalidInput(exc.field, exc.detail) from exc


ROUTES = [
    review_report,
    moderation_queue,
    revoke,
    get_incident,
    merge_incidents,
    split_incident,
]
