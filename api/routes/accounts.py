"""Observer devices, staff sessions and admin account management."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, QueryParameter

from api import account_admin
from api.dependencies import Transaction, decode_json_body
from api.middleware.auth import ENROLMENT_OPT, PUBLIC_OPT, ROLES_OPT, bearer_token
from api.openapi import REQUEST_BODY_OPT
from api.problems import problem_specs
from api.sessions import sign_in, sign_out
from schemas.auth import (
    AccountCreate,
    AccountPage,
    AccountView,
    DeviceCreated,
    Principal,
    Role,
    SessionCreated,
    SessionRequest,
)
from storage.accounts import store as accounts
from storage.accounts.device_tokens import register_device as register_device_token

ADMIN_ONLY = frozenset({Role.admin})
PageLimit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (1-200)")]


@post("/v1/devices", opt={PUBLIC_OPT: True}, tags=["auth"], summary="Register an observer device")
async def register_device(conn: Transaction, state: State) -> DeviceCreated:
    """No personal data: the device is a random id with a bearer token (shown only once).
    The token expires after PLAINSIGHT_DEVICE_TOKEN_DAYS days without use (`expires_at`)."""
    issued = await register_device_token(conn, state.settings.device_token_days)
    return DeviceCreated(
        device_id=issued.device_id, token=issued.token, expires_at=issued.expires_at
    )


@post(
    "/v1/sessions",
    opt={PUBLIC_OPT: True, REQUEST_BODY_OPT: SessionRequest},
    tags=["auth"],
    summary="Log in to a staff account",
    responses=problem_specs(400, 401, 422),
)
async def open_session(state: State, request: Request[Any, Any, Any]) -> SessionCreated:
    """An account with a second factor also sends ``totp``. Without a valid, unused code the
    answer is a 401 whose ``code`` is ``totp_required``, given only once the password was
    right (a wrong password answers ``unauthenticated`` whatever ``totp`` holds)."""
    data = await decode_json_body(request, SessionRequest)
    session = await sign_in(state, email=data.email, password=data.password, totp=data.totp)
    enrol = (
        not session.account.second_factor
        and session.account.role in state.settings.totp_required_roles
    )
    return SessionCreated(
        token=session.token,
        role=session.account.role,
        expires_at=session.expires_at,
        totp_enrolment_required=enrol,
    )


@delete(
    "/v1/sessions/current",
    opt={
        ROLES_OPT: frozenset({Role.officer, Role.researcher, Role.moderator, Role.admin}),
        ENROLMENT_OPT: True,
    },
    tags=["auth"],
    summary="Log out (revoke the calling session token)",
    responses=problem_specs(401, 403),
)
async def close_session(conn: Transaction, request: Request[Principal, Any, Any]) -> None:
    token = bearer_token(request)
    if token is not None:
        await sign_out(conn, request.app.state, request.user, token)


@post(
    "/v1/accounts",
    opt={ROLES_OPT: ADMIN_ONLY, REQUEST_BODY_OPT: AccountCreate},
    tags=["accounts"],
    summary="Create an account",
    status_code=201,
    responses=problem_specs(400, 401, 403, 409, 422),
)
async def create_account(conn: Transaction, request: Request[Principal, Any, Any]) -> AccountView:
    data = await decode_json_body(request, AccountCreate)
    return await account_admin.create_account(conn, request.user, data)


@get(
    "/v1/accounts",
    opt={ROLES_OPT: ADMIN_ONLY},
    tags=["accounts"],
    summary="List accounts",
    responses=problem_specs(401, 403, 422),
)
async def list_accounts(
    conn: Transaction, limit: PageLimit = 50, cursor: FromQuery[str | None] = None
) -> AccountPage:
    items, next_cursor = await accounts.list_accounts(conn, limit=limit, cursor=cursor)
    return AccountPage(items=items, next_cursor=next_cursor)


@post(
    "/v1/accounts/{account_id:uuid}/disable",
    opt={ROLES_OPT: ADMIN_ONLY},
    tags=["accounts"],
    summary="Disable an account and end its sessions",
    responses=problem_specs(401, 403, 404),
    status_code=200,
)
async def disable_account(
    conn: Transaction,
    state: State,
    request: Request[Principal, Any, Any],
    account_id: FromPath[uuid.UUID],
) -> AccountView:
    return await account_admin.disable_account(conn, state, request.user, account_id)


ROUTES = [
    register_device,
    open_session,
    close_session,
    create_account,
    list_accounts,
    disable_account,
]
