"""The audit log for admins: paged newest first and filterable, and the chain verification of
``plainsight audit verify`` run from the page.

Reading the log is audited (``audit.read``): neither the API nor the CLI reads entries, so
there was no precedent to follow, and the log says who read which report and photo; who looked
at that is worth a trace too. The entry names the filters used, never their values (an admin
may type anything into them). Verifying is not audited, as the CLI's verify is not: it shows
no entry, only whether the chain holds.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Template

from api.dependencies import Transaction
from api.web.routes.admin_accounts import ADMIN_PAGE
from api.web.templating import render
from schemas.auth import Principal
from storage.audit import log as audit
from storage.audit.checkpoints import (
    CheckpointError,
    ConflictingAnchors,
    anchors_of,
    saved_checkpoints,
)
from storage.audit.listing import AuditFilters, list_entries
from storage.db.pool import Database
from storage.reports import receipt_keys

AUDIT_PATH: Final = "/admin/audit"
PAGE_SIZE: Final = 50
MAX_TEXT: Final = 200
FILTER_FIELDS: Final = ("action", "actor", "subject_type", "subject_id", "since", "until")


class FilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _text(raw: str, field: str) -> str | None:
    value = raw.strip()
    if len(value) > MAX_TEXT:
        raise FilterError(field, "admin.filter_too_long")
    return value or None


def _day(raw: str, field: str) -> date | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(field, "admin.filter_bad_date") from None


def parse_filters(query: dict[str, str]) -> tuple[AuditFilters, dict[str, str]]:
    """The filters of the GET form, and the fields that could not be read (field → words).
    Dates are whole UTC days, both ends included."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    checks: dict[str, Callable[[str], object]] = {
        "action": _action,
        "actor": _actor,
        "subject_type": functools.partial(_text, field="subject_type"),
        "subject_id": functools.partial(_text, field="subject_id"),
        "since": functools.partial(_day, field="since"),
        "until": functools.partial(_day, field="until"),
    }
    for field, check in checks.items():
        try:
            values[field] = check(query.get(field, ""))
        except FilterError as exc:
            errors[exc.field] = exc.message
    since, until = values.get("since"), values.get("until")
    if since is not None and until is not None and until < since:
        errors["until"] = "admin.filter_until_before_since"
    filters = AuditFilters(
        action=values.get("action"),
        actor_id=values.get("actor"),
        subject_type=values.get("subject_type"),
        subject_id=values.get("subject_id"),
        since=None if since is None else datetime.combine(since, time(), UTC),
        until=None if until is None else datetime.combine(until + timedelta(days=1), time(), UTC),
    )
    return filters, errors


def _action(raw: str) -> str | None:
    value = _text(raw, "action")
    if value is not None and not audit.ACTION_CODE.fullmatch(value):
        raise FilterError("action", "admin.filter_bad_action")
    return value


def _actor(raw: str) -> uuid.UUID | None:
    value = _text(raw, "actor")
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FilterError("actor", "admin.filter_bad_actor") from None


def _before(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw) or None


@get(AUDIT_PATH, opt=ADMIN_PAGE, include_in_schema=False)
async def audit_page(request: Request[Principal, Any, Any], conn: Transaction) -> Template:
    query = {name: str(request.query_params.get(name) or "") for name in FILTER_FIELDS}
    filters, errors = parse_filters(query)
    if errors:
        return _page(
            request, query, errors, entries=[], next_before=None, paged=False, status_code=422
        )
    before = _before(request.query_params.get("before"))
    entries, next_before = await list_entries(conn, filters, limit=PAGE_SIZE, before_id=before)
    await audit.record(
        conn,
        actor=request.user,
        action="audit.read",
        details={
            "filters": [name for name in FILTER_FIELDS if query[name].strip()],
            "entries": len(entries),
            "first_page": before is None,
        },
    )
    return _page(
        request, query, errors, entries=entries, next_before=next_before, paged=before is not None
    )


def _page(
    request: Request[Principal, Any, Any],
    query: dict[str, str],
    errors: dict[str, str],
    *,
    entries: list[Any],
    next_before: int | None,
    paged: bool,
    status_code: int = 200,
) -> Template:
    # The next page keeps the filters; the form's fields are the only query parameters.
    next_query = {name: value for name, value in query.items() if value}
    return render(
        request,
        "admin/audit.html",
        {
            "query": query,
            "errors": errors,
            "entries": entries,
            "next_query": {**next_query, "before": next_before} if next_before else None,
            "filtered": bool(next_query),
            "newest_query": next_query if paged else None,
        },
        status_code=status_code,
    )


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What the page shows: the verification, or why it could not use the checkpoints."""

    result: audit.VerifyResult | None
    checkpoints: int
    checkpoint_error: str | None = None


async def check_chain(state: State) -> ChainCheck:
    """``audit verify`` with every checkpoint ``audit checkpoint`` saved in the data folder as
    its anchors, in a snapshot of its own (not the request's transaction)."""
    db: Database = state.db
    async with db.acquire() as conn:
        trusted = await receipt_keys.trusted_keys(conn, state.signer)
    try:
        checkpoints = saved_checkpoints(state.settings.data_path, trusted)
        anchors = anchors_of((cp.last_id, cp.last_hash) for cp in checkpoints)
    except (CheckpointError, ConflictingAnchors) as exc:
        return ChainCheck(result=None, checkpoints=0, checkpoint_error=str(exc))
    async with db.acquire() as conn:
        result = await audit.verify(conn, anchors=anchors)
    return ChainCheck(result=result, checkpoints=len(checkpoints))


@post(f"{AUDIT_PATH}/verify", opt=ADMIN_PAGE, include_in_schema=False, status_code=200)
async def verify_chain(request: Request[Principal, Any, Any], state: State) -> Template:
    """The result is shown in the response (nothing changed, so nothing to redirect to)."""
    check = await check_chain(state)
    return render(request, "admin/audit_verify.html", {"check": check})


ROUTES = [audit_page, verify_chain]
