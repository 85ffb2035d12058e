"""TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, as authenticator apps use).

A code is accepted for the step it was made in and the steps either side (clock drift), and
only once: the account remembers the last step it accepted, and a code of that step or an
earlier one is refused, so a code seen over a shoulder cannot be replayed.

The secret stays on the server (accounts.totp_secret); the API shows it only at enrolment.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Callable

import asyncpg
import pyotp

from storage.errors import Conflict, NotFound

STEP_S = 30
DRIFT_STEPS = 1
ISSUER = "Plainsight"

SELECT_TOTP = """
select email, totp_secret, totp_pending_secret, totp_last_step from accounts where id = $1
"""
START_ENROLMENT = """
update accounts set totp_pending_secret = $2 where id = $1 and totp_secret is null
returning email
"""
CONFIRM_ENROLMENT = """
update accounts
set totp_secret = totp_pending_secret, totp_pending_secret = null, totp_last_step = $3
where id = $1 and totp_pending_secret = $2 and totp_secret is null
returning id
"""
# Atomic, so two requests racing with the same code cannot both pass.
ACCEPT_STEP = """
update accounts set totp_last_step = $2
where id = $1 and totp_secret = $3 and coalesce(totp_last_step, -1) < $2
returning id
"""
SELECT_HAS_TOTP = "select totp_secret is not null from accounts where id = $1 for update"
REMOVE_TOTP = """
update accounts set totp_secret = null, totp_pending_secret = null, totp_last_step = null
where id = $1
"""

Clock = Callable[[], float]


def new_secret() -> str:
    return pyotp.random_base32()


def enrolment_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step within the drift window whose code is ``code``, or None."""
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_S)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared (no early exit), in constant time.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def has_totp(conn: asyncpg.Connection, account_id: uuid.UUID) -> bool:
    row = await conn.fetchrow(SELECT_TOTP, account_id)
    return row is not None and row["totp_secret"] is not None


async def start_enrolment(conn: asyncpg.Connection, account_id: uuid.UUID) -> tuple[str, str]:
    """A new pending secret (replacing any earlier one) and its otpauth URI."""
    secret = new_secret()
    email = await conn.fetchval(START_ENROLMENT, account_id, secret)
    if email is None:
        raise Conflict("a second factor is already active; disable it before enrolling again")
    return secret, enrolment_uri(secret, email)


async def confirm_enrolment(
    conn: asyncpg.Connection, account_id: uuid.UUID, code: str, *, clock: Clock = time.time
) -> bool:
    """Activate the pending secret once ``code`` proves the app holds it; False (nothing
    changed) when the code is wrong."""
    row = await conn.fetchrow(SELECT_TOTP, account_id)
    if row is None:
        raise NotFound("no such account")
    if row["totp_secret"] is not None:
        raise Conflict("a second factor is already active")
    pending = row["totp_pending_secret"]
    if pending is None:
        raise Conflict("no enrolment was started: POST /v1/accounts/current/totp first")
    step = matching_step(pending, code, clock())
    if step is None:
        return False
    if await conn.fetchval(CONFIRM_ENROLMENT, account_id, pending, step) is None:
        raise Conflict("the enrolment changed meanwhile; start it again")
    return True


async def use_code(
    conn: asyncpg.Connection, account_id: uuid.UUID, code: str, *, clock: Clock = time.time
) -> bool:
    """True when ``code`` is valid now for the account's active secret, and was never used
    (it is then spent); False otherwise, also when the account has no second factor."""
    row = await conn.fetchrow(SELECT_TOTP, account_id)
    if row is None or row["totp_secret"] is None:
        return False
    step = matching_step(row["totp_secret"], code, clock())
    if step is None:
        return False
    return await conn.fetchval(ACCEPT_STEP, account_id, step, row["totp_secret"]) is not None


async def remove(conn: asyncpg.Connection, account_id: uuid.UUID) -> bool:
    """Remove the second factor (and any pending enrolment); True if one was active."""
    had = await conn.fetchval(SELECT_HAS_TOTP, account_id)
    if had is None:
        raise NotFound("no such account")
    await conn.execute(REMOVE_TOTP, account_id)
    return bool(had)
