"""The two sealed-original stores through one protocol: the filesystem one and the S3 one (a
real S3 HTTP server, moto), including a multipart upload of a large seal and the listing the
orphan sweep uses."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.settings import load_settings
from storage.errors import NotFound
from storage.evidence.store import (
    MULTIPART_FROM,
    FilesystemSealedStore,
    S3SealedStore,
    SealedStore,
    check_key,
    new_key,
    open_sealed_store,
)
from tests.support.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(params=["filesystem", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SealedStore]:
    chosen: SealedStore
    if request.param == "filesystem":
        chosen = FilesystemSealedStore(tmp_path / "sealed")
    else:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        server: S3Server = request.getfixturevalue("s3_server")
        chosen = S3SealedStore(
            server.create_bucket(),
            prefix="sealed/",
            scratch=tmp_path / "scratch",
            region=REGION,
            endpoint=server.endpoint,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
        )
    try:
        yield chosen
    finally:
        await chosen.close()


def scratch_file(store: SealedStore, data: bytes) -> Path:
    store.scratch_dir.mkdir(parents=True, exist_ok=True)
    path = store.scratch_dir / f"seal-{new_key()}.age"
    path.write_bytes(data)
    return path


async def listed(store: SealedStore) -> dict[str, datetime]:
    return {key: written async for key, written in store.entries()}


async def test_put_copy_list_delete(store: SealedStore, tmp_path: Path) -> None:
    key = new_key()
    data = os.urandom(4096)
    scratch = scratch_file(store, data)
    await store.put_file(key, scratch)
    assert not scratch.exists()

    out = tmp_path / "copy.age"
    assert await store.copy_to(key, out) == len(data)
    assert out.read_bytes() == data
    entries = await listed(store)
    assert set(entries) == {key}
    assert abs(entries[key] - datetime.now(UTC)) < timedelta(minutes=1)

    await store.delete(key)
    assert await listed(store) == {}
    await store.delete(key)  # a missing blob is not an error
    with pytest.raises(NotFound):
        await store.copy_to(key, tmp_path / "gone.age")


async def test_a_large_seal_goes_up_in_parts_and_comes_back_whole(
    store: SealedStore, tmp_path: Path
) -> None:
    key = new_key()
    data = os.urandom(MULTIPART_FROM + 3 * 1024 * 1024 + 17)
    await store.put_file(key, scratch_file(store, data))
    out = tmp_path / "large.age"
    assert await store.copy_to(key, out) == len(data)
    assert out.read_bytes() == data


@pytest.mark.parametrize(
    "key", ["", "../../etc/passwd", "A" * 32, "0" * 31, "0" * 33, "0" * 64, "g" * 32]
)
async def test_keys_that_are_not_32_hex_digits_are_refused(
    store: SealedStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(ValueError, match="32 lowercase hexadecimal"):
        await store.delete(key)
    with pytest.raises(ValueError, match="32 lowercase hexadecimal"):
        await store.copy_to(key, tmp_path / "x")
    with pytest.raises(ValueError, match="32 lowercase hexadecimal"):
        check_key(key)


async def test_files_that_are_not_seals_are_not_listed(tmp_path: Path) -> None:
    store = FilesystemSealedStore(tmp_path / "sealed")
    key = new_key()
    await store.put_file(key, scratch_file(store, b"sealed"))
    (store.root / "ab").mkdir(exist_ok=True)
    (store.root / "ab" / "notes.txt").write_text("not a seal")
    (store.root / key[:2] / f"{new_key()}.age.tmp").write_text("not a seal either")
    misplaced = new_key()
    wrong = "00" if misplaced[:2] != "00" else "11"
    (store.root / wrong).mkdir(exist_ok=True)
    (store.root / wrong / f"{misplaced}.age").write_text("in the wrong directory")
    assert set(await listed(store)) == {key}


def test_s3_prefix_must_be_a_real_prefix(tmp_path: Path) -> None:
    for prefix in ["", "/", "a/../b", "a//b"]:
        with pytest.raises(ValueError, match="prefix"):
            S3SealedStore("bucket", prefix=prefix, scratch=tmp_path)


def test_the_configured_store_follows_the_blob_store_setting(tmp_path: Path) -> None:
    filesystem = open_sealed_store(load_settings({}, data_dir=str(tmp_path)))
    assert isinstance(filesystem, FilesystemSealedStore)
    assert filesystem.root == tmp_path.resolve() / "sealed"
    s3 = open_sealed_store(
        load_settings(
            {},
            data_dir=str(tmp_path),
            blob_store="s3",
            s3_bucket="evidence-bucket",
            s3_sealed_prefix="/org/sealed",
        )
    )
    assert isinstance(s3, S3SealedStore)
    assert s3.prefix == "org/sealed/"
    assert s3.scratch_dir == tmp_path.resolve() / "sealed-scratch"
    assert s3.object_name("0" * 32) == f"org/sealed/00/{'0' * 32}.age"
