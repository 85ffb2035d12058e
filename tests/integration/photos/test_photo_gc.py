"""``plainsight gc``: blobs no photo row refers to (left by a crash between the blob write and
the row insert, or between a withdrawal's commit and its blob deletion) are deleted; blobs that
rows refer to and fresh unfinished writes are kept."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import msgspec
import pytest
from PIL import Image

from api.app import apply_migrations
from schemas.auth import Principal, Role
from schemas.report import decode_report, minimise
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.photos import store as photos
from storage.photos.blobs import FilesystemBlobStore
from storage.photos.pipeline import process_photo
from storage.photos.sanitise import sanitise
from storage.reports import store as reports
from storage.reports.receipts import ReceiptSigner
from tests.support.cli import cli_environment, run_cli
from tests.support.helpers import observer_report


def picture(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.slow
async def test_gc_deletes_orphans_and_stale_temp_files_and_keeps_referenced_blobs(
    fresh_database: object, tmp_path: Path
) -> None:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    data_path = tmp_path / "data"
    store = FilesystemBlobStore(data_path / "photos")

    # A report with one photo, committed: its blob must survive.
    conn = await connect(dsn)
    try:
        device_id, _ = await accounts.create_device(conn)
        principal = Principal(id=device_id, role=Role.observer)
        content = minimise(decode_report(msgspec.json.encode(observer_report())))
        submission = await reports.submit_report(
            conn,
            principal=principal,
            content=content,
            signer=ReceiptSigner(os.urandom(32)),
        )
        report_id = submission.created.id
        kept = process_photo(
            picture((10, 120, 200)),
            occurred_at=datetime.now(UTC),
            report_cell=content.location.h3_cell,
        )
        async with conn.transaction():
            await photos.store_photo(
                conn, store, report_id=report_id, photo=kept, upload_digest="ab" * 32, max_photos=10
            )
    finally:
        await conn.close()

    # An orphan (as after a crash before the row insert) and two unfinished writes.
    orphan = sanitise(picture((200, 30, 30)))
    await store.put(orphan)
    temp_dir = data_path / "photos" / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    stale, fresh = temp_dir / "stale.part", temp_dir / "fresh.part"
    stale.write_bytes(b"half a photo")
    fresh.write_bytes(b"being written")
    two_hours_ago = time.time() - timedelta(hours=2).total_seconds()
    os.utime(stale, (two_hours_ago, two_hours_ago))

    result = await run_cli("gc", env=cli_environment(data_path, dsn))

    assert result.returncode == 0, result.stderr
    assert "checked 2 stored photos, deleted 1 orphans and 1 unfinished uploads" in result.stdout
    assert await store.exists(kept.image.sha256)
    assert not await store.exists(orphan.sha256)
    assert not stale.exists()
    assert fresh.exists()
    assert "stored photos" in result.stderr  # the progress bar


@pytest.mark.slow
async def test_gc_on_an_empty_store_reports_nothing_to_do(
    fresh_database: object, tmp_path: Path
) -> None:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    data_path = tmp_path / "data"
    data_path.mkdir()
    result = await run_cli("gc", env=cli_environment(data_path, dsn))
    assert result.returncode == 0, result.stderr
    assert "checked 0 stored photos, deleted 0 orphans and 0 unfinished uploads" in result.stdout
