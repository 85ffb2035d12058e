"""Signed audit checkpoints: the chain's head, signed with the receipt key, kept outside the
database so that a rewrite of the log from before the checkpoint is noticed even by someone who
re-linked the whole chain and its head.

A checkpoint is a JSON object ``{"at", "last_id", "last_hash", "public_key", "key_id",
"signature"}``. The signature is Ed25519 by the receipt key current when it was made (published
with its ``key_id`` at ``GET /v1/receipts/keys``), base64url without padding, over the canonical
JSON (keys sorted, no whitespace, UTF-8) of at, last_id, last_hash and public_key, as receipts
are signed. ``key_id`` is not signed (it is the public key's thumbprint) and is absent from
checkpoints made before key ids existed.

A checkpoint verifies if its key is one this installation trusts: a key whose seed it holds,
or a published key that the chain of rotation endorsements links to one
(storage/reports/receipt_keys.py). A key merely present in the database is not enough: the
checkpoint exists to catch whoever can write the database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from msgspec import UNSET, UnsetType

from storage.audit.log import format_time
from storage.reports.receipts import ReceiptSigner, key_id_of, verifies

CHECKPOINT_DIR = "audit-checkpoints"
HASH = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, is malformed or is not validly signed."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    at: str
    last_id: int
    last_hash: str
    public_key: str
    signature: str
    key_id: str | UnsetType = UNSET

    def signed_fields(self) -> dict[str, object]:
        return {
            "at": self.at,
            "last_id": self.last_id,
            "last_hash": self.last_hash,
            "public_key": self.public_key,
        }


def sign_checkpoint(
    signer: ReceiptSigner, last_id: int, last_hash: str, at: datetime
) -> Checkpoint:
    unsigned = Checkpoint(
        at=format_time(at),
        last_id=last_id,
        last_hash=last_hash,
        public_key=signer.public_key_b64,
        signature="",
        key_id=signer.key_id,
    )
    return msgspec.structs.replace(unsigned, signature=signer.sign(unsigned.signed_fields()))


def encode(checkpoint: Checkpoint) -> bytes:
    return msgspec.json.encode(checkpoint, order="sorted")


def write_checkpoint(data_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write it to ``data_dir/audit-checkpoints/`` under a new name (never over another)."""
    directory = data_dir / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"checkpoint-{checkpoint.last_id}-{stamp}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(encode(checkpoint) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def read_checkpoint(path: Path, trusted: Mapping[str, str]) -> Checkpoint:
    """The checkpoint in ``path``, checked against ``trusted`` (public key → key id: see
    ``receipt_keys.trusted``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    try:
        checkpoint = msgspec.json.decode(raw, type=Checkpoint)
    except msgspec.DecodeError as exc:
        raise CheckpointError(f"{path} is not an audit checkpoint: {exc}") from exc
    if checkpoint.last_id < 0 or not HASH.fullmatch(checkpoint.last_hash):
        raise CheckpointError(f"{path} is not an audit checkpoint: bad last_id or last_hash")
    if checkpoint.key_id is not UNSET and checkpoint.key_id != key_id_of(checkpoint.public_key):
        raise CheckpointError(f"{path} is not an audit checkpoint: key_id is not its key's id")
    if checkpoint.public_key not in trusted:
        raise CheckpointError(
            f"checkpoint {path} was signed by another key ({checkpoint.public_key}), not one "
            f"of this service's receipt keys ({', '.join(sorted(trusted.values()))})"
        )
    if not verifies(checkpoint.public_key, checkpoint.signed_fields(), checkpoint.signature):
        raise CheckpointError(f"checkpoint {path} has no valid signature: it was altered or forged")
    return checkpoint


class ConflictingAnchors(ValueError):
    """Two sources record one entry with different hashes."""


def anchors_of(sources: Iterable[tuple[int, str]]) -> dict[int, str]:
    """Entry id → the hash recorded for it outside the database (``audit.verify``'s
    ``anchors``), from ``--expect`` pairs and checkpoints alike."""
    anchors: dict[int, str] = {}
    for entry_id, digest in sources:
        if anchors.setdefault(entry_id, digest) != digest:
            raise ConflictingAnchors(f"entry {entry_id} is expected with two different hashes")
    return anchors


def saved_checkpoints(data_dir: Path, trusted: Mapping[str, str]) -> list[Checkpoint]:
    """The checkpoints ``audit checkpoint`` wrote to ``data_dir/audit-checkpoints/``, each
    checked against the trusted receipt keys (CheckpointError for one that is not valid)."""
    directory = data_dir / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    return [read_checkpoint(path, trusted) for path in sorted(directory.glob("checkpoint-*.json"))]
