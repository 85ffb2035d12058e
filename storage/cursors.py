"""Opaque keyset-pagination cursors: the (timestamp, id) of the last row of a page."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import msgspec


class InvalidCursor(ValueError):
    """A pagination cursor that this service did not hand out."""


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = msgspec.json.decode(raw, type=tuple[datetime, uuid.UUID])
    except (ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor("the cursor is not one this service handed out") from exc
    return at, row_id
