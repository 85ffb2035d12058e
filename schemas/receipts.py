"""What a client gets back when it submits a report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta


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
    receipt: Annotated[
        Receipt | None,
        Meta(
            description="The signed receipt. Null only in a 200 replay of a report that retention"
            " has rewritten: its hash and signature covered the content as received (res-9"
            " cell, free text), which the service no longer keeps; the receipt the reporter"
            " received first stays valid under the published key."
        ),
    ]


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
