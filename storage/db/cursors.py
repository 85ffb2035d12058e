"""Opaque keyset-pagination cursors: the (timestamp, id) of the last row of a page."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec

NOT_OURS: Final = "the cursor is not one this service handed out"
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2101, 1, 1, tzinfo=UTC)
_Cursor = tuple[Annotated[datetime, msgspec.Meta(tz=True)], uuid.UUID]


class InvalidCursor(ValueError):
    """A pagination cursor that this service did not hand out."""


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = msgspec.json.decode(raw, type=_Cursor)
    except (ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor(NOT_OURS) from exc
    # Rows are stamped by the server's clock; a time far outside it was crafted, and one near
    # year 1 or 9999 would overflow when PostgreSQL converts it.
    if not EARLIEST <= at < LATEST:
        raise InvalidCursor(NOT_OURS)
    return at, row_id
