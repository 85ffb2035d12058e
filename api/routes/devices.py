"""An observer device ends or renews its own credential: self-revocation and token rotation.

Registration (``POST /v1/devices``) and a moderator's revocation live with accounts and
moderation; these two are the device's own acts, open to observer tokens only.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, post
from litestar.datastructures import State

from api.dependencies import Transaction
from api.middleware.auth import ROLES_OPT, bearer_token
from api.problems import problem_specs
from schemas.auth import DeviceToken, Principal, Role
from storage.accounts.device_revocation import revoke_device, rotate_token
from storage.errors import Unauthenticated

DEVICES_ONLY = frozenset({Role.observer})


@delete(
    "/v1/devices/current",
    opt={ROLES_OPT: DEVICES_ONLY},
    tags=["auth"],
    summary="Revoke the calling device's own token; its reports stay counted",
    responses=problem_specs(401, 403),
)
async def revoke_current_device(conn: Transaction, request: Request[Principal, Any, State]) -> None:
    """For a phone that may be seized: the token stops working in every process when this
    commits (204), and nothing else changes: the device's reports keep their status and still
    count, and moderators can still read them. There is no undo; register a new device."""
    state = request.app.state
    await revoke_device(
        conn, request.user, request.user.id, reject_pending=False, grouping=state.grouping
    )
    state.principals.forget(request.user.id)


@post(
    "/v1/devices/current/token",
    opt={ROLES_OPT: DEVICES_ONLY},
    tags=["auth"],
    summary="Rotate the calling device's token: a new one for the same device",
    status_code=201,
    responses=problem_specs(401, 403),
)
async def rotate_device_token(
    conn: Transaction, request: Request[Principal, Any, State]
) -> DeviceToken:
    """The device keeps its id and its reports; the token that made this request stops working
    when it commits, and the new one (shown only here) is valid for a full
    PLAINSIGHT_DEVICE_TOKEN_DAYS from today. A revoked, expired or already rotated token
    cannot rotate (401)."""
    token = bearer_token(request)
    if token is None:  # the middleware let the request in with one, so never in practice
        raise Unauthenticated("a bearer token is required")
    state = request.app.state
    issued = await rotate_token(
        conn, request.user, token, token_days=state.settings.device_token_days
    )
    state.principals.forget(request.user.id)
    return DeviceToken(device_id=issued.device_id, token=issued.token, expires_at=issued.expires_at)


ROUTES = [revoke_current_device, rotate_device_token]
