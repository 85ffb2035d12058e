"""A moderator revokes an observer device: its token stops working, and optionally its
pending reports are rejected (reason ``revoked_device``) in the same transaction. A device
may also revoke itself (its reports stay as they are), or rotate its token: the old token
stops working and a new one takes its place for the same device.

The token stops at once in every process: the revoking (or rotating) transaction notifies
``plainsight_revocations`` (as logout and account disabling do), which every process's token
cache listens on, and the device lookup itself requires ``revoked_at is null`` (and, after a
rotation, no longer finds the old token's hash).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from schemas.auth import Principal
from schemas.codes import ReviewReason
from schemas.moderation import DeviceRevoked, Review
from storage.accounts.device_tokens import IssuedToken, replace_token
from storage.accounts.store import notify_revoked
from storage.audit.log import Entry, record, record_many
from storage.errors import NotFound, Unauthenticated
from storage.incidents.grouping import GroupingRule
from storage.moderation.reviews import audit_entry, reject_if_pending

# Revoking twice keeps the first time: the token has been dead since then.
REVOKE = """
update devices set revoked_at = coalesce(revoked_at, now()) where id = $1 returning revoked_at
"""
SELECT_REVOKED_AT = "select revoked_at from devices where id = $1"
# In incident order, as the audit log lists the rejections.
SELECT_PENDING = """
select id from reports where device_id = $1 and status = 'pending'
order by incident_id nulls first, id
"""


async def revoke_device(
    conn: asyncpg.Connection,
    principal: Principal,
    device_id: uuid.UUID,
    *,
    reject_pending: bool,
    grouping: GroupingRule,
) -> DeviceRevoked:
    revoked_at = await conn.fetchval(REVOKE, device_id)
    if revoked_at is None:
        raise NotFound("no such device")
    await notify_revoked(conn, device_id)
    reviews: list[Review] = []
    if reject_pending:
        for row in await conn.fetch(SELECT_PENDING, device_id):
            review = await reject_if_pending(
                conn, principal, row["id"], ReviewReason.REVOKED_DEVICE, grouping
            )
            if review is not None:
                reviews.append(review)
    rejected = [review.report_id for review in reviews]
    revoked = Entry(
        actor=principal,
        action="device.revoked",
        subject_type="device",
        subject_id=str(device_id),
        details={"reject_pending": reject_pending, "rejected": [str(r) for r in rejected]},
    )
    # Last, in one append: the audit log serialises appenders until commit.
    await record_many(conn, [*(audit_entry(principal, r) for r in reviews), revoked])
    return DeviceRevoked(device_id=device_id, revoked_at=revoked_at, rejected_report_ids=rejected)


async def device_revoked_at(conn: asyncpg.Connection, device_id: uuid.UUID) -> datetime | None:
    """When the device was revoked, or None while its token works (or no such device)."""
    revoked_at: datetime | None = await conn.fetchval(SELECT_REVOKED_AT, device_id)
    return revoked_at


async def rotate_token(
    conn: asyncpg.Connection, device: Principal, old_token: str, *, token_days: int
) -> IssuedToken:
    """A new token for the calling device; ``old_token`` stops working when this commits.
    401 when ``old_token`` is no longer valid (revoked, expired or already rotated)."""
    issued = await replace_token(conn, device.id, old_token, token_days)
    if issued is None:
        raise Unauthenticated("the token is unknown, expired or revoked")
    await notify_revoked(conn, device.id)
    await record(
        conn,
        actor=device,
        action="device.token_rotated",
        subject_type="device",
        subject_id=str(device.id),
    )
    return issued
