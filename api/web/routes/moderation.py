"""The moderators' console: the review queue, a report with its photos and review history,
one-step reviews, the photo route, and revoking the device a report came from.

Every read and write goes through the functions the JSON API uses (and so is audited as
there); the forms are read into the API's own request types.
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from urllib.parse import urlencode

import asyncpg
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.dependencies import Transaction
from api.errors import InvalidInput
from api.routes.moderation import revoke_and_forget
from api.routes.photos import photo_response
from api.routes.reports import read_report
from api.web.moderation.forms import FormError, checkbox, review_request
from api.web.moderation.pages import STAFF_PAGE, moderation_page
from api.web.moderation.redirects import HOME, return_path, with_notice
from schemas.auth import Principal
from storage.accounts.device_revocation import device_revoked_at
from storage.moderation import reviews
from storage.moderation.history import review_history
from storage.moderation.queue import review_queue
from storage.photos import store as photos
from storage.photos.media import media_of

QUEUE_PAGE_SIZE: Final = 20
SIMILAR_PER_PHOTO: Final = 5
# Console photos are shown, never kept: not by the browser, not by a proxy.
NO_STORE: Final = "no-store"


def report_page_path(report_id: uuid.UUID) -> str:
    return f"{HOME}/reports/{report_id}"


@get(HOME, opt=STAFF_PAGE, include_in_schema=False)
async def queue_page(
    request: Request[Principal, Any, State],
    conn: Transaction,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """Pending reports, oldest first; the queue read is audited as the API's is."""
    page = await review_queue(conn, request.user, limit=QUEUE_PAGE_SIZE, cursor=cursor)
    here = HOME if cursor is None else f"{HOME}?{urlencode({'cursor': cursor})}"
    shown = [photo for item in page.items for photo in item.photos]
    ids = [photo.id for photo in shown] + [h.id for photo in shown for h in photo.near_duplicates]
    context = {"page": page, "cursor": cursor, "here": here, "media": await media_of(conn, ids)}
    return moderation_page(request, "moderation/queue.html", context)


@get(f"{HOME}/reports/{{report_id:uuid}}", opt=STAFF_PAGE, include_in_schema=False)
async def report_page(
    request: Request[Principal, Any, State], conn: Transaction, report_id: FromPath[uuid.UUID]
) -> Template:
    return await _report_page(request, conn, report_id)


@post(
    f"{HOME}/reports/{{report_id:uuid}}/review",
    opt=STAFF_PAGE,
    include_in_schema=False,
    status_code=303,
)
async def review_form(
    request: Request[Principal, Any, State], conn: Transaction, report_id: FromPath[uuid.UUID]
) -> Redirect | Template:
    """One step: the review, then back where the moderator was, saying what was done."""
    form = await request.form()
    back = return_path(form.get("return_to"), report_page_path(report_id))
    try:
        data = review_request(form)
    except FormError as error:
        return await _report_page(
            request, conn, report_id, form_error=error, return_to=back, status_code=422
        )
    review = await reviews.review_report(
        conn, request.user, report_id, data.status, data.reason, request.app.state.grouping
    )
    return Redirect(with_notice(back, review.status.value), status_code=303)


@get(
    f"{HOME}/photos/{{photo_id:uuid}}",
    opt=STAFF_PAGE,
    include_in_schema=False,
    media_type="image/jpeg",
)
async def photo(
    request: Request[Principal, Any, State], conn: Transaction, photo_id: FromPath[uuid.UUID]
) -> Response[bytes]:
    """The sanitised image, exactly as ``GET /v1/photos/{id}`` serves and audits it."""
    return await photo_response(request, conn, photo_id, cache_control=NO_STORE)


@post(
    f"{HOME}/devices/{{device_id:uuid}}/revoke",
    opt=STAFF_PAGE,
    include_in_schema=False,
    status_code=303,
)
async def revoke_device_form(
    request: Request[Principal, Any, State], conn: Transaction, device_id: FromPath[uuid.UUID]
) -> Redirect:
    form = await request.form()
    back = return_path(form.get("return_to"), HOME)
    try:
        reject_pending = checkbox(form, "reject_pending")
    except FormError as error:
        raise InvalidInput(error.field, error.detail) from error
    revoked = await revoke_and_forget(
        conn, request.app.state, request.user, device_id, reject_pending=reject_pending
    )
    if not reject_pending:
        return Redirect(with_notice(back, "device_revoked"), status_code=303)
    count = len(revoked.rejected_report_ids)
    return Redirect(with_notice(back, "device_revoked", count=count), status_code=303)


async def _report_page(
    request: Request[Principal, Any, State],
    conn: asyncpg.Connection,
    report_id: uuid.UUID,
    *,
    form_error: FormError | None = None,
    return_to: str | None = None,
    status_code: int = 200,
) -> Template:
    """The report (404, or 410 once withdrawn, as the API answers), audited as read."""
    report = await read_report(conn, request.user, report_id)
    shown = await photos.photos_of_report(conn, report_id)
    similar = {
        item.id: await photos.similar_photos(conn, item.id, limit=SIMILAR_PER_PHOTO)
        for item in shown
    }
    revoked_at = None
    if report.device_id is not None:
        revoked_at = await device_revoked_at(conn, report.device_id)
    context = {
        "report": report,
        "photos": shown,
        "similar": similar,
        "media": await media_of(
            conn, [item.id for item in shown] + [h.id for hints in similar.values() for h in hints]
        ),
        "history": await review_history(conn, report_id),
        "incident_id": await reviews.incident_of(conn, report_id),
        "device_revoked_at": revoked_at,
        "form_error": form_error,
        "return_to": return_to or report_page_path(report_id),
    }
    return moderation_page(request, "moderation/report.html", context, status_code=status_code)


ROUTES = [queue_page, report_page, review_form, photo, revoke_device_form]
