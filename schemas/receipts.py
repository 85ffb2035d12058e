"""What a client gets back when it submits a report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.codes import ReportKind, ReportStatus


class ReceiptKey(msgspec.Struct, frozen=True, kw_only=True):
    key_id: Annotated[
        str,
        Meta(description="RFC 7638 JWK thumbprint (base64url SHA-256) of the public key."),
    ]
    algorithm: str
    public_key: Annotated[str, Meta(description="base64url of the raw 32-byte Ed25519 key.")]
    not_before: Annotated[
        datetime,
        Meta(
            description="When the key became the signing key (the first key: the earliest receipt)."
        ),
    ]
    not_after: Annotated[
        datetime | None,
        Meta(
            description="When `keys rotate` retired it; null while current. Replicas restart"
            " one by one after a rotation, so a receipt may carry a received_at a little after"
            " this (the key stays published: it still verifies)."
        ),
    ]
    endorsed_by: Annotated[
        str | None, Meta(description="The key current before this one, which endorsed it.")
    ]
    endorsement: Annotated[
        str | None,
        Meta(
            description="Signature by `endorsed_by` over the canonical JSON of"
            " {algorithm, endorsed_by, key_id, public_key}: the chain back to the first key."
        ),
    ]


class ReceiptKeySet(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[ReceiptKey]
    """Every key that ever signed, oldest first."""


class ReceiptPublicKey(msgspec.Struct, frozen=True, kw_only=True):
    algorithm: str
    public_key: Annotated[str, Meta(description="The current key (base64url, raw 32 bytes).")]
    key_id: Annotated[str, Meta(description="The current key's id.")]
    keys: Annotated[
        list[ReceiptKey],
        Meta(description="Every key that ever signed, retired ones included, oldest first."),
    ]


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    report_id: uuid.UUID
    client_id: uuid.UUID
    payload_sha256: str
    received_at: datetime
    signature: str
    """base64url (no padding) Ed25519 signature over the canonical JSON of report_id,
    client_id, payload_sha256 and received_at."""
    key_id: Annotated[
        str,
        Meta(
            description="The id of the key that made `signature` (GET /v1/receipts/keys);"
            " not itself signed."
        ),
    ]


class ReportCreated(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: ReportKind
    status: Annotated[
        ReportStatus,
        Meta(
            description="Always pending: this answers the submission, a replay included;"
            " GET /v1/reports/{id} has the review's status."
        ),
    ]
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
    """The four signed fields, exactly as they appear in the receipt (not ``key_id``)."""
    return {
        "report_id": report_id,
        "client_id": client_id,
        "payload_sha256": payload_sha256,
        "received_at": received_at,
    }
