"""Staff account security: TOTP second factor, password change, re-enabling, password resets.

Every change is audited without its secret (no code, password, TOTP secret or e-mail address
in the details). Checks of a secret (a TOTP code, the current password) count against a limit
per account (PLAINSIGHT_RATE_LIMIT_CREDENTIAL_CHECKS), on top of the route's own limit.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, delete, post
from litestar.datastructures import State
from litestar.params import FromPath

from api import account_admin, password_reset
from api.account_admin import record_account_event
from api.dependencies import Transaction, decode_json_body
from api.errors import InvalidInput
from api.middleware.auth import ACCOUNT_HOLDERS, ENROLMENT_OPT, PUBLIC_OPT, ROLES_OPT, bearer_token
from api.middleware.credential_checks import count_credential_check
from api.openapi import REQUEST_BODY_OPT
from api.problems import problem_specs
from schemas.auth import (
    AccountView,
    PasswordChange,
    PasswordReset,
    Principal,
    ResetIssued,
    Role,
    TotpConfirmation,
    TotpEnrolment,
)
from storage.accounts import password_resets, totp
from storage.accounts import store as accounts
from storage.errors import Conflict, Forbidden

ADMIN_ONLY = frozenset({Role.admin})
WRONG_CODE = "the code is not valid (wrong, expired or already used)"


class SecondFactorMandatory(Forbidden):
    code = "totp_required_for_role"


def _forget(state: State, account_id: uuid.UUID) -> None:
    """This process's cached lookups of the account are stale (others hear a notification)."""
    state.principals.forget(account_id)


# --- TOTP, for the account holder itself ----------------------------------------------------


@post(
    "/v1/accounts/current/totp",
    opt={ROLES_OPT: ACCOUNT_HOLDERS, ENROLMENT_OPT: True},
    tags=["accounts"],
    summary="Start enrolling a TOTP second factor (the secret is shown once)",
    status_code=201,
    responses=problem_specs(401, 403, 409),
)
async def start_totp_enrolment(
    conn: Transaction, request: Request[Principal, Any, Any]
) -> TotpEnrolment:
    """A new secret each call; it becomes active only when a code from it is confirmed."""
    secret, uri = await totp.start_enrolment(conn, request.user.id)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@post(
    "/v1/accounts/current/totp/confirm",
    opt={ROLES_OPT: ACCOUNT_HOLDERS, ENROLMENT_OPT: True, REQUEST_BODY_OPT: TotpConfirmation},
    tags=["accounts"],
    summary="Activate the TOTP second factor with a code from the authenticator app",
    status_code=204,
    responses=problem_specs(400, 401, 403, 409, 422),
)
async def confirm_totp(
    conn: Transaction, state: State, request: Request[Principal, Any, Any]
) -> None:
    data = await decode_json_body(request, TotpConfirmation)
    account_id = request.user.id
    await count_credential_check(state, account_id)
    if not await totp.confirm_enrolment(conn, account_id, data.code):
        raise InvalidInput("$.code", WRONG_CODE, code="totp_invalid")
    await accounts.notify_revoked(conn, account_id)
    await record_account_event(conn, request.user, "account.totp_enabled", account_id)
    _forget(state, account_id)


@post(
    "/v1/accounts/current/totp/disable",
    opt={ROLES_OPT: ACCOUNT_HOLDERS, REQUEST_BODY_OPT: TotpConfirmation},
    tags=["accounts"],
    summary="Turn one's own TOTP second factor off (a current code proves the holder)",
    status_code=204,
    responses=problem_specs(400, 401, 403, 409, 422),
)
async def disable_totp(
    conn: Transaction, state: State, request: Request[Principal, Any, Any]
) -> None:
    data = await decode_json_body(request, TotpConfirmation)
    user = request.user
    if user.role in state.settings.totp_required_roles:
        raise SecondFactorMandatory(
            f"the {user.role} role must use a second factor (PLAINSIGHT_REQUIRE_TOTP)"
        )
    if not await totp.has_totp(conn, user.id):
        raise Conflict("the account has no second factor")
    await count_credential_check(state, user.id)
    if not await totp.use_code(conn, user.id, data.code):
        raise InvalidInput("$.code", WRONG_CODE, code="totp_invalid")
    await totp.remove(conn, user.id)
    await accounts.notify_revoked(conn, user.id)
    await record_account_event(conn, user, "account.totp_disabled", user.id)
    _forget(state, user.id)


# --- password change ------------------------------------------------------------------------


@post(
    "/v1/accounts/current/password",
    opt={ROLES_OPT: ACCOUNT_HOLDERS, REQUEST_BODY_OPT: PasswordChange},
    tags=["accounts"],
    summary="Change one's own password; the account's other sessions end",
    status_code=204,
    responses=problem_specs(400, 401, 403, 422),
)
async def change_password(
    conn: Transaction, state: State, request: Request[Principal, Any, Any]
) -> None:
    data = await decode_json_body(request, PasswordChange)
    user = request.user
    token = bearer_token(request)
    if token is None:  # authenticated, so a token was sent; keeps mypy and the reader sure
        raise Forbidden("a bearer token is required")
    await count_credential_check(state, user.id)
    try:
        await password_resets.change_password(
            conn,
            user.id,
            current_password=data.current_password,
            new_password=data.new_password,
            keep_session=token,
        )
    except password_resets.WrongPassword:
        raise InvalidInput(
            "$.current_password", "the current password is not correct", code="wrong_password"
        ) from None
    await record_account_event(conn, user, "account.password_changed", user.id)
    _forget(state, user.id)


# --- admin: enable, reset, remove a second factor -------------------------------------------


@post(
    "/v1/accounts/{account_id:uuid}/enable",
    opt={ROLES_OPT: ADMIN_ONLY},
    tags=["accounts"],
    summary="Re-enable a disabled account (its old sessions stay ended)",
    status_code=200,
    responses=problem_specs(401, 403, 404),
)
async def enable_account(
    conn: Transaction, request: Request[Principal, Any, Any], account_id: FromPath[uuid.UUID]
) -> AccountView:
    return await account_admin.enable_account(conn, request.user, account_id)


@post(
    "/v1/accounts/{account_id:uuid}/reset",
    opt={ROLES_OPT: ADMIN_ONLY},
    tags=["accounts"],
    summary="Issue a one-time password reset code (shown once; voids an earlier unused one)",
    status_code=201,
    responses=problem_specs(401, 403, 404, 409),
)
async def issue_reset(
    conn: Transaction,
    state: State,
    request: Request[Principal, Any, Any],
    account_id: FromPath[uuid.UUID],
) -> ResetIssued:
    issued = await account_admin.issue_reset(conn, state, request.user, account_id)
    return ResetIssued(code=issued.code, expires_at=issued.expires_at)


@delete(
    "/v1/accounts/{account_id:uuid}/totp",
    opt={ROLES_OPT: ADMIN_ONLY},
    tags=["accounts"],
    summary="Remove an account's TOTP second factor (a lost phone)",
    status_code=200,
    responses=problem_specs(401, 403, 404),
)
async def remove_totp(
    conn: Transaction,
    state: State,
    request: Request[Principal, Any, Any],
    account_id: FromPath[uuid.UUID],
) -> AccountView:
    """Idempotent; audited only when a second factor (or an enrolment) was there to remove."""
    removed = await totp.remove(conn, account_id)
    view = await accounts.account_view(conn, account_id)
    if removed:
        await accounts.notify_revoked(conn, account_id)
        await record_account_event(conn, request.user, "account.totp_removed", account_id)
        _forget(state, account_id)
    return view


# --- redeeming a reset code (public) ---------------------------------------------------------


@post(
    "/v1/password-resets",
    opt={PUBLIC_OPT: True, REQUEST_BODY_OPT: PasswordReset},
    tags=["accounts"],
    summary="Set a new password with a one-time reset code; every session of the account ends",
    status_code=204,
    responses=problem_specs(400, 422),
)
async def redeem_reset(state: State, request: Request[Any, Any, Any]) -> None:
    """A wrong, expired or spent code, or another account's e-mail address, all answer the same
    400 ``reset_code_invalid``. Counted per client address like logging in."""
    data = await decode_json_body(request, PasswordReset)
    redeemed = await password_reset.redeem(
        state, email=data.email, code=data.code, new_password=data.new_password
    )
    if redeemed is not None:
        return
    raise InvalidInput(
        "$.code",
        "the reset code is not valid for this account (wrong, expired or already used)",
        status=400,
        code="reset_code_invalid",
    )


ROUTES = [
    start_totp_enrolment,
    confirm_totp,
    disable_totp,
    change_password,
    enable_account,
    issue_reset,
    remove_totp,
    redeem_reset,
]
