"""Tamper-evident audit trail: an append-only, hash-chained log.

Entries are appended in the caller's transaction, so a rolled-back action leaves no entry and
every committed action has one. The database refuses UPDATE, DELETE and TRUNCATE on the log.

Hash recipe (so that anyone holding a copy of ``audit_log`` can re-verify it):

    hash = lowercase hex SHA-256 of the UTF-8 bytes of the JSON object
      {"action", "actor_id", "actor_role", "at", "details", "id", "prev_hash",
       "subject_id", "subject_type"}
    with the entry's column values, keys sorted (inside ``details`` too), no whitespace,
    non-ASCII characters written as themselves, i.e. exactly Python's
    ``json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, where
    ``id`` is a JSON integer, ``at`` is the UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
    (always six fractional digits), ``actor_id`` the lowercase hyphenated UUID or null,
    ``details`` the stored JSON object (it holds no floating-point numbers), and absent values
    null.

``prev_hash`` is the hash of the entry before (64 zeros for entry 1). Ids run 1, 2, 3...
without gaps: they are handed out from the one-row ``audit_head`` table, which also records
the last hash, so entries removed from the end are noticed as well.

The chain proves the log was not edited *after the fact* by someone who could not also
rewrite every later entry. The service's own database role cannot (storage/db/roles.py); the
owner can, which ``anchors`` (``audit verify --expect``, signed checkpoints in
storage/audit/checkpoints.py) catch: hashes recorded outside the database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec

from schemas.auth import Principal

GENESIS_HASH = "0" * 64
VERIFY_BATCH = 1000
# Stable codes such as ``report.read`` (the table's check constraint says the same).
ACTION_CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
HASH_TEXT = re.compile(r"^[0-9a-f]{64}$")

# Both are SECURITY DEFINER functions, run with the owner's rights: the service's role may not
# change audit_log or audit_head. The claim locks the head row until the caller's transaction
# ends: concurrent appenders queue there, and one that waited reads the head its predecessor
# committed (READ COMMITTED re-checks the row). The append refuses entries that do not
# continue the chain from the head.
CLAIM_IDS = "select last_id, last_hash, at from audit_claim($1)"
APPEND = "select audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
SELECT_HEAD = "select last_id, last_hash from audit_head"
SELECT_ENTRIES = """
select id, at, actor_id, actor_role, action, subject_type, subject_id, details::text as details,
       prev_hash, hash
from audit_log order by id
"""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One action to append (the chain fields are filled in by ``record_many``)."""

    actor: Principal | None
    action: str
    subject_type: str | None = None
    subject_id: str | None = None
    details: Mapping[str, object] | None = None


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """``checked`` entries were intact; ``broken_id`` (if any) is the first that is not."""

    checked: int
    last_id: int = 0
    last_hash: str = GENESIS_HASH
    broken_id: int | None = None
    broken_at: datetime | None = None
    broken_action: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


async def record(
    conn: asyncpg.Connection,
    *,
    actor: Principal | None,
    action: str,
    subject_type: str | None = None,
    subject_id: str | None = None,
    details: Mapping[str, object] | None = None,
) -> None:
    """Append one entry in the caller's transaction.

    Call it last in the transaction: from here to the commit, other audited transactions wait.
    ``details`` must hold no personal data (no e-mail, IP address, token or report content).
    """
    entry = Entry(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
    )
    await record_many(conn, [entry])


async def record_many(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    """Append several entries (one chain segment) in two round trips."""
    if not entries:
        return
    for entry in entries:
        if not ACTION_CODE.fullmatch(entry.action):
            raise ValueError(f"audit actions are codes such as report.read, not {entry.action!r}")
    details = [_details_text(entry.details) for entry in entries]
    head = await conn.fetchrow(CLAIM_IDS, len(entries))
    if head is None:
        raise RuntimeError("audit_head is missing its row (it is made with the table)")
    first_id = head["last_id"] - len(entries) + 1
    at: datetime = head["at"]
    prev_hash: str = head["last_hash"]
    ids, prev_hashes, hashes = [], [], []
    for offset, entry in enumerate(entries):
        entry_id = first_id + offset
        actor_id = None if entry.actor is None else str(entry.actor.id)
        actor_role = None if entry.actor is None else entry.actor.role.value
        digest = entry_hash(
            {
                "id": entry_id,
                "at": format_time(at),
                "actor_id": actor_id,
                "actor_role": actor_role,
                "action": entry.action,
                "subject_type": entry.subject_type,
                "subject_id": entry.subject_id,
                "details": msgspec.json.decode(details[offset]),
                "prev_hash": prev_hash,
            }
        )
        ids.append(entry_id)
        prev_hashes.append(prev_hash)
        hashes.append(digest)
        prev_hash = digest
    await conn.execute(
        APPEND,
        at,
        ids,
        [None if e.actor is None else e.actor.id for e in entries],
        [None if e.actor is None else e.actor.role.value for e in entries],
        [e.action for e in entries],
        [e.subject_type for e in entries],
        [e.subject_id for e in entries],
        details,
        prev_hashes,
        hashes,
    )


async def chain_length(conn: asyncpg.Connection) -> int:
    """How many entries the log should hold (for a progress bar)."""
    length: int = await conn.fetchval("select last_id from audit_head")
    return length


async def verify(
    conn: asyncpg.Connection,
    *,
    progress: Callable[[int], object] | None = None,
    anchors: Mapping[int, str] | None = None,
) -> VerifyResult:
    """Walk the chain with a cursor (never the whole log in memory) in one snapshot.

    ``progress`` is called with the number of entries checked since its last call.
    ``anchors`` maps entry ids to the hashes recorded outside the database (``--expect``, a
    signed checkpoint): the chain must hold each of those entries with that hash, which
    catches even a chain rewritten and re-linked from that entry on.
    """
    if conn.is_in_transaction():  # a caller's transaction already fixes the snapshot
        transaction = conn.transaction()
    else:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
    async with transaction:
        return await _walk(conn, progress, anchors or {})


async def _walk(
    conn: asyncpg.Connection,
    progress: Callable[[int], object] | None,
    anchors: Mapping[int, str],
) -> VerifyResult:
    checked, last_id, last_hash = 0, 0, GENESIS_HASH
    last_row: asyncpg.Record | None = None
    unreported = 0
    async for row in conn.cursor(SELECT_ENTRIES, prefetch=VERIFY_BATCH):
        reason = _broken_link(row, last_id, last_hash) or _unanchored(row, anchors)
        if reason is not None:
            if progress is not None and unreported:
                progress(unreported)
            return _broken(checked, last_id, last_hash, row, reason)
        checked, last_id, last_hash, last_row = checked + 1, row["id"], row["hash"], row
        unreported += 1
        if progress is not None and unreported == VERIFY_BATCH:
            progress(unreported)
            unreported = 0
    if progress is not None and unreported:
        progress(unreported)
    head = await conn.fetchrow(SELECT_HEAD)
    ok = VerifyResult(checked=checked, last_id=last_id, last_hash=last_hash)
    beyond = sorted(anchor for anchor in anchors if anchor > last_id)
    if beyond:
        return msgspec.structs.replace(
            ok,
            broken_id=beyond[0],
            reason=f"entry {beyond[0]}, recorded outside the database with hash "
            f"{anchors[beyond[0]]}, is missing: the log ends at entry {last_id}",
        )
    head_id, head_hash = (-1, "") if head is None else (head["last_id"], head["last_hash"])
    if head_id > last_id:
        return msgspec.structs.replace(
            ok,
            broken_id=last_id + 1,
            reason=f"entries {last_id + 1} to {head_id} are missing from the end of the log "
            "(the chain head records them)",
        )
    if head_id != last_id or head_hash != last_hash:
        reason = (
            "the chain head row is missing"
            if head is None
            else f"the chain head records entry {head_id} with hash {head_hash}, not this "
            "entry's hash (entries were appended or rewritten outside the chain)"
        )
        if last_row is None:
            return msgspec.structs.replace(ok, broken_id=1, reason=reason)
        return _broken(checked - 1, last_id - 1, last_row["prev_hash"], last_row, reason)
    return ok


def _broken_link(row: asyncpg.Record, last_id: int, last_hash: str) -> str | None:
    """Why this entry does not continue the chain after (last_id, last_hash), or None."""
    if row["id"] != last_id + 1:
        return f"entries {last_id + 1} to {row['id'] - 1} are missing before it"
    if row["prev_hash"] != last_hash:
        before = f"entry {last_id}" if last_id else "the start of the chain"
        return f"its prev_hash is not the hash of {before} (one of the two was rewritten)"
    try:
        recomputed = entry_hash(_canonical_fields(row))
    except (msgspec.DecodeError, ValueError) as exc:
        return f"its fields cannot be encoded for hashing ({exc})"
    if recomputed != row["hash"]:
        return "its content does not match its hash (the entry was changed)"
    return None


def _unanchored(row: asyncpg.Record, anchors: Mapping[int, str]) -> str | None:
    """Why this entry contradicts the hash recorded for it outside the database, or None."""
    expected = anchors.get(row["id"])
    if expected is None or expected == row["hash"]:
        return None
    return (
        f"its hash is {row['hash']}, but {expected} was recorded for it outside the database "
        "(the chain was rewritten from this entry or before it)"
    )


def _broken(
    checked: int, last_id: int, last_hash: str, row: asyncpg.Record, reason: str
) -> VerifyResult:
    return VerifyResult(
        checked=checked,
        last_id=last_id,
        last_hash=last_hash,
        broken_id=row["id"],
        broken_at=row["at"],
        broken_action=row["action"],
        reason=reason,
    )


def _canonical_fields(row: asyncpg.Record) -> dict[str, object]:
    return {
        "id": row["id"],
        "at": format_time(row["at"]),
        "actor_id": None if row["actor_id"] is None else str(row["actor_id"]),
        "actor_role": row["actor_role"],
        "action": row["action"],
        "subject_type": row["subject_type"],
        "subject_id": row["subject_id"],
        "details": msgspec.json.decode(row["details"]),
        "prev_hash": row["prev_hash"],
    }


def entry_hash(fields: Mapping[str, object]) -> str:
    """SHA-256 of the canonical JSON of an entry's fields (see the module docstring)."""
    return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _details_text(details: Mapping[str, object] | None) -> str:
    """The details as JSON text; floats are refused, since jsonb may not give back their
    exact text (1e300 comes back as a 301-digit integer) and the hash would no longer match."""
    value = msgspec.to_builtins({} if details is None else dict(details))
    _refuse_floats(value)
    return msgspec.json.encode(value, order="sorted").decode()


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise TypeError("audit details may not hold floating-point numbers")
    if isinstance(value, dict):
        for inner in value.values():
            _refuse_floats(inner)
    elif isinstance(value, list):
        for inner in value:
            _refuse_floats(inner)
