"""With photos on S3 a backup holds no photo bytes but the list of the objects (name, size,
ETag) of the sanitised photos and the sealed originals; a restore checks that the configured
bucket still holds each of them. Both sides list the bucket (a request per thousand objects)
rather than asking for each object."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import obstore
from obstore.store import S3Store

from schemas.settings import Settings
from storage.backup.manifest import S3Object
from storage.s3 import configured_bucket, open_s3_bucket


def _bucket(settings: Settings) -> S3Store:
    return open_s3_bucket(
        configured_bucket(settings),
        region=settings.s3_region,
        endpoint=settings.s3_endpoint,
        access_key_id=None,
        secret_access_key=None,
        timeout="30s",
        retry_timeout=timedelta(seconds=20),
    )


def _prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def _prefixes(settings: Settings) -> dict[str, str]:
    return {"photos": _prefix(settings.s3_prefix), "sealed": _prefix(settings.s3_sealed_prefix)}


async def list_objects(settings: Settings) -> list[S3Object]:
    """Every object under the photo and sealed prefixes, in name order."""
    store = _bucket(settings)
    found: list[S3Object] = []
    for kind, prefix in _prefixes(settings).items():
        async for chunk in obstore.list(store, prefix, chunk_size=1000):
            for meta in chunk:
                found.append(
                    S3Object(
                        "photos" if kind == "photos" else "sealed",
                        meta["path"],
                        meta["size"],
                        meta["e_tag"],
                    )
                )
    return sorted(found, key=lambda item: item.key)


def encode(objects: list[S3Object]) -> bytes:
    return msgspec.json.encode(objects)


def decode(data: bytes) -> list[S3Object]:
    return msgspec.json.decode(data, type=list[S3Object])


async def missing_objects(settings: Settings, expected: list[S3Object]) -> list[str]:
    """The expected objects the bucket lacks (or holds with another size), by name."""
    present = {item.key: item.size for item in await list_objects(settings)}
    return [item.key for item in expected if present.get(item.key) != item.size]
