"""Sealing originals (storage/evidence/sealer.py) against the real database and filesystem:
the sealed blob opens with the recipients' secret keys (and no other) to the exact original
bytes; the row is written in the caller's transaction; withdrawal and retention purge sealed
originals with their photos; the orphan sweep deletes only old blobs no row refers to.

Decryption here uses pyrage with keys the test generates; the end-to-end test opens the
seals with Debian's ``age`` instead (test_evidence_end_to_end.py)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from pyrage import DecryptError, decrypt, x25519

from storage.evidence.sealer import (
    EvidenceSealer,
    SealedOriginal,
    collect_sealed_garbage,
    purge_queued,
    sweep_orphans,
)
from storage.evidence.store import FilesystemSealedStore
from storage.reports.retention import run_retention
from tests.support.helpers import Api, bearer
from tests.support.photo_api import new_report, unique_jpeg, uploaded


class Original:
    def __init__(self, data: bytes | None = None, path: Path | None = None) -> None:
        self.data = data
        self.path = path


def identities(count: int) -> list[x25519.Identity]:
    return [x25519.Identity.generate() for _ in range(count)]


def sealer_for(store: FilesystemSealedStore, *keys: x25519.Identity) -> EvidenceSealer:
    return EvidenceSealer(tuple(str(key.to_public()) for key in keys), store)


def sealed_path(store: FilesystemSealedStore, sealed: SealedOriginal) -> Path:
    # The layout the brief gives: <data dir>/sealed/<key[:2]>/<key>.age
    return store.root / sealed.key[:2] / f"{sealed.key}.age"


@pytest.fixture
def store(tmp_path: Path) -> FilesystemSealedStore:
    return FilesystemSealedStore(tmp_path / "sealed")


async def test_sealed_bytes_open_to_the_original_with_the_secret_key(
    store: FilesystemSealedStore,
) -> None:
    (key,) = identities(1)
    original = os.urandom(300_000)
    sealed = await sealer_for(store, key).seal(Original(data=original))

    path = sealed_path(store, sealed)
    ciphertext = path.read_bytes()
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    assert original[:64] not in ciphertext
    assert decrypt(ciphertext, [key]) == original
    assert sealed.sha256 == hashlib.sha256(original).hexdigest()
    assert sealed.size == len(original)
    assert sealed.sealed_size == len(ciphertext)
    assert sealed.recipient_count == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(store.scratch_dir.iterdir()) == []  # nothing left behind


async def test_a_file_is_sealed_streaming_to_every_recipient_and_no_one_else(
    store: FilesystemSealedStore, tmp_path: Path
) -> None:
    first, second, stranger = identities(3)
    source = tmp_path / "video.bin"
    with source.open("wb") as out:
        for _ in range(12):
            out.write(os.urandom(1 << 20))
    sealer = sealer_for(store, first, second)
    sealed = await sealer.seal(Original(path=source))

    ciphertext = sealed_path(store, sealed).read_bytes()
    expected = source.read_bytes()
    assert decrypt(ciphertext, [first]) == expected
    assert decrypt(ciphertext, [second]) == expected
    with pytest.raises(DecryptError):
        decrypt(ciphertext, [stranger])
    assert sealed.sha256 == hashlib.sha256(expected).hexdigest()
    assert sealed.size == 12 << 20
    assert sealed.recipient_count == 2
    assert source.read_bytes() == expected  # the upload itself is left for its owner


async def test_sealing_twice_gives_two_different_blobs(store: FilesystemSealedStore) -> None:
    (key,) = identities(1)
    sealer = sealer_for(store, key)
    data = b"the same upload" * 100
    one, two = await sealer.seal(Original(data=data)), await sealer.seal(Original(data=data))
    assert one.key != two.key
    assert one.sha256 == two.sha256
    assert sealed_path(store, one).read_bytes() != sealed_path(store, two).read_bytes()


@pytest.mark.parametrize(
    "original",
    [Original(), Original(data=b"x", path=Path("/dev/null")), Original(data=b"")],
    ids=["neither", "both", "empty"],
)
async def test_bad_originals_are_refused_and_leave_nothing(
    store: FilesystemSealedStore, original: Original
) -> None:
    (key,) = identities(1)
    with pytest.raises(ValueError, match=r"original|empty"):
        await sealer_for(store, key).seal(original)
    assert [entry async for entry in store.entries()] == []
    assert not store.scratch_dir.exists() or list(store.scratch_dir.iterdir()) == []


async def test_a_missing_file_is_an_error_and_leaves_no_scratch(
    store: FilesystemSealedStore, tmp_path: Path
) -> None:
    (key,) = identities(1)
    with pytest.raises(FileNotFoundError):
        await sealer_for(store, key).seal(Original(path=tmp_path / "gone"))
    assert list(store.scratch_dir.iterdir()) == []


def test_a_sealer_needs_a_recipient(store: FilesystemSealedStore) -> None:
    with pytest.raises(ValueError, match="recipient"):
        EvidenceSealer((), store)


# --- rows, withdrawal, retention -------------------------------------------------------------


async def uploaded_photo(api: Api) -> tuple[str, str, str]:
    """A report with one photo, through HTTP: (token, report id, photo id)."""
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, unique_jpeg())
    return token, report_id, body["id"]


def app_sealer(app: Litestar, *keys: x25519.Identity) -> EvidenceSealer:
    store = app.state.sealed_originals
    assert isinstance(store, FilesystemSealedStore)
    return sealer_for(store, *keys)


async def sealed_row(conn: asyncpg.Connection, photo_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select * from sealed_originals where photo_id = $1", uuid.UUID(photo_id)
    )


async def test_record_writes_the_row_in_the_callers_transaction(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    _, _, photo_id = await uploaded_photo(api)
    sealer = app_sealer(app, key)
    sealed = await sealer.seal(Original(data=b"original bytes, EXIF and all"))

    savepoint = api.conn.transaction()
    await savepoint.start()
    await sealer.record(api.conn, uuid.UUID(photo_id), sealed)
    await savepoint.rollback()
    assert await sealed_row(api.conn, photo_id) is None

    await sealer.record(api.conn, uuid.UUID(photo_id), sealed)
    row = await sealed_row(api.conn, photo_id)
    assert row is not None
    assert row["blob_key"] == sealed.key
    assert row["original_sha256"] == hashlib.sha256(b"original bytes, EXIF and all").hexdigest()
    assert row["original_bytes"] == len(b"original bytes, EXIF and all")
    assert row["sealed_bytes"] == sealed.sealed_size
    assert row["recipient_count"] == 1
    assert (
        row["recipients_fingerprint"] == hashlib.sha256(str(key.to_public()).encode()).hexdigest()
    )
    assert abs(row["uploaded_at"] - datetime.now(UTC)) < timedelta(minutes=1)


async def test_record_for_a_photo_that_does_not_exist_is_refused(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    sealer = app_sealer(app, key)
    sealed = await sealer.seal(Original(data=b"bytes"))
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with api.conn.transaction():
            await sealer.record(api.conn, uuid.uuid4(), sealed)


async def test_one_photo_has_at_most_one_sealed_original(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    _, _, photo_id = await uploaded_photo(api)
    sealer = app_sealer(app, key)
    await sealer.record(api.conn, uuid.UUID(photo_id), await sealer.seal(Original(data=b"a")))
    second = await sealer.seal(Original(data=b"b"))
    with pytest.raises(asyncpg.UniqueViolationError):
        async with api.conn.transaction():
            await sealer.record(api.conn, uuid.UUID(photo_id), second)


async def test_withdrawal_purges_the_sealed_original_row_and_blob(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    token, report_id, photo_id = await uploaded_photo(api)
    sealer = app_sealer(app, key)
    sealed = await sealer.seal(Original(data=b"an original to purge"))
    await sealer.record(api.conn, uuid.UUID(photo_id), sealed)
    path = sealed_path(app.state.sealed_originals, sealed)
    assert path.is_file()

    response = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert response.status_code == 204, response.text

    assert await sealed_row(api.conn, photo_id) is None
    assert not path.exists()
    assert await api.conn.fetchval("select count(*) from sealed_purges") == 0


async def test_retention_purges_sealed_originals_with_the_photos(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    _, report_id, photo_id = await uploaded_photo(api)
    sealer = app_sealer(app, key)
    store = app.state.sealed_originals
    sealed = await sealer.seal(Original(data=b"rejected long ago"))
    await sealer.record(api.conn, uuid.UUID(photo_id), sealed)
    await api.conn.execute(
        "update reports set status = 'rejected', review_reason = 'spam_or_test',"
        " reviewed_at = now() - interval '40 days', incident_id = null where id = $1",
        uuid.UUID(report_id),
    )

    summary = await run_retention(
        api.conn, app.state.blobs, now=datetime.now(UTC), days=30, sealed=store
    )

    assert summary.photos_purged >= 1
    assert await sealed_row(api.conn, photo_id) is None
    assert not sealed_path(store, sealed).exists()
    assert await api.conn.fetchval("select count(*) from sealed_purges") == 0


async def test_a_purge_left_queued_by_a_crash_is_done_by_the_next_drain(
    api: Api, app: Litestar
) -> None:
    (key,) = identities(1)
    _, _, photo_id = await uploaded_photo(api)
    sealer = app_sealer(app, key)
    store = app.state.sealed_originals
    sealed = await sealer.seal(Original(data=b"queued"))
    await sealer.record(api.conn, uuid.UUID(photo_id), sealed)
    # The photo row goes (as in a withdrawal) but the process dies before deleting blobs.
    await api.conn.execute("delete from photos where id = $1", uuid.UUID(photo_id))
    queued = await api.conn.fetchval("select array_agg(blob_key) from sealed_purges")
    assert sealed.key in queued
    assert sealed_path(store, sealed).is_file()

    assert await purge_queued(api.conn, store) >= 1
    assert not sealed_path(store, sealed).exists()
    assert await api.conn.fetchval("select count(*) from sealed_purges") == 0


# --- orphans ---------------------------------------------------------------------------------


def age_file(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


async def test_orphan_sweep_deletes_old_unrecorded_blobs_only(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    _, _, photo_id = await uploaded_photo(api)
    store = app.state.sealed_originals
    sealer = app_sealer(app, key)
    recorded = await sealer.seal(Original(data=b"recorded"))
    await sealer.record(api.conn, uuid.UUID(photo_id), recorded)
    old_orphan = await sealer.seal(Original(data=b"crashed before its row"))
    young_orphan = await sealer.seal(Original(data=b"upload still being processed"))
    age_file(sealed_path(store, recorded), 5)
    age_file(sealed_path(store, old_orphan), 1.5)
    age_file(sealed_path(store, young_orphan), 0.5)

    checked, deleted = await sweep_orphans(api.conn, store, now=datetime.now(UTC))

    assert checked >= 3
    assert deleted >= 1
    assert not sealed_path(store, old_orphan).exists()
    assert sealed_path(store, young_orphan).is_file()
    assert sealed_path(store, recorded).is_file()


async def test_gc_collects_queued_orphaned_and_scratch_leftovers(api: Api, app: Litestar) -> None:
    (key,) = identities(1)
    store = app.state.sealed_originals
    sealer = app_sealer(app, key)
    orphan = await sealer.seal(Original(data=b"orphan"))
    age_file(sealed_path(store, orphan), 2)
    store.scratch_dir.mkdir(parents=True, exist_ok=True)
    stale, fresh = store.scratch_dir / "seal-stale.age", store.scratch_dir / "seal-fresh.age"
    stale.write_bytes(b"half a seal")
    fresh.write_bytes(b"being written")
    age_file(stale, 2)

    summary = await collect_sealed_garbage(api.conn, store)

    assert summary.orphans >= 1
    assert summary.scratch == 1
    assert not sealed_path(store, orphan).exists()
    assert not stale.exists()
    assert fresh.exists()


async def test_discard_removes_a_seal_that_will_have_no_row(store: FilesystemSealedStore) -> None:
    (key,) = identities(1)
    sealer = sealer_for(store, key)
    sealed = await sealer.seal(Original(data=b"refused upload"))
    await sealer.discard(sealed)
    assert not sealed_path(store, sealed).exists()
    await sealer.discard(sealed)  # again: nothing to do, no error


async def test_the_service_role_can_seal_record_and_purge(api: Api, app: Litestar) -> None:
    """The upload and the withdrawal run as the service's database role (conftest)."""
    grants = await api.conn.fetch(
        "select table_name, privilege_type from information_schema.role_table_grants"
        " where table_name in ('sealed_originals', 'sealed_purges') and grantee like $1",
        "%_service",
    )
    privileges = {(row["table_name"], row["privilege_type"]) for row in grants}
    for needed in [
        ("sealed_originals", "INSERT"),
        ("sealed_originals", "SELECT"),
        ("sealed_purges", "SELECT"),
        ("sealed_purges", "DELETE"),
        ("sealed_purges", "INSERT"),
    ]:
        assert needed in privileges, privileges
