"""Admin pages for staff accounts: the list, creating, disabling, re-enabling, and issuing a
one-time password reset code. The storage calls and audit entries are the API's own
(api.account_admin); the new account is checked with the API's AccountCreate."""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api import account_admin
from api.dependencies import Transaction
from api.errors import field_of_validation_error
from api.middleware.auth import CONSOLE_OPT, ROLES_OPT
from api.routes.accounts import ADMIN_ONLY
from api.web.templating import render
from schemas.auth import (
    ACCOUNT_ROLES,
    AccountCreate,
    AccountRole,
    Email,
    NewPassword,
    Principal,
)
from storage.accounts import store as accounts
from storage.errors import Conflict, NotFound

ADMIN_PAGE: Final = {CONSOLE_OPT: True, ROLES_OPT: ADMIN_ONLY}
ACCOUNTS_PATH: Final = "/admin/accounts"
PAGE_SIZE: Final = 50
MAX_FIELD: Final = 1024  # longer than any e-mail address or password AccountCreate accepts
# What the list says after a form: a key in the query string, never a value of the form.
NOTICES: Final = {
    "created": "admin.notice_created",
    "disabled": "admin.notice_disabled",
    "enabled": "admin.notice_enabled",
}
# AccountCreate's field → the words beside it when it fails.
FIELD_ERRORS: Final = {
    "email": "admin.invalid_email",
    "role": "admin.invalid_role",
    "password": "admin.invalid_password",
}
FIELD_TYPES: Final[dict[str, Any]] = {"email": Email, "role": AccountRole, "password": NewPassword}
NO_STORE: Final = {"Cache-Control": "no-store"}


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


async def _accounts_page(
    request: Request[Principal, Any, Any],
    conn: Any,
    *,
    cursor: str | None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    items, next_cursor = await accounts.list_accounts(conn, limit=PAGE_SIZE, cursor=cursor)
    return render(
        request,
        "admin/accounts.html",
        {
            "accounts": items,
            "next_cursor": next_cursor,
            "first_page": cursor is None,
            "notice": notice,
            "roles": ACCOUNT_ROLES,
            "form": form or {"email": "", "role": ""},
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _account_id(raw: str) -> uuid.UUID:
    """The path's account id; a malformed one names no account (a 404 page, as the router's
    own mismatch would be a bare problem+json, answered before the console's error pages)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such account") from None


def _checked(values: dict[str, str]) -> tuple[AccountCreate | None, dict[str, str]]:
    """The API's rules (AccountCreate and its field types), every failing field named, in the
    reader's words rather than msgspec's."""
    errors = {}
    for name, field_type in FIELD_TYPES.items():
        try:
            msgspec.convert(values[name], field_type)
        except msgspec.ValidationError:
            errors[name] = FIELD_ERRORS[name]
    if errors:
        return None, errors
    try:
        return msgspec.convert(values, AccountCreate), {}
    except msgspec.ValidationError as exc:  # a rule across fields (an observer account)
        field = field_of_validation_error(str(exc))[0].removeprefix("$.")
        field = field if field in FIELD_ERRORS else "email"
        return None, {field: FIELD_ERRORS[field]}


@get(ACCOUNTS_PATH, opt=ADMIN_PAGE, include_in_schema=False)
async def accounts_page(request: Request[Principal, Any, Any], conn: Transaction) -> Template:
    cursor = request.query_params.get("cursor") or None
    notice = NOTICES.get(str(request.query_params.get("notice")))
    return await _accounts_page(request, conn, cursor=cursor, notice=notice)


@post(ACCOUNTS_PATH, opt=ADMIN_PAGE, include_in_schema=False, status_code=303)
async def create_account(
    request: Request[Principal, Any, Any], conn: Transaction
) -> Template | Redirect:
    form = await request.form()
    email = _form_text(form, "email").strip()
    role = _form_text(form, "role")
    password = _form_text(form, "password")
    data, errors = _checked({"email": email, "role": role, "password": password})
    if password != _form_text(form, "confirm"):
        errors["confirm"] = "admin.passwords_differ"
    status = 422
    if data is not None and not errors:
        try:
            await account_admin.create_account(conn, request.user, data)
        except Conflict:
            errors["email"] = "admin.email_taken"
            status = 409
        else:
            return Redirect(f"{ACCOUNTS_PATH}?notice=created", status_code=303)
    return await _accounts_page(
        request,
        conn,
        cursor=None,
        form={"email": email, "role": role},  # never the password back into the page
        errors=errors,
        status_code=status,
    )


@post(f"{ACCOUNTS_PATH}/{{account_id:str}}/disable", opt=ADMIN_PAGE, include_in_schema=False)
async def disable_account(
    request: Request[Principal, Any, Any],
    conn: Transaction,
    state: State,
    account_id: FromPath[str],
) -> Redirect:
    await account_admin.disable_account(conn, state, request.user, _account_id(account_id))
    return Redirect(f"{ACCOUNTS_PATH}?notice=disabled", status_code=303)


@post(f"{ACCOUNTS_PATH}/{{account_id:str}}/enable", opt=ADMIN_PAGE, include_in_schema=False)
async def enable_account(
    request: Request[Principal, Any, Any], conn: Transaction, account_id: FromPath[str]
) -> Redirect:
    await account_admin.enable_account(conn, request.user, _account_id(account_id))
    return Redirect(f"{ACCOUNTS_PATH}?notice=enabled", status_code=303)


@post(
    f"{ACCOUNTS_PATH}/{{account_id:str}}/reset",
    opt=ADMIN_PAGE,
    include_in_schema=False,
    status_code=200,
)
async def issue_reset(
    request: Request[Principal, Any, Any],
    conn: Transaction,
    state: State,
    account_id: FromPath[str],
) -> Template:
    """The code is shown in this response only: no redirect, so it never travels in a URL,
    and no-store, so no cache keeps it."""
    target = _account_id(account_id)
    issued = await account_admin.issue_reset(conn, state, request.user, target)
    account = await accounts.account_view(conn, target)
    return render(
        request,
        "admin/reset_code.html",
        {"account": account, "code": issued.code, "expires_at": issued.expires_at},
        headers=NO_STORE,
    )


ROUTES = [accounts_page, create_account, disable_account, enable_account, issue_reset]
