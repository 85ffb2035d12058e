"""Signed audit checkpoints: the chain's head, signed with the receipt key, kept outside the
database so that a rewrite of the log from before the checkpoint is noticed even by someone who
re-linked the whole chain and its head.

A checkpoint is a JSON object ``{"at", "last_id", "last_hash", "public_key", "signature"}``.
The signature is Ed25519 by the receipt key (``GET /v1/receipts/public-key`` publishes the same
``public_key``), base64url without padding, over the canonical JSON (keys sorted, no
whitespace, UTF-8) of the other four fields, as receipts are signed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from nacl.bindings import crypto_sign_BYTES
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from storage.audit.log import format_time
from storage.reports.receipts import ReceiptSigner, b64url_decode, canonical_json

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


def read_checkpoint(path: Path, signer: ReceiptSigner) -> Checkpoint:
    """The checkpoint in ``path``, checked against the configured receipt key."""
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
    if checkpoint.public_key != signer.public_key_b64:
        raise CheckpointError(
            f"checkpoint {path} was signed by another key ({checkpoint.public_key}), not this "
            f"service's receipt key ({signer.public_key_b64})"
        )
    try:
        signature = b64url_decode(checkpoint.signature)
        if len(signature) != crypto_sign_BYTES:
            raise ValueError("wrong length")
        VerifyKey(b64url_decode(checkpoint.public_key)).verify(
            canonical_json(checkpoint.signed_fields()), signature
        )
    except (ValueError, BadSignatureError) as exc:
        raise CheckpointError(
            f"checkpoint {path} has no valid signature: it was altered or forged"
        ) from exc
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


def saved_checkpoints(data_dir: Path, signer: ReceiptSigner) -> list[Checkpoint]:
    """The checkpoints ``audit checkpoint`` wrote to ``data_dir/audit-checkpoints/``, each
    checked against the receipt key (CheckpointError for one that is not valid)."""
    directory = data_dir / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    return [read_checkpoint(path, signer) for path in sorted(directory.glob("checkpoint-*.json"))]
