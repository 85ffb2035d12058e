"""Observer device tokens: issued, looked up and replaced, with a lifetime renewed by use.

A device token expires after ``token_days`` days without use (``PLAINSIGHT_DEVICE_TOKEN_DAYS``).
Using it (any authenticated request), rotating it or registering the device sets the expiry to
the end of the ``token_days``-th UTC day after today. The expiry is kept to whole UTC days on
purpose: it is written at most once a day per device (the lookup stays a read otherwise), and
the column tells no more than the day a device was last used.

Only the SHA-256 of a token is stored (storage.accounts.tokens).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import asyncpg

from storage.accounts.tokens import TokenKind, new_token, token_hash

# Settings.device_token_days's default, for callers without settings (tests, scripts).
DEFAULT_TOKEN_DAYS = 90

# Each statement sets the expiry a use today gives: the end of the n-th UTC day after today,
# date_trunc('day', now(), 'UTC') + make_interval(days => n + 1).
INSERT_DEVICE = """
insert into devices (id, token_hash, expires_at)
values ($1, $2, date_trunc('day', now(), 'UTC') + make_interval(days => $3 + 1))
returning expires_at
"""
# A valid token's device, renewing its expiry when this is its first use of the UTC day (the
# update is skipped, and the lookup stays a read, for every later use that day).
SELECT_ACTIVE_DEVICE = """
with found as (
    select id, expires_at from devices
    where token_hash = $1 and revoked_at is null and expires_at > now()
), renewed as (
    update devices d
    set expires_at = date_trunc('day', now(), 'UTC') + make_interval(days => $2 + 1)
    from found
    where d.id = found.id and d.revoked_at is null
      and found.expires_at < date_trunc('day', now(), 'UTC') + make_interval(days => $2 + 1)
    returning d.expires_at
)
select id, coalesce((select expires_at from renewed), expires_at) as expires_at from found
"""
# The old token must still be the device's and valid: a revoked, expired or already replaced
# token cannot mint a new one, even if a token cache still let its request through.
ROTATE_DEVICE = """
update devices
set token_hash = $3, expires_at = date_trunc('day', now(), 'UTC') + make_interval(days => $4 + 1)
where id = $1 and token_hash = $2 and revoked_at is null and expires_at > now()
returning expires_at
"""


class IssuedToken(NamedTuple):
    device_id: uuid.UUID
    token: str
    expires_at: datetime


async def register_device(conn: asyncpg.Connection, token_days: int) -> IssuedToken:
    device_id = uuid.uuid4()
    token = new_token(TokenKind.device)
    expires_at = await conn.fetchval(INSERT_DEVICE, device_id, token_hash(token), token_days)
    return IssuedToken(device_id, token, expires_at)


async def active_device(
    conn: asyncpg.Connection, token: str, token_days: int
) -> tuple[uuid.UUID, datetime] | None:
    """(device id, expiry) of a valid device token, its expiry renewed; None if not valid."""
    row = await conn.fetchrow(SELECT_ACTIVE_DEVICE, token_hash(token), token_days)
    return None if row is None else (row["id"], row["expires_at"])


async def replace_token(
    conn: asyncpg.Connection, device_id: uuid.UUID, old_token: str, token_days: int
) -> IssuedToken | None:
    """A new token for the device in place of ``old_token``, which stops matching at once;
    None when ``old_token`` is no longer the device's valid token."""
    token = new_token(TokenKind.device)
    expires_at = await conn.fetchval(
        ROTATE_DEVICE, device_id, token_hash(old_token), token_hash(token), token_days
    )
    return None if expires_at is None else IssuedToken(device_id, token, expires_at)
