"""Admin-issued one-time password reset codes, and changing a password.

A reset code is 120 random bits written as six groups of four base32 letters, easy to read out
over a phone. Only its SHA-256 is stored; issuing a new code for an account voids its unused
one. Redeeming a code sets the new password, spends the code and ends every session of the
account. A wrong, expired or spent code, or a code given with another account's e-mail
address, all fail alike.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg

from schemas.auth import Principal, Role
from storage.accounts.passwords import hash_password, verify_password
from storage.accounts.store import DELETE_ACCOUNT_SESSIONS, notify_revoked
from storage.accounts.tokens import token_hash
from storage.errors import Conflict, NotFound

CODE_BYTES = 15
GROUP = 4

SELECT_ACCOUNT_STATE = "select role, disabled_at from accounts where id = $1 for update"
VOID_UNUSED = "delete from password_resets where account_id = $1 and used_at is null"
INSERT_RESET = """
insert into password_resets (code_hash, account_id, expires_at) values ($1, $2, $3)
"""
# Locks the code's row, so two redemptions of one code cannot both succeed.
SELECT_RESET = """
select r.account_id, r.expires_at, r.used_at, a.email, a.role, a.disabled_at
from password_resets r join accounts a on a.id = r.account_id
where r.code_hash = $1
for update of r
"""
SPEND_RESET = "update password_resets set used_at = now() where code_hash = $1"
STORE_NEW_HASH = "update accounts set password_hash = $2 where id = $1"
SELECT_STORED_HASH = "select password_hash from accounts where id = $1"
DELETE_OTHER_SESSIONS = "delete from sessions where account_id = $1 and token_hash <> $2"


class IssuedReset(NamedTuple):
    code: str
    expires_at: datetime
    role: Role


class ResetRefused(Exception):
    """The code cannot be redeemed; ``account_id`` (for the audit trail only) is the account
    whose code it was, None when it matched none."""

    def __init__(self, account_id: uuid.UUID | None, role: Role | None) -> None:
        super().__init__("the reset code is not valid")
        self.account_id = account_id
        self.role = role


class WrongPassword(Exception):
    """The current password given to change it is not the account's."""


def new_code() -> str:
    letters = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(letters[i : i + GROUP] for i in range(0, len(letters), GROUP))


def code_hash(code: str) -> bytes:
    """The hash of a code as written by a person: case, spaces and dashes do not matter."""
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).digest()


async def issue_reset(
    conn: asyncpg.Connection, account_id: uuid.UUID, *, lifetime: timedelta
) -> IssuedReset:
    row = await conn.fetchrow(SELECT_ACCOUNT_STATE, account_id)
    if row is None:
        raise NotFound("no such account")
    if row["disabled_at"] is not None:
        raise Conflict("the account is disabled; enable it before issuing a reset code")
    code = new_code()
    expires_at = datetime.now(UTC) + lifetime
    await conn.execute(VOID_UNUSED, account_id)
    await conn.execute(INSERT_RESET, code_hash(code), account_id, expires_at)
    return IssuedReset(code, expires_at, Role(row["role"]))


async def redeem_reset(
    conn: asyncpg.Connection, *, email: str, code: str, new_password: str
) -> Principal:
    """Set the new password and end every session; the account, or ResetRefused."""
    digest = code_hash(code)
    row = await conn.fetchrow(SELECT_RESET, digest)
    if row is None:
        raise ResetRefused(None, None)
    account_id, role = row["account_id"], Role(row["role"])
    usable = (
        row["used_at"] is None
        and row["expires_at"] > datetime.now(UTC)
        and row["disabled_at"] is None
        and row["email"].lower() == email.strip().lower()
    )
    if not usable:
        raise ResetRefused(account_id, role)
    await conn.execute(SPEND_RESET, digest)
    await conn.execute(STORE_NEW_HASH, account_id, await hash_password(new_password))
    await conn.execute(DELETE_ACCOUNT_SESSIONS, account_id)
    await notify_revoked(conn, account_id)
    return Principal(id=account_id, role=role)


async def change_password(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    *,
    current_password: str,
    new_password: str,
    keep_session: str,
) -> None:
    """Check the current password, set the new one and end the account's other sessions
    (the one with token ``keep_session`` stays); WrongPassword when the check fails."""
    stored = await conn.fetchval(SELECT_STORED_HASH, account_id)
    if stored is None:
        raise NotFound("no such account")
    if not await verify_password(stored, current_password):
        raise WrongPassword
    await conn.execute(STORE_NEW_HASH, account_id, await hash_password(new_password))
    await conn.execute(DELETE_OTHER_SESSIONS, account_id, token_hash(keep_session))
    await notify_revoked(conn, account_id)
