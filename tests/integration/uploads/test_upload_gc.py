"""``plainsight gc`` deletes expired resumable uploads (row and bytes) and bytes in the
temporary area that no upload row refers to, and keeps uploads in progress."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

import msgspec
import pytest

from api.app import apply_migrations
from schemas.auth import Principal, Role
from schemas.report import decode_report, minimise
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.reports import store as reports
from storage.reports.receipts import ReceiptSigner
from storage.uploads import store as uploads
from storage.uploads.area import FilesystemArea
from tests.support.cli import cli_environment, run_cli
from tests.support.helpers import observer_report


@pytest.mark.slow
async def test_gc_deletes_expired_uploads_and_orphaned_bytes(
    fresh_database: object, tmp_path: Path
) -> None:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    data_path = tmp_path / "data"
    area = FilesystemArea(data_path / "uploads")
    conn = await connect(dsn)
    try:
        device_id, _ = await accounts.create_device(conn)
        principal = Principal(id=device_id, role=Role.observer)
        content = minimise(decode_report(msgspec.json.encode(observer_report())))
        submission = await reports.submit_report(
            conn, principal=principal, content=content, signer=ReceiptSigner(os.urandom(32))
        )
        ids = {}
        for name in ("expired", "current"):
            ids[name] = uuid.uuid4()
            await area.start(ids[name])
            area.path_for(ids[name]).write_bytes(b"part of a video")
            await uploads.create_upload(
                conn,
                upload_id=ids[name],
                report_id=submission.created.id,
                owner_id=device_id,
                length=1000,
                store="filesystem",
                s3_upload_id=None,
                expiry=timedelta(hours=24),
                max_in_flight=10,
            )
        await conn.execute(
            "update uploads set expires_at = now() - interval '1 minute' where id = $1",
            ids["expired"],
        )
        # Bytes without a row: one older than any upload can be, one just written.
        old_orphan, new_orphan = uuid.uuid4(), uuid.uuid4()
        for orphan in (old_orphan, new_orphan):
            area.path_for(orphan).write_bytes(b"left by a crash")
        two_days_ago = time.time() - timedelta(days=2).total_seconds()
        os.utime(area.path_for(old_orphan), (two_days_ago, two_days_ago))

        result = await run_cli("gc", env=cli_environment(data_path, dsn))

        assert result.returncode == 0, result.stderr
        assert "deleted 2 expired resumable uploads" in result.stdout
        remaining = {row["id"] for row in await conn.fetch("select id from uploads")}
        assert remaining == {ids["current"]}
        assert not area.path_for(ids["expired"]).exists()
        assert area.path_for(ids["current"]).exists()
        assert not area.path_for(old_orphan).exists()
        assert area.path_for(new_orphan).exists()
    finally:
        await conn.close()


@pytest.mark.slow
async def test_gc_sweeps_spool_files_a_crash_left(fresh_database: object, tmp_path: Path) -> None:
    """Uploads spooled to a file (``upload-*.part``) and sanitised videos (``video-*.mp4``,
    ``video-*.webm``) older than --temp-age-minutes are deleted; younger ones (an upload in
    progress) and files of any other name are kept."""
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    data_path = tmp_path / "data"
    spool = data_path / "spool"
    spool.mkdir(parents=True)
    an_hour_ago = time.time() - timedelta(minutes=61).total_seconds()
    old = [spool / "upload-a1b2c3.part", spool / "video-d4e5f6.mp4", spool / "video-0a1b.webm"]
    young = [spool / "upload-fresh.part", spool / "video-fresh.mp4"]
    other = [spool / "notes.txt", spool / "upload-a1b2c3.keep"]
    for path in old + young + other:
        path.write_bytes(b"left by a crash")
    for path in old + other:
        os.utime(path, (an_hour_ago, an_hour_ago))

    env = cli_environment(data_path, dsn)
    result = await run_cli("gc", "--temp-age-minutes", "30", env=env)

    assert result.returncode == 0, result.stderr
    assert "and 3 spooled files" in result.stdout
    assert [path for path in old if path.exists()] == []
    assert all(path.exists() for path in young + other)

    # With an age of 0 the young ones go too (other names never); a negative age is refused.
    again = await run_cli("gc", "--temp-age-minutes", "0", env=env)
    assert again.returncode == 0, again.stderr
    assert "and 2 spooled files" in again.stdout
    assert all(path.exists() for path in other)
    refused = await run_cli("gc", "--temp-age-minutes", "-1", env=env)
    assert refused.returncode == 2
    assert "must not be negative" in refused.stderr


@pytest.mark.slow
async def test_gc_without_a_spool_directory_deletes_no_spool_file(
    fresh_database: object, tmp_path: Path
) -> None:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    (tmp_path / "data").mkdir()
    result = await run_cli("gc", env=cli_environment(tmp_path / "data", dsn))
    assert result.returncode == 0, result.stderr
    assert "and 0 spooled files" in result.stdout
