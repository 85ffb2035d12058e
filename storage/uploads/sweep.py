"""``plainsight gc``'s part for resumable uploads: expired uploads and bytes without a row."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from storage.uploads import store
from storage.uploads.area import TemporaryArea

BATCH = 500


async def sweep_uploads(
    conn: asyncpg.Connection, area: TemporaryArea, *, orphan_age: timedelta
) -> int:
    """Delete every expired upload no request holds (its bytes first, then its row: a crash in
    between leaves a row that the next run deletes), then bytes in the temporary area that no
    row refers to and are older than ``orphan_age``. Returns how many uploads were removed."""
    removed = 0
    while batch := await store.expired_uploads(conn, BATCH):
        for upload in batch:
            if upload.store == area.kind:
                await area.delete(upload)
            await store.delete_upload(conn, upload.id)
            removed += 1
    present = await area.list_ids()
    known = await store.existing_ids(conn, present) if present else set()
    return removed + await area.sweep_orphans(orphan_age, known)
