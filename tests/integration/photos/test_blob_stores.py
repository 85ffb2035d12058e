"""The blob stores (storage/photos/blobs.py): the same contract checked against the filesystem store
and the S3 store, the latter against a real HTTP S3 server (moto, see tests/support/s3_server.py);
then what only one of them promises (file layout and modes, temp-file sweeping, object names
and content type) and ``open_blob_store``.

Stored bytes are read back independently of the store under test: straight from the file, or
with a separate obstore client.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store
from PIL import Image, ImageDraw

from schemas.settings import load_settings
from storage.errors import NotFound
from storage.photos.blobs import BlobStore, FilesystemBlobStore, S3BlobStore, open_blob_store
from storage.photos.sanitise import SanitisedImage, sanitise
from storage.photos.video import SanitisedVideo, VideoLimits, sanitise_video
from tests.support.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)

MISSING_KEY = "0" * 64
BAD_KEYS = (
    "../../etc/passwd",
    "../" + "a" * 61,
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "",
    "a" * 64 + "\n",
    "a" * 62 + "/a",
    "g" * 64,
)


# --- images -----------------------------------------------------------------------------------


def drawn_image(seed: int) -> SanitisedImage:
    """A small PNG with distinct pixels per ``seed``, through the real sanitiser."""
    image = Image.new("RGB", (48, 32), (seed * 40 % 256, 90, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4 + seed, 4, 20 + seed, 24), fill=(255, seed * 70 % 256, 0))
    draw.line((0, 31, 47, seed % 32), fill=(0, 0, 0), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return sanitise(buffer.getvalue())


@pytest.fixture(scope="session")
def images() -> list[SanitisedImage]:
    made = [drawn_image(seed) for seed in range(3)]
    assert len({image.sha256 for image in made}) == 3
    return made


def tampered(sha256: str) -> SanitisedImage:
    """A sanitised image whose ``sha256`` was overwritten afterwards: a bug the stores must
    catch (frozen dataclasses can still be changed through ``object.__setattr__``)."""
    image = drawn_image(7)
    object.__setattr__(image, "sha256", sha256)
    return image


# --- stores -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket()


@pytest.fixture
def isolated_aws_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AWS_* variable of the developer's (credentials, AWS_ENDPOINT...) reaches obstore."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def fresh_prefix() -> str:
    return f"test-{secrets.token_hex(8)}/"


@pytest.fixture
def fs_store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "photos")


@pytest.fixture
def s3_store(
    s3_server: S3Server, s3_bucket: str, isolated_aws_environment: pytest.MonkeyPatch
) -> S3BlobStore:
    return S3BlobStore(
        s3_bucket,
        prefix=fresh_prefix(),
        region=REGION,
        endpoint=s3_server.endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture
def raw_s3(
    s3_server: S3Server, s3_bucket: str, isolated_aws_environment: pytest.MonkeyPatch
) -> S3Store:
    """A plain obstore client on the test bucket, to look at objects behind the store's back."""
    return S3Store(
        s3_bucket,
        endpoint=s3_server.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        client_options={"allow_http": True},
    )


@pytest.fixture(params=["filesystem", "s3"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BlobStore]:
    chosen: BlobStore = request.getfixturevalue(
        "fs_store" if request.param == "filesystem" else "s3_store"
    )
    yield chosen
    await chosen.close()


async def all_keys(store: BlobStore) -> list[str]:
    listing = store.keys()
    return [key async for key in listing]


# --- the contract, for both stores ------------------------------------------------------------


async def test_put_then_get_returns_the_image_bytes(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    key = await store.put(image)
    assert key == image.sha256
    assert await store.get(key) == image.data


async def test_second_put_of_the_same_image_changes_nothing(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    first = await store.put(image)
    second = await store.put(image)
    assert first == second == image.sha256
    assert await all_keys(store) == [image.sha256]
    assert await store.get(image.sha256) == image.data


async def test_concurrent_puts_of_one_image_store_it_once(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    image = images[1]
    keys = await asyncio.gather(*(store.put(image) for _ in range(8)))
    assert set(keys) == {image.sha256}
    assert await all_keys(store) == [image.sha256]
    assert await store.get(image.sha256) == image.data


async def test_get_of_a_missing_key_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        await store.get(MISSING_KEY)


async def test_exists(store: BlobStore, images: list[SanitisedImage]) -> None:
    image = images[0]
    assert await store.exists(image.sha256) is False
    await store.put(image)
    assert await store.exists(image.sha256) is True
    assert await store.exists(images[1].sha256) is False


async def test_delete_removes_the_blob_and_deleting_again_is_fine(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    kept, removed = images[0], images[1]
    await store.put(kept)
    await store.put(removed)
    await store.delete(removed.sha256)
    assert await store.exists(removed.sha256) is False
    with pytest.raises(NotFound):
        await store.get(removed.sha256)
    await store.delete(removed.sha256)  # already gone: not an error
    await store.delete(MISSING_KEY)  # never there: not an error either
    assert await store.get(kept.sha256) == kept.data


async def test_keys_lists_exactly_what_is_stored(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    assert await all_keys(store) == []
    for image in images:
        await store.put(image)
    listed = await all_keys(store)
    assert sorted(listed) == sorted(image.sha256 for image in images)
    await store.delete(images[0].sha256)
    assert sorted(await all_keys(store)) == sorted(image.sha256 for image in images[1:])


@pytest.mark.parametrize("bad_key", BAD_KEYS)
async def test_malformed_keys_are_refused_everywhere(
    store: BlobStore, images: list[SanitisedImage], bad_key: str
) -> None:
    await store.put(images[0])
    with pytest.raises(ValueError, match="64 lowercase hexadecimal"):
        await store.get(bad_key)
    with pytest.raises(ValueError, match="64 lowercase hexadecimal"):
        await store.exists(bad_key)
    with pytest.raises(ValueError, match="64 lowercase hexadecimal"):
        await store.delete(bad_key)
    with pytest.raises(ValueError, match="64 lowercase hexadecimal"):
        await store.put(tampered(bad_key))
    assert await all_keys(store) == [images[0].sha256]


async def test_an_image_whose_hash_does_not_match_its_bytes_is_refused(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    lying = tampered(images[0].sha256)  # a valid key, but of other bytes
    with pytest.raises(ValueError, match="does not match"):
        await store.put(lying)
    assert await store.exists(images[0].sha256) is False
    assert await all_keys(store) == []


# --- filesystem only --------------------------------------------------------------------------


async def test_filesystem_layout_mode_and_bytes(
    fs_store: FilesystemBlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    key = await fs_store.put(image)
    path = fs_store.root / key[:2] / key[2:4] / f"{key}.jpg"
    assert fs_store.path_for(key) == path
    assert path.read_bytes() == image.data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tmp = fs_store.root / "tmp"
    assert tmp.is_dir()
    assert list(tmp.iterdir()) == [], "no temporary file is left behind"
    # Nothing else was written: the blob, its two fan-out directories and tmp/.
    written = sorted(str(p.relative_to(fs_store.root)) for p in fs_store.root.rglob("*"))
    assert written == sorted(
        ["tmp", key[:2], f"{key[:2]}/{key[2:4]}", f"{key[:2]}/{key[2:4]}/{key}.jpg"]
    )


async def test_filesystem_second_put_does_not_rewrite_the_file(
    fs_store: FilesystemBlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    await fs_store.put(image)
    path = fs_store.path_for(image.sha256)
    old = time.time() - 3600
    os.utime(path, (old, old))
    before = path.stat()
    await fs_store.put(image)
    after = path.stat()
    assert after.st_mtime == before.st_mtime == old
    assert after.st_ino == before.st_ino
    assert list((fs_store.root / "tmp").iterdir()) == []


async def test_filesystem_sweep_removes_only_old_temporary_files(
    fs_store: FilesystemBlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    await fs_store.put(image)
    tmp = fs_store.root / "tmp"
    stale = tmp / "put-crashed.tmp"
    fresh = tmp / "put-in-progress.tmp"
    stale.write_bytes(image.data[:100])
    fresh.write_bytes(image.data[:100])
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))

    assert await fs_store.sweep_temporary(timedelta(hours=1)) == 1
    assert not stale.exists()
    assert fresh.exists()
    assert await fs_store.sweep_temporary(timedelta(hours=1)) == 0
    assert fresh.exists()
    assert await fs_store.get(image.sha256) == image.data
    with pytest.raises(ValueError, match="negative"):
        await fs_store.sweep_temporary(timedelta(seconds=-1))


async def test_filesystem_keys_ignore_files_that_are_not_blobs(
    fs_store: FilesystemBlobStore, images: list[SanitisedImage]
) -> None:
    key = await fs_store.put(images[0])
    other = images[1].sha256
    blob_dir = fs_store.path_for(key).parent
    (blob_dir / "notakey.txt").write_bytes(b"not a blob")
    (blob_dir / f"{key.upper()}.jpg").write_bytes(b"uppercase twin")
    (blob_dir / f"{other}.jpg").write_bytes(b"valid name, wrong directory")
    (blob_dir / f"{other}.jpg.part").write_bytes(b"wrong suffix")
    (blob_dir / f"{'b' * 64}.jpg").mkdir()  # a directory, not a file
    (fs_store.root / "tmp" / f"{other}.jpg").write_bytes(b"a temporary file")
    (fs_store.root / "zz").mkdir()
    (fs_store.root / "zz" / f"{other}.jpg").write_bytes(b"not hex fan-out")
    (fs_store.root / f"{other}.jpg").write_bytes(b"at the top")
    assert await all_keys(fs_store) == [key]


async def test_filesystem_store_over_a_missing_root(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "never-created")
    assert await all_keys(store) == []
    assert await store.exists(MISSING_KEY) is False
    with pytest.raises(NotFound):
        await store.get(MISSING_KEY)
    await store.delete(MISSING_KEY)
    assert await store.sweep_temporary(timedelta(0)) == 0
    assert not store.root.exists()


# --- S3 only ----------------------------------------------------------------------------------


async def test_s3_object_name_bytes_and_content_type(
    s3_store: S3BlobStore, raw_s3: S3Store, images: list[SanitisedImage]
) -> None:
    image = images[0]
    key = await s3_store.put(image)
    name = f"{s3_store.prefix}{key[:2]}/{key}.jpg"
    assert s3_store.object_name(key) == name
    result = await obstore.get_async(raw_s3, name)
    assert bytes(await result.bytes_async()) == image.data
    assert result.attributes.get("Content-Type") == "image/jpeg"
    listed = await obstore.list(raw_s3, s3_store.prefix).collect_async()
    assert [meta["path"] for meta in listed] == [name]


async def test_s3_put_skips_an_object_that_exists(
    s3_store: S3BlobStore, raw_s3: S3Store, images: list[SanitisedImage]
) -> None:
    image = images[0]
    key = await s3_store.put(image)
    # Replace the object behind the store's back: a second put that wrote would restore it.
    await obstore.put_async(raw_s3, s3_store.object_name(key), b"planted")
    assert await s3_store.put(image) == key
    assert await s3_store.get(key) == b"planted"


async def test_s3_keys_ignore_foreign_objects_and_other_prefixes(
    s3_server: S3Server,
    s3_bucket: str,
    s3_store: S3BlobStore,
    raw_s3: S3Store,
    images: list[SanitisedImage],
) -> None:
    key = await s3_store.put(images[0])
    other = images[1].sha256
    prefix = s3_store.prefix
    for name in (
        f"{prefix}notes.txt",
        f"{prefix}{key[:2]}/notakey.jpg",
        f"{prefix}{key[:2]}/{key.upper()}.jpg",
        f"{prefix}zz/{other}.jpg",  # valid name, wrong fan-out
        f"{prefix}{other}.jpg",  # no fan-out at all
        f"{prefix}{other[:2]}/deeper/{other}.jpg",
    ):
        await obstore.put_async(raw_s3, name, b"foreign")
    neighbour = S3BlobStore(
        s3_bucket,
        prefix=fresh_prefix(),
        region=REGION,
        endpoint=s3_server.endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    await neighbour.put(images[2])
    assert await all_keys(s3_store) == [key]
    assert await all_keys(neighbour) == [images[2].sha256]
    assert await s3_store.exists(images[2].sha256) is False


def test_s3_prefix_is_normalised_and_checked(s3_server: S3Server, s3_bucket: str) -> None:
    def make(prefix: str) -> S3BlobStore:
        return S3BlobStore(
            s3_bucket,
            prefix=prefix,
            endpoint=s3_server.endpoint,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
        )

    assert make("photos").prefix == "photos/"
    assert make("/photos/").prefix == "photos/"
    assert make("a/b/").prefix == "a/b/"
    assert make("").prefix == ""
    assert make("").object_name(MISSING_KEY) == f"00/{MISSING_KEY}.jpg"
    for bad in ("../photos/", "a//b/", "a/../b"):
        with pytest.raises(ValueError, match="prefix"):
            make(bad)
    with pytest.raises(ValueError, match="both"):
        S3BlobStore(s3_bucket, access_key_id=ACCESS_KEY_ID)


# --- open_blob_store --------------------------------------------------------------------------


async def test_open_blob_store_filesystem(tmp_path: Path, images: list[SanitisedImage]) -> None:
    settings = load_settings({}, data_dir=str(tmp_path))
    store = open_blob_store(settings)
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == settings.data_path / "photos"
    key = await store.put(images[0])
    assert (tmp_path / "photos" / key[:2] / key[2:4] / f"{key}.jpg").read_bytes() == images[0].data
    await store.close()


async def test_open_blob_store_s3_with_credentials_from_the_environment(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    isolated_aws_environment: pytest.MonkeyPatch,
    raw_s3: S3Store,
    images: list[SanitisedImage],
) -> None:
    isolated_aws_environment.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    isolated_aws_environment.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    isolated_aws_environment.setenv("AWS_DEFAULT_REGION", REGION)
    prefix = fresh_prefix()
    settings = load_settings(
        {},
        data_dir=str(tmp_path),
        blob_store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint=s3_server.endpoint,
        s3_prefix=prefix,
    )
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (s3_bucket, prefix)
    key = await store.put(images[0])
    result = await obstore.get_async(raw_s3, f"{prefix}{key[:2]}/{key}.jpg")
    assert bytes(await result.bytes_async()) == images[0].data
    assert await all_keys(store) == [key]
    assert await store.sweep_temporary(timedelta(hours=1)) == 0
    assert not (tmp_path / "photos").exists(), "nothing is written to the data directory"
    await store.close()


# --- streaming and ranges, for both stores ------------------------------------------------------


async def streamed(
    store: BlobStore,
    key: str,
    content_type: str | None = None,
    *,
    start: int = 0,
    end: int | None = None,
) -> bytes:
    chunks = await store.stream(key, content_type, start=start, end=end)
    return b"".join([chunk async for chunk in chunks])


async def test_stream_gives_the_stored_bytes_whole_and_by_range(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    image = images[2]
    await store.put(image)
    data = image.data
    size = len(data)
    assert await streamed(store, image.sha256) == data
    assert await streamed(store, image.sha256, "image/jpeg") == data
    assert await streamed(store, image.sha256, start=10) == data[10:]
    assert await streamed(store, image.sha256, start=5, end=17) == data[5:17]
    assert await streamed(store, image.sha256, start=size - 1, end=size) == data[-1:]
    assert await streamed(store, image.sha256, start=3, end=3) == b""


async def test_stream_of_a_missing_key_is_not_found_before_iterating(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        await store.stream(MISSING_KEY)
    with pytest.raises(NotFound):
        await store.stream(MISSING_KEY, "video/mp4", start=0, end=10)
    with pytest.raises(NotFound):
        await store.stream(MISSING_KEY, start=2, end=2)


async def test_stream_of_an_image_as_a_video_type_is_not_found(
    store: BlobStore, images: list[SanitisedImage]
) -> None:
    image = images[0]
    await store.put(image)
    with pytest.raises(NotFound):
        await store.stream(image.sha256, "video/webm")


async def test_stream_refuses_bad_keys_types_and_ranges(store: BlobStore) -> None:
    for key in BAD_KEYS:
        with pytest.raises(ValueError, match="64 lowercase"):
            await store.stream(key)
    with pytest.raises(ValueError, match="no blobs of type"):
        await store.stream(MISSING_KEY, "image/png")
    for start, end in ((-1, None), (5, 4)):
        with pytest.raises(ValueError, match="range"):
            await store.stream(MISSING_KEY, start=start, end=end)


def test_filesystem_layout_of_photos_is_unchanged(fs_store: FilesystemBlobStore) -> None:
    """Photos stored before videos existed are found where they always were."""
    key = "ab" * 32
    assert fs_store.path_for(key) == fs_store.root / "ab" / "ab" / f"{key}.jpg"
    assert fs_store.path_for(key, "video/mp4") == fs_store.root / "ab" / "ab" / f"{key}.mp4"
    assert fs_store.path_for(key, "video/webm") == fs_store.root / "ab" / "ab" / f"{key}.webm"


# --- videos, for both stores --------------------------------------------------------------------


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> SanitisedVideo:
    from tests.support.video_corpus import corpus

    limits = VideoLimits(max_seconds=60, max_pixels=4_000_000, max_bytes=100 * 1024 * 1024)
    return sanitise_video(corpus().android_mp4, tmp_path_factory.mktemp("videos"), limits)


async def test_put_video_streams_the_file_in_and_out(
    store: BlobStore, video: SanitisedVideo
) -> None:
    expected = video.path.read_bytes()
    key = await store.put_video(video)
    assert key == video.sha256
    assert await store.put_video(video) == key  # idempotent
    assert await all_keys(store) == [key]
    assert await store.exists(key)
    assert await streamed(store, key, "video/mp4") == expected
    assert await streamed(store, key) == expected
    assert await streamed(store, key, start=7, end=70) == expected[7:70]
    assert await store.get(key) == expected
    with pytest.raises(NotFound):
        await store.stream(key, "image/jpeg")
    assert video.path.read_bytes() == expected  # the caller's file is left alone
    await store.delete(key)
    assert not await store.exists(key)
    assert await all_keys(store) == []


async def test_put_video_refuses_a_video_whose_hash_lies(
    store: BlobStore, video: SanitisedVideo
) -> None:
    fields = {name: getattr(video, name) for name in video.__slots__}
    lying = SanitisedVideo(**{**fields, "sha256": "ab" * 32})
    with pytest.raises(ValueError, match="does not match"):
        await store.put_video(lying)
    as_image = SanitisedVideo(**{**fields, "content_type": "image/jpeg"})
    with pytest.raises(ValueError, match="video type"):
        await store.put_video(as_image)
    assert await all_keys(store) == []


def test_a_filesystem_video_blob_is_private_and_named_by_type(
    fs_store: FilesystemBlobStore, video: SanitisedVideo
) -> None:
    key = asyncio.run(fs_store.put_video(video))
    path = fs_store.path_for(key, "video/mp4")
    assert path.is_file()
    assert path.name == f"{key}.mp4"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == video.path.read_bytes()
    assert list((fs_store.root / "tmp").iterdir()) == []
