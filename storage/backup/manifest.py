"""The archive's checksum manifest: what the archive holds, each member's size and sha256, and
where it came from (format, Plainsight version, latest migration, time). Written last, so an
archive cut short anywhere lacks it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal

import msgspec

FORMAT_VERSION: Final = 1
MANIFEST_NAME: Final = "manifest.json"
DUMP_NAME: Final = "database.dump"
S3_OBJECTS_NAME: Final = "s3-objects.json"
DATA_PREFIX: Final = "data/"
"""Files of the data directory, under their path in it (``data/keys/...``)."""
MAX_MANIFEST_BYTES: Final = 256 * 1024 * 1024

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Member(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    size: int
    sha256: str
    mode: int
    """Permission bits (keys are 0600): checked like the bytes, applied at restore."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format_version: int
    plainsight_version: str
    migration: int
    """The latest migration applied to the dumped database."""
    created_at: datetime
    blob_store: Literal["filesystem", "s3"]
    receipt_key: Literal["data_dir", "setting"]
    """``setting``: the signing key came from PLAINSIGHT_RECEIPT_KEY and is not in the archive."""
    members: list[Member]


class S3Object(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    store: Literal["photos", "sealed"]
    key: str
    size: int
    etag: str | None


class ManifestError(ValueError):
    """The manifest is unreadable, of an unknown format, or does not match the members."""


def encode(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=1)


def decode(data: bytes) -> Manifest:
    try:
        manifest = msgspec.json.decode(data, type=Manifest)
    except msgspec.DecodeError as exc:
        # The format version first: a newer archive may differ in more than this field.
        version = _format_version(data)
        if version is not None and version != FORMAT_VERSION:
            raise ManifestError(_unknown_format(version)) from None
        raise ManifestError(f"the manifest is not valid: {exc}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ManifestError(_unknown_format(manifest.format_version))
    names = [member.name for member in manifest.members]
    if len(set(names)) != len(names):
        raise ManifestError("the manifest lists a member twice")
    for member in manifest.members:
        if (
            not 0 <= member.mode <= 0o777
            or member.size < 0
            or not SHA256_HEX.fullmatch(member.sha256)
        ):
            raise ManifestError(f"the manifest's entry for {member.name} is not valid")
    return manifest


def _format_version(data: bytes) -> int | None:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    return version if isinstance(version, int) else None


def _unknown_format(version: int) -> str:
    return (
        f"the archive has format version {version}; this Plainsight reads version "
        f"{FORMAT_VERSION} (restore it with the Plainsight version that wrote it)"
    )


def check_members(manifest: Manifest, found: dict[str, Member]) -> None:
    """Every listed member present with its size and sha256, nothing else, the dump there
    (and the S3 object list exactly when the photos were on S3)."""
    listed = {member.name: member for member in manifest.members}
    missing = sorted(set(listed) - set(found))
    if missing:
        raise ManifestError(f"the archive lacks {missing[0]}, which the manifest lists")
    extra = sorted(set(found) - set(listed))
    if extra:
        raise ManifestError(f"the archive holds {extra[0]}, which the manifest does not list")
    for name, member in listed.items():
        if found[name] != member:
            raise ManifestError(f"{name} does not match its checksum in the manifest")
    required = [DUMP_NAME] + ([S3_OBJECTS_NAME] if manifest.blob_store == "s3" else [])
    for name in required:
        if name not in listed:
            raise ManifestError(f"the archive has no {name}")
    if manifest.blob_store == "filesystem" and S3_OBJECTS_NAME in listed:
        raise ManifestError(f"the archive holds {S3_OBJECTS_NAME} but its photos are files")
