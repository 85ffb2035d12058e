"""What kind of media each stored photo row is: the console shows a video as a player, not as
an image, and says how long it is."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

SELECT_MEDIA = "select id, content_type, duration_ms from photos where id = any($1::uuid[])"


@dataclass(frozen=True, slots=True)
class Media:
    content_type: str
    duration_ms: int | None

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


async def media_of(conn: asyncpg.Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Media]:
    """The media kind of each of ``ids`` that exists (a missing id is simply absent)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.fetch(SELECT_MEDIA, wanted)
    return {row["id"]: Media(row["content_type"], row["duration_ms"]) for row in rows}
