"""Sealed originals end to end, as an organisation runs them: a key made with Debian's
``age-keygen``, ``plainsight serve`` with PLAINSIGHT_EVIDENCE_RECIPIENTS set, a phone JPEG with
EXIF GPS uploaded over HTTP, ``plainsight evidence export``, and ``age -d`` on every sealed
file: its output hashes to the manifest's sha256, which is the uploaded bytes' sha256, and the
manifest's signature verifies with the key GET /v1/receipts/public-key serves. Without
recipients nothing of the original is kept. Bad input: a bad recipient setting, an unknown or
malformed report id, an existing output, a tampered manifest.

Needs Debian's ``age`` package (``apt-get install age``; .ci/run installs it)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db.pool import connect
from tests.support import photo_fixtures as fx
from tests.support.cli import cli_environment, run_cli, serving, stop
from tests.support.evidence_bundle import receipt_valid, signature_valid, unpack
from tests.support.helpers import observer_report
from tests.support.photo_api import scene

pytestmark = pytest.mark.slow


def age_tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is missing: apt-get install age"
    return path


def make_key(directory: Path) -> tuple[Path, str]:
    """A new age identity file (as the legal team makes it) and its public key."""
    key_file = directory / "legal-team.key"
    subprocess.run([age_tool("age-keygen"), "-o", str(key_file)], check=True, capture_output=True)
    public = subprocess.run(
        [age_tool("age-keygen"), "-y", str(key_file)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert public.startswith("age1")
    return key_file, public


def age_decrypt(key_file: Path, sealed: Path) -> bytes:
    result = subprocess.run(
        [age_tool("age"), "-d", "-i", str(key_file), str(sealed)], check=True, capture_output=True
    )
    return result.stdout


def files_holding(directory: Path, needle: bytes) -> list[Path]:
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and "postgres" not in path.parts and needle in path.read_bytes()
    ]


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


async def upload_through_http(
    env: dict[str, str], log: Path, photos: list[bytes]
) -> tuple[str, dict[str, Any], list[dict[str, Any]], str]:
    """Serve, make a device, a report and upload ``photos``; returns (report id, report body,
    photo bodies, the receipt public key)."""
    async with (
        serving(env, log) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client,
    ):
        device = await client.post("/v1/devices")
        assert device.status_code == 201, device.text
        auth = {"Authorization": f"Bearer {device.json()['token']}"}
        report = await client.post("/v1/reports", json=observer_report(), headers=auth)
        assert report.status_code == 201, report.text
        report_id = report.json()["id"]
        bodies = []
        for data in photos:
            response = await client.post(
                f"/v1/reports/{report_id}/photos",
                content=data,
                headers={**auth, "Content-Type": "image/jpeg"},
            )
            assert response.status_code == 201, response.text
            bodies.append(response.json())
        key = await client.get("/v1/receipts/public-key")
        assert key.status_code == 200
        public_key: str = key.json()["public_key"]
        assert await stop(server) == 0, server.output()
    return report_id, report.json(), bodies, public_key


async def test_sealed_originals_open_with_age_to_the_uploaded_bytes(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    key_file, public = await asyncio.to_thread(make_key, tmp_path)
    env = cli_environment(data_path, empty_database) | {
        "PLAINSIGHT_EVIDENCE_RECIPIENTS": public,
        "PLAINSIGHT_RATE_LIMITS": "off",
    }
    with_gps = fx.jpeg_bytes(scene(21, (640, 480)), exif=fx.camera_exif(orientation=6, gps=True))
    second = fx.jpeg_bytes(scene(22), exif=fx.camera_exif(gps=False))
    report_id, report, photos, public_key = await upload_through_http(
        env, tmp_path / "serve.log", [with_gps, second]
    )

    out = tmp_path / "bundles" / "case-17.tar"
    result = await run_cli("evidence", "export", report_id, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert "2 files, 2 sealed originals" in result.stdout
    assert "exporting" in result.stderr  # the progress bar

    bundle = unpack(out, tmp_path / "unpacked")
    assert signature_valid(bundle.manifest_bytes, bundle.signature, public_key)
    manifest = bundle.manifest
    assert manifest["report_id"] == report_id
    assert receipt_valid(manifest["receipt"], public_key)
    assert manifest["receipt"] == report["receipt"]
    uploaded = [with_gps, second]
    for entry, photo, original in zip(manifest["files"], photos, uploaded, strict=True):
        assert entry["photo_id"] == photo["id"]
        opened = await asyncio.to_thread(
            age_decrypt, key_file, bundle.file(entry["original"]["path"])
        )
        assert hashlib.sha256(opened).hexdigest() == entry["original"]["sha256"]
        assert opened == original
        assert entry["original"]["bytes"] == len(original)
        sanitised = bundle.file(entry["sanitised"]["path"]).read_bytes()
        assert hashlib.sha256(sanitised).hexdigest() == entry["sanitised"]["sha256"]
        assert sanitised != original  # the metadata went
        assert entry["provenance"] == photo["provenance"]
    assert manifest["files"][0]["provenance"]["had_gps"] is True
    assert manifest["files"][1]["provenance"]["had_gps"] is False

    # The manifest with one byte changed no longer verifies.
    tampered = bundle.manifest_bytes.replace(b'"had_gps":true', b'"had_gps":false', 1)
    assert tampered != bundle.manifest_bytes
    assert not signature_valid(tampered, bundle.signature, public_key)

    conn = await connect(empty_database)
    try:
        audited = await conn.fetchval(
            "select count(*) from audit_log where action = 'evidence.exported' and subject_id = $1",
            report_id,
        )
        rows = await conn.fetchval("select count(*) from sealed_originals")
    finally:
        await conn.close()
    assert audited == 1
    assert rows == 2

    # Never overwritten: a second export to the same path fails in one line.
    again = await run_cli("evidence", "export", report_id, "--out", str(out), env=env)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1].startswith("plainsight: ")
    assert "exists" in again.stderr


async def test_without_recipients_nothing_of_the_original_is_kept(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    env = cli_environment(data_path, empty_database) | {"PLAINSIGHT_RATE_LIMITS": "off"}
    original = fx.jpeg_bytes(scene(23), exif=fx.camera_exif(gps=True))
    report_id, _, _, public_key = await upload_through_http(env, tmp_path / "serve.log", [original])

    assert not (data_path / "sealed").exists() or not any((data_path / "sealed").rglob("*.age"))
    conn = await connect(empty_database)
    try:
        assert await conn.fetchval("select count(*) from sealed_originals") == 0
    finally:
        await conn.close()
    # The original's bytes are nowhere under the data directory.
    assert files_holding(data_path, original[-4096:]) == []

    out = tmp_path / "plain.tar"
    result = await run_cli("evidence", "export", report_id, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    bundle = unpack(out, tmp_path / "unpacked")
    assert signature_valid(bundle.manifest_bytes, bundle.signature, public_key)
    (entry,) = bundle.manifest["files"]
    assert entry["original"] is None
    assert not any(bundle.file("originals").iterdir())


async def test_export_refuses_unknown_and_malformed_report_ids(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    migrated = await run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr

    unknown = str(uuid.uuid4())
    result = await run_cli("evidence", "export", unknown, "--out", str(tmp_path / "x"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"plainsight: no report {unknown}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()

    malformed = await run_cli("evidence", "export", "report-17", env=env)
    assert malformed.returncode == 2
    assert malformed.stderr.strip() == "plainsight: REPORT_ID must be a UUID, not 'report-17'"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("age1notakey", "entry 1 (age1notakey) is not a valid age public key"),
        ("ssh-rsa AAAA", "entry 1 (ssh-rsa) is not an age public key"),
    ],
)
async def test_a_bad_recipient_setting_stops_serve_with_exit_2(
    empty_database: str, data_path: Path, value: str, shown: str
) -> None:
    env = cli_environment(data_path, empty_database) | {"PLAINSIGHT_EVIDENCE_RECIPIENTS": value}
    result = await run_cli("serve", "--port", "0", env=env)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith("plainsight: invalid setting: PLAINSIGHT_EVIDENCE_RECIPIENTS")
    assert shown in line


async def test_a_secret_key_as_recipient_is_refused_without_echoing_it(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    key_file, _ = await asyncio.to_thread(make_key, tmp_path)
    secret = next(
        line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    )
    env = cli_environment(data_path, empty_database) | {"PLAINSIGHT_EVIDENCE_RECIPIENTS": secret}
    result = await run_cli("migrate", env=env)
    assert result.returncode == 2
    assert "secret key" in result.stderr
    assert secret[15:] not in result.stderr


async def test_gc_deletes_old_orphan_seals_and_keeps_young_ones(
    empty_database: str, data_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    migrated = await run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    sealed_root = data_path / "sealed"
    old_key, young_key = "a1" + "0" * 30, "b2" + "0" * 30
    old = sealed_root / "a1" / f"{old_key}.age"
    young = sealed_root / "b2" / f"{young_key}.age"
    stale_scratch = sealed_root / "tmp" / "seal-crashed.age"
    for path in (old, young, stale_scratch):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"age-encryption.org/v1\n(an orphan)")
    two_hours_ago = time.time() - 7200
    for path in (old, stale_scratch):
        os.utime(path, (two_hours_ago, two_hours_ago))

    result = await run_cli("gc", env=env)

    assert result.returncode == 0, result.stderr
    assert (
        "plainsight: checked 2 sealed originals, deleted 1 orphans, 0 purged with their photos"
        " and 1 unfinished seals"
    ) in result.stdout
    assert not old.exists()
    assert not stale_scratch.exists()
    assert young.exists()

    negative = await run_cli("gc", "--sealed-orphan-minutes", "-5", env=env)
    assert negative.returncode == 2
    assert negative.stderr.strip() == "plainsight: ages in minutes must not be negative"
