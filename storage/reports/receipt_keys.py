"""The published receipt key set: one row per key that ever signed, in PostgreSQL, so every
replica (on any machine sharing the database) serves the same records, and a retired key stays
published for the receipts, checkpoints and releases it signed.

Each replica registers its signing key at start-up (idempotent). ``keys rotate`` adds a new key,
endorsed by the current one (its signature over the new key's record), and closes the current
key's validity period, all under one advisory lock. The endorsements chain every rotated key
back to the first: whoever can write this table but holds no private key cannot add a key the
chain accepts (``trusted``), which is what checkpoint verification relies on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import msgspec

from storage.audit import log as audit
from storage.db import locks
from storage.reports.receipts import ALGORITHM, ReceiptSigner, key_id_of, verifies

log = logging.getLogger(__name__)

SELECT_KEYS = """
select key_id, algorithm, public_key, not_before, not_after, endorsed_by, endorsement
from receipt_keys order by not_before, not_after nulls last, key_id
"""
# The first key signed whatever came before key ids existed: its period starts with the
# earliest receipt (or now, on a new installation).
INSERT_KEY = """
insert into receipt_keys (key_id, algorithm, public_key, not_before, endorsed_by, endorsement)
values ($1, $2, $3,
        case when $4::boolean
             then least(now(), coalesce((select min(received_at) from reports), now()))
             else now() end,
        $5, $6)
on conflict (key_id) do nothing
"""
RETIRE_OTHERS = """
update receipt_keys set not_after = now()
where not_after is null and key_id <> $1
returning key_id
"""


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    algorithm: str
    public_key: str
    not_before: datetime
    not_after: datetime | None
    endorsed_by: str | None
    endorsement: str | None


class KeyRetired(Exception):
    """This process's signing key is not (or no longer) the service's current key."""


def endorsement_fields(record: KeyRecord | ReceiptSigner, endorsed_by: str) -> dict[str, str]:
    """What the previous key signs when a rotation adds ``record``."""
    return {
        "algorithm": ALGORITHM,
        "endorsed_by": endorsed_by,
        "key_id": record.key_id,
        "public_key": record.public_key_b64
        if isinstance(record, ReceiptSigner)
        else record.public_key,
    }


async def published(conn: asyncpg.Connection) -> list[KeyRecord]:
    """Every key, oldest first."""
    return [KeyRecord(**dict(row)) for row in await conn.fetch(SELECT_KEYS)]


def current_of(keys: Sequence[KeyRecord]) -> KeyRecord | None:
    """The key the service signs with now: the newest one not retired."""
    live = [key for key in keys if key.not_after is None]
    return live[-1] if live else None


async def register(conn: asyncpg.Connection, signer: ReceiptSigner) -> KeyRecord:
    """Publish this process's signing key (a no-op when it is known), at start-up.

    Refuses (KeyRetired) a key that a rotation retired: a replica restarted with the old key
    material would otherwise go on signing with it indefinitely. A key the set does not know
    while another is current is published beside it (replicas that each made their own key
    before key sets existed keep working), with a warning."""
    async with conn.transaction():
        await lock(conn)
        first = await conn.fetchval("select not exists (select from receipt_keys)")
        await conn.execute(
            INSERT_KEY, signer.key_id, ALGORITHM, signer.public_key_b64, first, None, None
        )
        keys = await published(conn)
    mine = next(key for key in keys if key.key_id == signer.key_id)
    if mine.not_after is not None:
        current = current_of(keys)
        raise KeyRetired(
            f"this process's receipt key {signer.key_id} was retired by `plainsight keys "
            f"rotate` at {mine.not_after.isoformat()}; it must sign with the current key "
            f"{current.key_id if current else '(none)'}: give it the data_dir/keys of the "
            "machine that rotated, or PLAINSIGHT_RECEIPT_SIGNING_KEY as printed by the rotation"
        )
    others = [key.key_id for key in keys if key.not_after is None and key is not mine]
    if others:
        log.warning(
            "replicas sign receipts with different keys: give them all the same data_dir/keys "
            "or PLAINSIGHT_RECEIPT_KEY (the console's sessions and upload replays depend on it)",
            extra={"key_id": signer.key_id, "other_keys": others},
        )
    return mine


async def rotate(
    conn: asyncpg.Connection, signer: ReceiptSigner, new: ReceiptSigner
) -> tuple[KeyRecord, list[str]]:
    """Publish ``new`` as the current key, endorsed by ``signer`` (which must be current), and
    retire the others; audited as ``receipt_key.rotated``. Call it in a transaction that
    already holds ``locks.RECEIPT_KEYS`` (see ``lock``). Returns the new record and the ids
    retired."""
    keys = await published(conn)
    known = {key.key_id: key for key in keys}
    mine = known.get(signer.key_id)
    if mine is None:
        first = not keys
        await conn.execute(
            INSERT_KEY, signer.key_id, ALGORITHM, signer.public_key_b64, first, None, None
        )
    elif mine.not_after is not None:
        current = current_of(keys)
        raise KeyRetired(
            f"the key this machine holds ({signer.key_id}) was already retired at "
            f"{mine.not_after.isoformat()}; the current key is "
            f"{current.key_id if current else '(none)'}: rotate where that key is kept"
        )
    endorsement = signer.sign(endorsement_fields(new, signer.key_id))
    await conn.execute(
        INSERT_KEY, new.key_id, ALGORITHM, new.public_key_b64, False, signer.key_id, endorsement
    )
    retired = [row["key_id"] for row in await conn.fetch(RETIRE_OTHERS, new.key_id)]
    await audit.record(
        conn,
        actor=None,
        action="receipt_key.rotated",
        subject_type="receipt_key",
        subject_id=new.key_id,
        details={"retired": sorted(retired), "endorsed_by": signer.key_id},
    )
    record = next(key for key in await published(conn) if key.key_id == new.key_id)
    return record, retired


async def lock(conn: asyncpg.Connection) -> None:
    """Serialise changes to the key set (in the caller's transaction)."""
    await conn.execute("select pg_advisory_xact_lock($1)", locks.RECEIPT_KEYS)


def trusted(keys: Iterable[KeyRecord], anchors: Iterable[str]) -> dict[str, str]:
    """Public key → key id of ``anchors`` (public keys known from local key material: the
    root and the signing key) and of the published keys whose endorsements chain back to one
    of them. A key only the table vouches for is not trusted."""
    # A row whose id is not its key's thumbprint is ignored: it could pose as an anchor.
    by_id = {key.key_id: key for key in keys if key_id_of(key.public_key) == key.key_id}
    result = {public: key_id_of(public) for public in anchors}
    trusted_ids = set(result.values())
    changed = True
    while changed:
        changed = False
        for key in by_id.values():
            endorser = by_id.get(key.endorsed_by or "")
            if key.key_id in trusted_ids or endorser is None or key.endorsement is None:
                continue
            if endorser.key_id in trusted_ids and verifies(
                endorser.public_key, endorsement_fields(key, endorser.key_id), key.endorsement
            ):
                trusted_ids.add(key.key_id)
                result[key.public_key] = key.key_id
                changed = True
    return result


def signed_by(keys: Iterable[KeyRecord], fields: object, signature: str) -> str | None:
    """The id of the published key whose signature ``signature`` is (receipts stored before
    key ids existed name no key: this finds it)."""
    for key in keys:
        if verifies(key.public_key, fields, signature):
            return key.key_id
    return None


async def trusted_keys(conn: asyncpg.Connection, signer: ReceiptSigner) -> dict[str, str]:
    """Public key → key id of every key this installation trusts: its own (root and signing
    key) and the published keys their endorsements lead to."""
    return trusted(await published(conn), [signer.root_public_key_b64, signer.public_key_b64])
