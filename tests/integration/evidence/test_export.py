"""The evidence bundle (storage/evidence/export.py), read as its recipient would: the manifest
verifies with the key GET /v1/receipts/public-key serves, a changed byte does not; the receipt
is the one the reporter got; sanitised copies hash to the manifest's values and equal what
GET /v1/photos/{id} serves; sealed originals decrypt to the uploaded bytes; the export is
audited; unknown and withdrawn reports and an existing output are refused."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from nacl.signing import SigningKey
from pyrage import decrypt, x25519

from schemas.settings import Settings
from storage.evidence.export import (
    BundleExists,
    ReportNotFound,
    ReportWithdrawn,
    export_report,
)
from storage.evidence.sealer import EvidenceSealer
from storage.evidence.store import FilesystemSealedStore
from tests.support import photo_fixtures as fx
from tests.support.evidence_bundle import receipt_valid, sha256_of, signature_valid, unpack
from tests.support.helpers import Api, bearer, observer_report
from tests.support.photo_api import blob_path, fetched_bytes, scene, unique_jpeg, uploaded


class Original:
    def __init__(self, data: bytes) -> None:
        self.data: bytes | None = data
        self.path: Path | None = None


async def public_key(api: Api) -> str:
    response = await api.client.get("/v1/receipts/public-key")
    assert response.status_code == 200
    key: str = response.json()["public_key"]
    return key


async def report_with_photos(
    api: Api, app: Litestar, identity: x25519.Identity, originals: list[bytes], sealed: int
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A report through HTTP with ``originals`` uploaded; the first ``sealed`` of them get a
    sealed original (as the upload path does with recipients set). Returns (token, the
    201 body of the report, the photos' 201 bodies)."""
    token = await api.device_token()
    response = await api.submit(token, observer_report())
    assert response.status_code == 201, response.text
    report = response.json()
    store = app.state.sealed_originals
    assert isinstance(store, FilesystemSealedStore)
    sealer = EvidenceSealer((str(identity.to_public()),), store)
    photos = []
    for index, data in enumerate(originals):
        body = await uploaded(api, token, report["id"], data)
        photos.append(body)
        if index < sealed:
            seal = await sealer.seal(Original(data))
            await sealer.record(api.conn, uuid.UUID(body["id"]), seal)
    return token, report, photos


async def export(app: Litestar, api: Api, report_id: str, out: Path) -> Any:
    return await export_report(
        api.conn,
        report_id=uuid.UUID(report_id),
        out=out,
        blobs=app.state.blobs,
        sealed=app.state.sealed_originals,
        signer=app.state.signer,
    )


async def test_the_bundle_holds_what_the_manifest_says_and_verifies(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    identity = x25519.Identity.generate()
    with_gps = fx.jpeg_bytes(scene(7), exif=fx.camera_exif(gps=True))
    plain = unique_jpeg()
    token, report, photos = await report_with_photos(
        api, app, identity, [with_gps, plain], sealed=1
    )
    before = datetime.now(UTC)
    summary = await export(app, api, report["id"], tmp_path / "bundle.tar")
    assert summary.files == 2
    assert summary.sealed == 1

    bundle = unpack(tmp_path / "bundle.tar", tmp_path / "unpacked")
    key = await public_key(api)
    assert signature_valid(bundle.manifest_bytes, bundle.signature, key)
    manifest = bundle.manifest
    assert manifest["format"] == "plainsight-evidence-bundle/1"
    assert manifest["report_id"] == report["id"]
    key_id = (await api.client.get("/v1/receipts/public-key")).json()["key_id"]
    assert manifest["signing_key"] == {"algorithm": "Ed25519", "public_key": key, "key_id": key_id}
    exported_at = datetime.fromisoformat(manifest["exported_at"])
    assert before - timedelta(seconds=1) <= exported_at <= datetime.now(UTC)
    assert summary.manifest_sha256 == hashlib.sha256(bundle.manifest_bytes).hexdigest()

    # The receipt is the reporter's, byte for byte in its signature, and verifies.
    assert manifest["receipt"] == report["receipt"]
    assert json.loads(bundle.file("receipt.json").read_text()) == report["receipt"]
    assert receipt_valid(manifest["receipt"], key)

    files = manifest["files"]
    assert [f["photo_id"] for f in files] == [p["id"] for p in photos]
    for entry, photo in zip(files, photos, strict=True):
        served = await fetched_bytes(api, token, photo["id"])
        sanitised = bundle.file(entry["sanitised"]["path"])
        assert sanitised.read_bytes() == served
        assert entry["sanitised"]["sha256"] == hashlib.sha256(served).hexdigest()
        assert entry["sanitised"]["bytes"] == len(served)
        assert entry["content_type"] == "image/jpeg"
        assert entry["provenance"] == photo["provenance"]
        assert (entry["width"], entry["height"]) == (photo["width"], photo["height"])
        assert abs(datetime.fromisoformat(entry["uploaded_at"]) - before) < timedelta(minutes=5)

    sealed_entry, unsealed_entry = files
    assert sealed_entry["provenance"]["had_gps"] is True
    original = sealed_entry["original"]
    assert original["sha256"] == hashlib.sha256(with_gps).hexdigest()
    assert original["bytes"] == len(with_gps)
    sealed_file = bundle.file(original["path"])
    assert original["sealed_sha256"] == sha256_of(sealed_file)
    assert decrypt(sealed_file.read_bytes(), [identity]) == with_gps
    assert unsealed_entry["original"] is None  # uploaded before sealing was on: nothing kept
    assert sorted(p.name for p in bundle.file("originals").iterdir()) == [f"{photos[0]['id']}.age"]

    audit = await api.conn.fetchrow(
        "select actor_id, subject_type, subject_id, details from audit_log"
        " where action = 'evidence.exported' order by id desc limit 1"
    )
    assert audit is not None
    assert audit["actor_id"] is None
    assert (audit["subject_type"], audit["subject_id"]) == ("report", report["id"])
    assert json.loads(audit["details"]) == {
        "files": 2,
        "sealed_originals": 1,
        "manifest_sha256": summary.manifest_sha256,
        "via": "cli",
    }


async def test_a_changed_manifest_or_signature_fails_verification(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    identity = x25519.Identity.generate()
    _, report, _ = await report_with_photos(api, app, identity, [unique_jpeg()], sealed=1)
    await export(app, api, report["id"], tmp_path / "bundle.tar")
    bundle = unpack(tmp_path / "bundle.tar", tmp_path / "unpacked")
    key = await public_key(api)
    assert signature_valid(bundle.manifest_bytes, bundle.signature, key)

    claimed = bundle.manifest["files"][0]["original"]["sha256"]
    forged = bundle.manifest_bytes.replace(claimed.encode(), ("0" * 64).encode())
    assert forged != bundle.manifest_bytes
    assert not signature_valid(forged, bundle.signature, key)
    assert not signature_valid(bundle.manifest_bytes + b" ", bundle.signature, key)
    other = SigningKey.generate().verify_key.encode()
    other_key = base64.urlsafe_b64encode(other).rstrip(b"=").decode()
    assert not signature_valid(bundle.manifest_bytes, bundle.signature, other_key)


async def test_a_report_without_photos_exports_an_empty_list(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    _, report, _ = await report_with_photos(api, app, x25519.Identity.generate(), [], sealed=0)
    summary = await export(app, api, report["id"], tmp_path / "empty.tar")
    bundle = unpack(tmp_path / "empty.tar", tmp_path / "unpacked")
    assert summary.files == 0
    assert bundle.manifest["files"] == []
    assert signature_valid(bundle.manifest_bytes, bundle.signature, await public_key(api))


async def test_unknown_report_is_refused_and_nothing_is_written(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    with pytest.raises(ReportNotFound, match="no report"):
        await export(app, api, str(uuid.uuid4()), tmp_path / "none.tar")
    assert os.listdir(tmp_path) == []


async def test_withdrawn_report_is_refused(api: Api, app: Litestar, tmp_path: Path) -> None:
    token, report, _ = await report_with_photos(
        api, app, x25519.Identity.generate(), [unique_jpeg()], sealed=1
    )
    response = await api.client.delete(f"/v1/reports/{report['id']}", headers=bearer(token))
    assert response.status_code == 204
    with pytest.raises(ReportWithdrawn, match="withdrawn"):
        await export(app, api, report["id"], tmp_path / "withdrawn.tar")
    assert os.listdir(tmp_path) == []


async def test_an_existing_output_is_never_overwritten(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    _, report, _ = await report_with_photos(api, app, x25519.Identity.generate(), [], sealed=0)
    out = tmp_path / "taken.tar"
    out.write_bytes(b"someone else's file")
    with pytest.raises(BundleExists):
        await export(app, api, report["id"], out)
    assert out.read_bytes() == b"someone else's file"


async def test_a_missing_sealed_blob_fails_the_export_and_leaves_no_bundle(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    _, report, photos = await report_with_photos(
        api, app, x25519.Identity.generate(), [unique_jpeg()], sealed=1
    )
    key = await api.conn.fetchval(
        "select blob_key from sealed_originals where photo_id = $1", uuid.UUID(photos[0]["id"])
    )
    await app.state.sealed_originals.delete(key)
    with pytest.raises(Exception, match="sealed original of photo"):
        await export(app, api, report["id"], tmp_path / "broken.tar")
    assert os.listdir(tmp_path) == []


async def test_a_report_without_a_receipt_exports_none(
    api: Api, app: Litestar, tmp_path: Path
) -> None:
    """Imported reports, and reports retention rewrote, have no signature left to show."""
    _, report, _ = await report_with_photos(api, app, x25519.Identity.generate(), [], sealed=0)
    await api.conn.execute(
        "update reports set receipt_signature = null where id = $1", uuid.UUID(report["id"])
    )
    await export(app, api, report["id"], tmp_path / "no-receipt.tar")
    bundle = unpack(tmp_path / "no-receipt.tar", tmp_path / "unpacked")
    assert bundle.manifest["receipt"] is None
    assert not bundle.file("receipt.json").exists()
    assert signature_valid(bundle.manifest_bytes, bundle.signature, await public_key(api))


async def test_a_corrupted_sanitised_copy_fails_the_export(
    api: Api, app: Litestar, settings: Settings, tmp_path: Path
) -> None:
    _, report, photos = await report_with_photos(
        api, app, x25519.Identity.generate(), [unique_jpeg()], sealed=0
    )
    stored = blob_path(settings, photos[0]["sha256"])
    good = stored.read_bytes()
    try:
        stored.write_bytes(good[:-10] + b"0123456789")
        with pytest.raises(ValueError, match="does not match its sha256"):
            await export(app, api, report["id"], tmp_path / "corrupt.tar")
    finally:
        stored.write_bytes(good)
    assert os.listdir(tmp_path) == []
