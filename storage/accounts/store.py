"""Plain SQL for devices, staff accounts and sessions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg

from schemas.auth import AccountView, Principal, Role
from storage.accounts import totp
from storage.accounts.device_tokens import DEFAULT_TOKEN_DAYS, active_device, register_device
from storage.accounts.passwords import hash_password, verify_password
from storage.accounts.tokens import TokenKind, new_token, token_hash, token_kind
from storage.db.cursors import decode_cursor, encode_cursor
from storage.errors import Conflict, NotFound, Unauthenticated

SELECT_ACTIVE_SESSION = """
select a.id, a.role, s.expires_at, a.totp_secret is not null as second_factor
from sessions s join accounts a on a.id = s.account_id
where s.token_hash = $1 and s.expires_at > now() and a.disabled_at is null
"""
INSERT_ACCOUNT = """
insert into accounts (id, email, role, password_hash) values ($1, $2, $3, $4)
on conflict do nothing
returning id, email, role, created_at, disabled_at, totp_secret is not null as totp
"""
SELECT_ACCOUNT_FOR_LOGIN = """
select id, role, password_hash, totp_secret is not null as totp
from accounts where lower(email) = lower($1) and disabled_at is null
"""
INSERT_SESSION = "insert into sessions (token_hash, account_id, expires_at) values ($1, $2, $3)"
DELETE_EXPIRED_SESSIONS = "delete from sessions where account_id = $1 and expires_at <= now()"
DELETE_SESSION = "delete from sessions where token_hash = $1 returning account_id"
SELECT_ACCOUNTS_PAGE = """
select id, email, role, created_at, disabled_at, totp_secret is not null as totp from accounts
where ($1::timestamptz is null or (created_at, id) > ($1, $2::uuid))
order by created_at, id
limit $3
"""
DISABLE_ACCOUNT = """
update accounts set disabled_at = coalesce(disabled_at, now()) where id = $1
returning id, email, role, created_at, disabled_at, totp_secret is not null as totp
"""
ENABLE_ACCOUNT = """
update accounts set disabled_at = null where id = $1
returning id, email, role, created_at, disabled_at, totp_secret is not null as totp
"""
DELETE_ACCOUNT_SESSIONS = "delete from sessions where account_id = $1"
# Processes that cache authenticated tokens listen here and forget the principal named in the
# payload; PostgreSQL delivers the notification only when the revoking transaction commits.
REVOCATION_CHANNEL = "plainsight_revocations"
NOTIFY_REVOKED = "select pg_notify('plainsight_revocations', $1::text)"


class Grant(NamedTuple):
    """What a valid token grants: who, and until when (None: until revoked)."""

    principal: Principal
    expires_at: datetime | None


async def create_device(
    conn: asyncpg.Connection, token_days: int = DEFAULT_TOKEN_DAYS
) -> tuple[uuid.UUID, str]:
    issued = await register_device(conn, token_days)
    return issued.device_id, issued.token


async def grant_for_token(
    conn: asyncpg.Connection, token: str, *, device_token_days: int = DEFAULT_TOKEN_DAYS
) -> Grant | None:
    """What ``token`` grants; a device token's use renews its expiry
    (storage.accounts.device_tokens)."""
    kind = token_kind(token)
    if kind is TokenKind.device:
        device = await active_device(conn, token, device_token_days)
        if device is None:
            return None
        return Grant(Principal(id=device[0], role=Role.observer), device[1])
    if kind is TokenKind.session:
        row = await conn.fetchrow(SELECT_ACTIVE_SESSION, token_hash(token))
        if row is None:
            return None
        principal = Principal(
            id=row["id"], role=Role(row["role"]), second_factor=row["second_factor"]
        )
        return Grant(principal, row["expires_at"])
    return None


async def notify_revoked(conn: asyncpg.Connection, principal_id: uuid.UUID) -> None:
    await conn.execute(NOTIFY_REVOKED, str(principal_id))


async def create_account(
    conn: asyncpg.Connection, *, email: str, role: Role, password: str
) -> AccountView:
    row = await conn.fetchrow(
        INSERT_ACCOUNT, uuid.uuid4(), email.strip(), role.value, await hash_password(password)
    )
    if row is None:
        raise Conflict("an account with this e-mail address already exists")
    return _account_view(row)


class LoginFailed(Unauthenticated):
    """A 401 like any other; ``account_id`` (for the audit trail only) is the active account
    the e-mail address named, None when it named none."""

    def __init__(self, account_id: uuid.UUID | None) -> None:
        super().__init__("the e-mail address or the password is not correct")
        self.account_id = account_id


class SecondFactorRequired(LoginFailed):
    """The password was right, but the account has a second factor and no valid, unused code
    came with it. Only said after a correct password: the client then asks for the code."""

    code = "totp_required"

    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(account_id)
        self.detail = "a valid code from the account's authenticator app is required (`totp`)"
        self.args = (self.detail,)


# Called with the account's id before its second factor is checked (a rate limit per account).
SecondFactorGate = Callable[[uuid.UUID], Awaitable[None]]


class Session(NamedTuple):
    token: str
    account: Principal
    expires_at: datetime


async def open_session(
    conn: asyncpg.Connection, *, email: str, password: str, lifetime: timedelta
) -> tuple[str, Role, datetime]:
    """Check the password and start a session; unknown e-mail and wrong password look alike."""
    session = await start_session(conn, email=email, password=password, lifetime=lifetime)
    return session.token, session.account.role, session.expires_at


async def start_session(
    conn: asyncpg.Connection,
    *,
    email: str,
    password: str,
    lifetime: timedelta,
    totp_code: str | None = None,
    second_factor_gate: SecondFactorGate | None = None,
) -> Session:
    """``open_session``, also naming the account; raises LoginFailed. An account with a
    second factor also needs ``totp_code``, checked only after the password (SecondFactorRequired
    when it is missing, wrong or already used)."""
    row = await conn.fetchrow(SELECT_ACCOUNT_FOR_LOGIN, email.strip())
    valid = await verify_password(None if row is None else row["password_hash"], password)
    if row is None or not valid:
        raise LoginFailed(None if row is None else row["id"])
    if row["totp"]:
        if totp_code is None:  # no guess made: the client learns it must ask for a code
            raise SecondFactorRequired(row["id"])
        if second_factor_gate is not None:
            await second_factor_gate(row["id"])
        if not await totp.use_code(conn, row["id"], totp_code):
            raise SecondFactorRequired(row["id"])
    token = new_token(TokenKind.session)
    expires_at = datetime.now(UTC) + lifetime
    await conn.execute(DELETE_EXPIRED_SESSIONS, row["id"])
    await conn.execute(INSERT_SESSION, token_hash(token), row["id"], expires_at)
    principal = Principal(id=row["id"], role=Role(row["role"]), second_factor=row["totp"])
    return Session(token, principal, expires_at)


async def close_session(conn: asyncpg.Connection, token: str) -> uuid.UUID | None:
    """End the session; return its account (None if the token had no session)."""
    account_id: uuid.UUID | None = await conn.fetchval(DELETE_SESSION, token_hash(token))
    if account_id is not None:
        await notify_revoked(conn, account_id)
    return account_id


async def list_accounts(
    conn: asyncpg.Connection, *, limit: int, cursor: str | None
) -> tuple[list[AccountView], str | None]:
    after: tuple[datetime, uuid.UUID] | tuple[None, None] = (None, None)
    if cursor is not None:
        after = decode_cursor(cursor)
    rows = await conn.fetch(SELECT_ACCOUNTS_PAGE, after[0], after[1], limit + 1)
    items = [_account_view(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return items, next_cursor


async def disable_account(conn: asyncpg.Connection, account_id: uuid.UUID) -> AccountView:
    row = await conn.fetchrow(DISABLE_ACCOUNT, account_id)
    if row is None:
        raise NotFound("no such account")
    await conn.execute(DELETE_ACCOUNT_SESSIONS, account_id)
    await notify_revoked(conn, account_id)
    return _account_view(row)


SELECT_ACCOUNT = """
select id, email, role, created_at, disabled_at, totp_secret is not null as totp
from accounts where id = $1
"""


async def account_view(conn: asyncpg.Connection, account_id: uuid.UUID) -> AccountView:
    row = await conn.fetchrow(SELECT_ACCOUNT, account_id)
    if row is None:
        raise NotFound("no such account")
    return _account_view(row)


async def enable_account(conn: asyncpg.Connection, account_id: uuid.UUID) -> AccountView:
    """Let a disabled account log in again (its old sessions stay ended)."""
    row = await conn.fetchrow(ENABLE_ACCOUNT, account_id)
    if row is None:
        raise NotFound("no such account")
    return _account_view(row)


def _account_view(row: asyncpg.Record) -> AccountView:
    return AccountView(
        id=row["id"],
        email=row["email"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        disabled=row["disabled_at"] is not None,
        totp=row["totp"],
    )
