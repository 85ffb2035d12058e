"""The console's incident page: observers' reports beside officers' notes, with the API's
classification summaries, and the merge and split forms (the API's own overrides)."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict, State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.dependencies import Transaction
from api.routes.moderation import known_incident
from api.web.moderation.forms import (
    MAX_FIELD,
    FormError,
    merge_request,
    override_error,
    split_request,
)
from api.web.moderation.pages import STAFF_PAGE, moderation_page
from api.web.moderation.redirects import HOME, with_notice
from schemas.auth import Principal
from storage.incidents import overrides
from storage.incidents.overrides import InvalidOverride
from storage.incidents.views import incident_view


def incident_page_path(incident_id: int) -> str:
    return f"{HOME}/incidents/{incident_id}"


@get(f"{HOME}/incidents/{{incident_id:int}}", opt=STAFF_PAGE, include_in_schema=False)
async def incident_page(
    request: Request[Principal, Any, State], conn: Transaction, incident_id: FromPath[int]
) -> Template:
    return await _incident_page(request, conn, incident_id)


@post(
    f"{HOME}/incidents/{{incident_id:int}}/merge",
    opt=STAFF_PAGE,
    include_in_schema=False,
    status_code=303,
)
async def merge_form(
    request: Request[Principal, Any, State], conn: Transaction, incident_id: FromPath[int]
) -> Redirect | Template:
    """The other incident's reports join this one; back to this incident."""
    form = await request.form()
    this = known_incident(incident_id)
    try:
        other = merge_request(form).incident_id
        await overrides.merge_incidents(conn, request.user, this, other)
    except (FormError, InvalidOverride) as exc:
        return await _incident_page(request, conn, this, merge_error=_form_error(exc), sent=form)
    return Redirect(with_notice(incident_page_path(this), "merged"), status_code=303)


@post(
    f"{HOME}/incidents/{{incident_id:int}}/split",
    opt=STAFF_PAGE,
    include_in_schema=False,
    status_code=303,
)
async def split_form(
    request: Request[Principal, Any, State], conn: Transaction, incident_id: FromPath[int]
) -> Redirect | Template:
    """The chosen reports become a new incident; back to this one, linking the new one."""
    form = await request.form()
    this = known_incident(incident_id)
    try:
        chosen = split_request(form).report_ids
        new_id = await overrides.split_incident(conn, request.user, this, chosen)
    except (FormError, InvalidOverride) as exc:
        return await _incident_page(request, conn, this, split_error=_form_error(exc), sent=form)
    return Redirect(
        with_notice(incident_page_path(this), "split", incident=new_id), status_code=303
    )


async def _incident_page(
    request: Request[Principal, Any, State],
    conn: asyncpg.Connection,
    incident_id: int,
    *,
    merge_error: FormError | None = None,
    split_error: FormError | None = None,
    sent: FormMultiDict | None = None,
) -> Template:
    """404 for an unknown incident; each report shown is audited as read (as the API's)."""
    view = await incident_view(conn, known_incident(incident_id), request.user)
    failed = merge_error is not None or split_error is not None
    return moderation_page(
        request,
        "moderation/incident.html",
        {
            "incident": view,
            "merge_error": merge_error,
            "split_error": split_error,
            # A refused form comes back as it was sent, to be corrected rather than retyped.
            "merge_value": str(sent.get("incident_id") or "")[:MAX_FIELD] if sent else "",
            "split_chosen": {str(v) for v in sent.getall("report_ids", [])} if sent else set(),
        },
        status_code=422 if failed else 200,
    )


def _form_error(exc: FormError | InvalidOverride) -> FormError:
    return exc if isinstance(exc, FormError) else override_error(exc)


ROUTES = [incident_page, merge_form, split_form]
