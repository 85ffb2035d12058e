"""What a client gets back when it submits a report."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class ReceiptPublicKey(msgspec.Struct, frozen=True, kw_only=True):
    algorithm: str
    public_key: str


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    report_id: uuid.UUID
    client_id: uuid.UUID
    payload_sha256: str
    received_at: datetime
    signature: str
    """base64url (no padding) Ed25519 signature over the canonical JSON of the other fields."""


class ReportCreated(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    status: str
    received_at: datetime
    receipt: Receipt


def receipt_fields(
    report_id: uuid.UUID, client_id: uuid.UUID, payload_sha256: str, received_at: datetime
) -> dict[str, object]:
    """The four signed fields, exactly as they appear in the receipt."""
    return {
        "report_id": report_id,
        "client_id": client_id,
        "payload_sha256": payload_sha256,
        "received_at": received_at,
    }
