"""The evidence bundle of one report (``plainsight evidence export``): one uncompressed tar.

Layout (every name under one top directory ``evidence-<report id>/``):

- ``manifest.json``: canonical JSON (keys sorted, no whitespace, UTF-8) describing the report
  and every photo or video: sha256 and size of the original (from the seal) and of the
  sanitised copy, content types, upload times, provenance signals, the export time;
- ``manifest.sig``: base64url (no padding) Ed25519 signature over the exact bytes of
  ``manifest.json``, made with the receipt key (verify it with the key ``GET
  /v1/receipts/keys`` publishes under the manifest's ``signing_key.key_id``);
- ``receipt.json``: the report's signed receipt, rebuilt from the stored row (the same bytes
  of signature the reporter got), absent when there is none (bulk-imported reports; retention
  drops the signature with the fine cell);
- ``originals/<photo id>.age``: the sealed originals as stored, for ``age -d -i KEY``;
- ``sanitised/<photo id>.<ext>``: the sanitised copies the service serves;
- ``README.txt``: how to check the bundle.

The tar is written under a temporary name beside ``out`` and renamed into place when complete,
so a bundle that exists is whole. Sanitised copies are hashed on the way and must match the
sha256 the database holds (the blob store is content-addressed), or the export fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from schemas.photos import Provenance
from storage.audit import log as audit
from storage.errors import NotFound
from storage.evidence.store import SealedStore
from storage.photos.blobs import BlobStore
from storage.reports.receipts import ReceiptSigner, canonical_json
from storage.reports.store import stored_receipt

FORMAT = "plainsight-evidence-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
RECEIPT = "receipt.json"
EXTENSIONS = {"image/jpeg": ".jpg", "video/mp4": ".mp4", "video/webm": ".webm"}

SELECT_REPORT = """
select id, client_id, status, received_at, payload_sha256, receipt_signature, receipt_key_id
from reports where id = $1
"""
SELECT_FILES = """
select p.id, p.sha256, p.bytes, p.width, p.height, p.provenance, p.created_at,
       p.content_type, p.duration_ms,
       s.blob_key, s.original_sha256, s.original_bytes, s.sealed_bytes, s.uploaded_at,
       s.recipients_fingerprint, s.recipient_count
from photos p left join sealed_originals s on s.photo_id = p.id
where p.report_id = $1
order by p.created_at, p.id
"""

README = """Evidence bundle of Plainsight report {report_id}, exported {exported_at}.

manifest.json  what is in this bundle: for each photo or video, the sha256 and size of the
               original as uploaded and of the sanitised copy, upload times, provenance signals.
manifest.sig   Ed25519 signature (base64url, no padding) over the exact bytes of manifest.json,
               by the service's receipt key: check it against the key the service publishes at
               GET /v1/receipts/keys under the key_id manifest.json names (signing_key),
               where it stays after the key is retired.
receipt.json   the report's receipt as the reporter received it (when the service still has it).
originals/     the originals as uploaded, sealed with age to the organisation's keys:
               age -d -i KEYFILE originals/ID.age > ID.original
               sha256sum ID.original   # equals files[].original.sha256 in manifest.json
sanitised/     the copies the service stores and serves (metadata removed).
"""


class ReportNotFound(NotFound):
    """No report has that id."""


class ReportWithdrawn(NotFound):
    """The report was withdrawn: its photos and sealed originals were purged."""


class BundleExists(FileExistsError):
    """The output path exists already; a bundle is never overwritten."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    files: int
    sealed: int
    bytes: int
    manifest_sha256: str


Progress = Callable[[int], None]
"""Called with the bytes just written (for a progress bar)."""


async def export_report(
    conn: asyncpg.Connection,
    *,
    report_id: uuid.UUID,
    out: Path,
    blobs: BlobStore,
    sealed: SealedStore,
    signer: ReceiptSigner,
    now: datetime | None = None,
    progress: Progress | None = None,
    total: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write the bundle of ``report_id`` to ``out`` and audit the export
    (``evidence.exported``)."""
    if await asyncio.to_thread(out.exists):
        raise BundleExists(f"{out} exists; a bundle is never overwritten")
    exported_at = now or datetime.now(UTC)
    # One snapshot for the report and its files (inside a caller's transaction: that one).
    snapshot = (
        conn.transaction()
        if conn.is_in_transaction()
        else conn.transaction(isolation="repeatable_read", readonly=True)
    )
    async with snapshot:
        report = await conn.fetchrow(SELECT_REPORT, report_id)
        if report is None:
            raise ReportNotFound(f"no report {report_id}")
        if report["status"] == "withdrawn":
            raise ReportWithdrawn(
                f"report {report_id} was withdrawn: its photos and sealed originals are purged"
            )
        rows = await conn.fetch(SELECT_FILES, report_id)
    if total is not None:
        total(sum(row["bytes"] + (row["sealed_bytes"] or 0) for row in rows))
    top = f"evidence-{report_id}"
    staging = await asyncio.to_thread(_staging_directory, out)
    try:
        root = staging / top
        (root / "originals").mkdir(parents=True)
        (root / "sanitised").mkdir()
        files: list[dict[str, Any]] = []
        for row in rows:
            files.append(await _collect(row, root, blobs, sealed, progress))
        receipt = (
            None if report["receipt_signature"] is None else await stored_receipt(conn, report)
        )
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "report_id": report_id,
            "exported_at": exported_at,
            "receipt": receipt,
            "signing_key": {
                "algorithm": "Ed25519",
                "public_key": signer.public_key_b64,
                "key_id": signer.key_id,
            },
            "files": files,
        }
        body = canonical_json(manifest)
        (root / MANIFEST).write_bytes(body)
        (root / SIGNATURE).write_text(signer.sign(manifest) + "\n")
        if receipt is not None:
            (root / RECEIPT).write_bytes(msgspec.json.encode(receipt) + b"\n")
        (root / "README.txt").write_text(
            README.format(report_id=report_id, exported_at=exported_at.isoformat())
        )
        partial = staging / "bundle.tar"
        size = await asyncio.to_thread(_write_tar, partial, root, top)
        summary = ExportSummary(
            path=out,
            files=len(files),
            sealed=sum(1 for f in files if f["original"] is not None),
            bytes=size,
            manifest_sha256=hashlib.sha256(body).hexdigest(),
        )
        partial.rename(out)
        try:
            async with conn.transaction():
                await audit.record(
                    conn,
                    actor=None,
                    action="evidence.exported",
                    subject_type="report",
                    subject_id=str(report_id),
                    details={
                        "files": summary.files,
                        "sealed_originals": summary.sealed,
                        "manifest_sha256": summary.manifest_sha256,
                        "via": "cli",
                    },
                )
        except BaseException:
            await asyncio.to_thread(out.unlink, True)  # no bundle leaves unaudited
            raise
        return summary
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _collect(
    row: asyncpg.Record,
    root: Path,
    blobs: BlobStore,
    sealed: SealedStore,
    progress: Progress | None,
) -> dict[str, Any]:
    photo_id: uuid.UUID = row["id"]
    content_type: str = row["content_type"]
    name = f"sanitised/{photo_id}{EXTENSIONS.get(content_type, '')}"
    try:
        chunks = await blobs.stream(row["sha256"], content_type)
    except NotFound:
        raise NotFound(
            f"the sanitised copy of photo {photo_id} is missing from the blob store"
        ) from None
    # Streamed (a video may be a gigabyte) and hashed on the way: the store is
    # content-addressed, so a copy that does not hash to its key is corrupt.
    digest = hashlib.sha256()
    size = 0
    out = await asyncio.to_thread(open, root / name, "wb")
    try:
        async for chunk in chunks:
            digest.update(chunk)
            await asyncio.to_thread(out.write, chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    finally:
        await asyncio.to_thread(out.close)
    if digest.hexdigest() != row["sha256"] or size != row["bytes"]:
        raise ValueError(f"the sanitised copy of photo {photo_id} does not match its sha256")
    original: dict[str, Any] | None = None
    if row["blob_key"] is not None:
        original_name = f"originals/{photo_id}.age"
        try:
            size = await sealed.copy_to(row["blob_key"], root / original_name)
        except NotFound:
            raise NotFound(
                f"the sealed original of photo {photo_id} is missing from the store"
            ) from None
        if size != row["sealed_bytes"]:
            raise ValueError(f"the sealed original of photo {photo_id} has the wrong size")
        if progress is not None:
            progress(size)
        original = {
            "path": original_name,
            "sha256": row["original_sha256"],
            "bytes": row["original_bytes"],
            "sealed_sha256": await asyncio.to_thread(_sha256_of, root / original_name),
            "sealed_bytes": size,
            "sealed_at": row["uploaded_at"],
            "recipients_fingerprint": row["recipients_fingerprint"],
            "recipient_count": row["recipient_count"],
        }
    return {
        "photo_id": photo_id,
        "content_type": content_type,
        "uploaded_at": row["created_at"],
        "width": row["width"],
        "height": row["height"],
        "duration_ms": row["duration_ms"],
        "provenance": msgspec.json.decode(row["provenance"], type=Provenance),
        "sanitised": {"path": name, "sha256": row["sha256"], "bytes": row["bytes"]},
        "original": original,
    }


def _staging_directory(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _write_tar(partial: Path, root: Path, top: str) -> int:
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=f"{top}/{path.relative_to(root)}")
            # Who exported it and where is in the audit log, not in the bundle.
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with path.open("rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)
    with contextlib.suppress(OSError):
        partial.chmod(0o600)
    return partial.stat().st_size
