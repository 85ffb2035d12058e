"""``plainsight backup`` and ``plainsight restore`` as an operator runs them: real subprocesses,
real PostgreSQL (the test server, and the embedded one made in a fresh data directory), data
made through the HTTP API of ``plainsight serve``.

Round trips end in a service whose ``audit verify`` passes with the source's last hash, whose
old receipts verify against the same public key, and whose photos and sealed originals are all
there with the same sha256. Every damaged or refused restore leaves its target exactly as it
was: the same files (names, modes, bytes) and no table in the database.

Needs Debian's ``age`` package (``age-keygen``; .ci/run installs it)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import msgspec
import pytest

from schemas.settings import load_settings
from storage.backup.archive import read_archive
from storage.backup.create import create_backup, data_files
from storage.backup.manifest import check_members, decode
from storage.backup.pgtools import forward_script
from storage.backup.restore import SELECT_RELATIONS
from storage.db.pool import connect
from storage.db.roles import with_credentials
from tests.support import photo_fixtures as fx
from tests.support.cli import Completed, cli_environment, run_cli, serving, stop
from tests.support.evidence_bundle import receipt_valid
from tests.support.helpers import bearer, observer_report
from tests.support.photo_api import scene
from tests.support.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
MODERATOR = "mod@example.org"
Snapshot = dict[str, tuple[int, int, str]] | None


def age_keygen(directory: Path, name: str) -> tuple[Path, str]:
    """An age identity file made with Debian's age-keygen, and its public key."""
    tool = shutil.which("age-keygen")
    assert tool is not None, "age-keygen is missing: apt-get install age"
    key_file = directory / f"{name}.key"
    subprocess.run([tool, "-o", str(key_file)], check=True, capture_output=True)
    public = subprocess.run(
        [tool, "-y", str(key_file)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return key_file, public


def snapshot(path: Path) -> Snapshot:
    """Every file and directory under ``path``: mode, size and sha256 (None: no such path)."""
    if not path.exists():
        return None
    found: dict[str, tuple[int, int, str]] = {}
    for item in sorted(path.rglob("*")):
        status = item.lstat()
        digest = hashlib.sha256(item.read_bytes()).hexdigest() if item.is_file() else ""
        found[str(item.relative_to(path))] = (status.st_mode, status.st_size, digest)
    return found


def one_line(result: Completed) -> str:
    """The one plain line a failure prints (progress bars may come before it)."""
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = lines[-1]
    assert last.startswith("plainsight: "), result.stderr
    return last


def sealed_hashes(data_path: Path) -> dict[str, str]:
    """The sealed originals under ``data_path``, by relative name, as sha256 hex."""
    root = data_path / "sealed"
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*.age")
    }


async def tables(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        return [row["relname"] for row in await conn.fetch(SELECT_RELATIONS)]
    finally:
        await conn.close()


@dataclass(frozen=True)
class Source:
    data_path: Path
    env: dict[str, str]
    device_token: str
    receipts: list[dict[str, Any]]
    public_key: dict[str, Any]
    photos: dict[str, str]  # photo id -> sha256 of the sanitised bytes served
    sealed: dict[str, str]  # relative path under sealed/ -> sha256
    last_entry: str  # ID:HASH of the audit log's last entry


async def make_source(
    data_path: Path, env: dict[str, str], log: Path, *, with_evidence: bool = True
) -> Source:
    """An installation with a moderator, a device, two reports with receipts, three photos
    (sealed when evidence recipients are set), a review and a signed audit checkpoint."""
    await asyncio.to_thread(data_path.mkdir, mode=0o700)
    created = await run_cli(
        "users", "create", "--email", MODERATOR, "--role", "moderator", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    async with (
        serving(env, log) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client,
    ):
        device = await client.post("/v1/devices")
        assert device.status_code == 201, device.text
        token = device.json()["token"]
        receipts = []
        report_ids = []
        for _ in range(2):
            report = await client.post("/v1/reports", json=observer_report(), headers=bearer(token))
            assert report.status_code == 201, report.text
            receipts.append(report.json()["receipt"])
            report_ids.append(report.json()["id"])
        photos: dict[str, str] = {}
        for seed, report_id in ((41, report_ids[0]), (42, report_ids[0]), (43, report_ids[1])):
            data = fx.jpeg_bytes(scene(seed), exif=fx.camera_exif(gps=True))
            stored = await client.post(
                f"/v1/reports/{report_id}/photos",
                content=data,
                headers={**bearer(token), "Content-Type": "image/jpeg"},
            )
            assert stored.status_code == 201, stored.text
            served = await client.get(f"/v1/photos/{stored.json()['id']}", headers=bearer(token))
            assert served.status_code == 200
            photos[stored.json()["id"]] = hashlib.sha256(served.content).hexdigest()
        session = await client.post("/v1/sessions", json={"email": MODERATOR, "password": PASSWORD})
        assert session.status_code == 201, session.text
        reviewed = await client.post(
            f"/v1/reports/{report_ids[0]}/review",
            json={"status": "verified"},
            headers=bearer(session.json()["token"]),
        )
        assert reviewed.status_code == 200, reviewed.text
        key = await client.get("/v1/receipts/public-key")
        assert key.status_code == 200
        assert await stop(server) == 0, server.output()
    checkpoint = await run_cli("audit", "checkpoint", env=env)
    assert checkpoint.returncode == 0, checkpoint.stderr
    verified = await run_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr
    match = re.search(
        r"(\d+) entries checked; last entry (\d+), hash ([0-9a-f]{64})", verified.stdout
    )
    assert match is not None, verified.stdout
    assert int(match[1]) >= 3  # account created, review, and more
    sealed = sealed_hashes(data_path)
    if with_evidence:
        assert len(sealed) == 3
    return Source(
        data_path, env, token, receipts, key.json(), photos, sealed,
        f"{match[2]}:{match[3]}",
    )  # fmt: skip


def public_keys(document: dict[str, Any]) -> list[str]:
    """Every public key a key document names (one key, or a key set)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                if name == "public_key" and isinstance(item, str):
                    found.append(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return found


async def check_restored(source: Source, env: dict[str, str], log: Path) -> None:
    """The restored installation serves what the source did, and its audit log verifies."""
    data_path = Path(env["PLAINSIGHT_DATA_DIR"])
    checkpoints = sorted((data_path / "audit-checkpoints").iterdir())
    assert checkpoints
    verified = await run_cli(
        "audit", "verify", "--expect", source.last_entry, "--checkpoint", str(checkpoints[0]),
        env=env,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    # The source's last entry is there with its hash (a restored service may have added more).
    assert "audit log OK" in verified.stdout
    assert "recorded hashes match" in verified.stdout
    keys = data_path / "keys"
    assert keys.stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in keys.iterdir())
    assert sealed_hashes(data_path) == source.sealed
    async with (
        serving(env, log) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client,
    ):
        key = await client.get("/v1/receipts/public-key")
        assert key.json() == source.public_key
        for receipt in source.receipts:
            assert any(receipt_valid(receipt, public) for public in public_keys(key.json()))
        for photo_id, digest in source.photos.items():
            served = await client.get(f"/v1/photos/{photo_id}", headers=bearer(source.device_token))
            assert served.status_code == 200, served.text
            assert hashlib.sha256(served.content).hexdigest() == digest
        # The moderator can still sign in and the service writes (a new audit entry).
        session = await client.post("/v1/sessions", json={"email": MODERATOR, "password": PASSWORD})
        assert session.status_code == 201, session.text
        report = await client.post(
            "/v1/reports", json=observer_report(), headers=bearer(source.device_token)
        )
        assert report.status_code == 201, report.text
        assert await stop(server) == 0, server.output()
    again = await run_cli("audit", "verify", "--expect", source.last_entry, env=env)
    assert again.returncode == 0, again.stderr


@pytest.fixture(scope="module")
def evidence_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return age_keygen(tmp_path_factory.mktemp("evidence"), "legal-team")


@pytest.fixture(scope="module")
async def source(
    fresh_database: object, tmp_path_factory: pytest.TempPathFactory, evidence_key: tuple[Path, str]
) -> Source:
    """One installation for the module (on the test server), never changed by the tests."""
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    root = tmp_path_factory.mktemp("source")
    data_path = root / "data"
    env = cli_environment(data_path, await make()) | {
        "PLAINSIGHT_RATE_LIMITS": "off",
        "PLAINSIGHT_EVIDENCE_RECIPIENTS": evidence_key[1],
    }
    return await make_source(data_path, env, root / "serve.log")


@pytest.fixture(scope="module")
async def archive(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("archives") / "plain.tar"
    result = await run_cli("backup", "--out", str(out), env=source.env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def empty_target(tmp_path: Path) -> dict[str, str]:
    """A data directory that does not exist yet, for the embedded PostgreSQL."""
    return cli_environment(tmp_path / "restored", None) | {"PLAINSIGHT_RATE_LIMITS": "off"}


async def test_backup_holds_the_dump_keys_checkpoints_photos_and_sealed_originals(
    source: Source, archive: Path
) -> None:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = msgspec.json.decode(cast(io.BufferedReader, tar.extractfile(names[-1])).read())
        members = {info.name: info for info in tar.getmembers()}
    assert names[0] == "database.dump"
    assert names[-1] == "manifest.json"
    assert manifest["format_version"] == 1
    assert manifest["migration"] >= 22
    assert manifest["blob_store"] == "filesystem"
    assert manifest["receipt_key"] == "data_dir"
    assert manifest["plainsight_version"]
    assert manifest["created_at"]
    listed = {entry["name"]: entry for entry in manifest["members"]}
    assert set(listed) == set(names) - {"manifest.json"}
    assert "data/keys/receipt-ed25519.key" in listed
    assert listed["data/keys/receipt-ed25519.key"]["mode"] == 0o600
    assert any(name.startswith("data/audit-checkpoints/") for name in names)
    photos = [name for name in names if name.startswith("data/photos/")]
    assert len(photos) == 3
    assert not any(name.startswith("data/photos/tmp/") for name in names)
    sealed = {
        name.removeprefix("data/sealed/") for name in names if name.startswith("data/sealed/")
    }
    assert sealed == set(source.sealed)
    for name, entry in listed.items():
        assert members[name].size == entry["size"]
        source_file = source.data_path / name.removeprefix("data/")
        if name.startswith("data/"):
            assert hashlib.sha256(source_file.read_bytes()).hexdigest() == entry["sha256"]
    # Transient state and the database's own files are not in it.
    assert not any(
        name.startswith(("data/postgres", "data/spool", "data/uploads")) for name in names
    )
    assert mode_of(archive) == 0o600


async def test_round_trip_into_an_embedded_then_an_empty_database(
    source: Source,
    archive: Path,
    empty_target: dict[str, str],
    empty_database: str,
    tmp_path: Path,
) -> None:
    # Into a fresh data directory: the embedded PostgreSQL is made there.
    restored = await run_cli("restore", str(archive), env=empty_target, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert f"restored into {empty_target['PLAINSIGHT_DATA_DIR']} the backup of" in restored.stdout
    assert "reading the archive" in restored.stderr  # the progress bar
    data_path = Path(empty_target["PLAINSIGHT_DATA_DIR"])
    assert names_in(data_path) == [
        "audit-checkpoints", "keys", "photos", "postgres", "sealed",
    ]  # fmt: skip
    await check_restored(source, empty_target, tmp_path / "restored.log")

    # That embedded installation backed up again, encrypted with an age-keygen key, and
    # restored into an empty database (DATABASE_URL) with its identity.
    identity, recipient = age_keygen(tmp_path, "operator")
    encrypted = tmp_path / "again.tar.age"
    backup = await run_cli(
        "backup", "--out", str(encrypted), "--recipient", recipient, env=empty_target
    )
    assert backup.returncode == 0, backup.stderr
    assert "encrypted" in backup.stdout
    assert "backing up" in backup.stderr
    assert encrypted.read_bytes().startswith(b"age-encryption.org/v1\n")
    second = cli_environment(tmp_path / "second", empty_database) | {
        "PLAINSIGHT_RATE_LIMITS": "off"
    }
    restored = await run_cli(
        "restore", str(encrypted), "--identity", str(identity), env=second, cwd=tmp_path
    )
    assert restored.returncode == 0, restored.stderr
    assert "audit_log" in await tables(empty_database)
    await check_restored(source, second, tmp_path / "second.log")


async def test_restore_into_an_empty_database_with_the_recipients_file(
    source: Source, empty_database: str, tmp_path: Path
) -> None:
    """From the test server to the test server (PostgreSQL 15 in CI: the restore script
    must do without ``SET transaction_timeout``)."""
    identity, recipient = age_keygen(tmp_path, "operator")
    _, other = age_keygen(tmp_path, "colleague")
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# the operators\n{recipient}\n\n{other}\n")
    out = tmp_path / "archive.tar.age"
    backup = await run_cli(
        "backup", "--out", str(out), "--recipients-file", str(recipients), env=source.env
    )
    assert backup.returncode == 0, backup.stderr
    target = cli_environment(tmp_path / "target", empty_database) | {
        "PLAINSIGHT_RATE_LIMITS": "off"
    }
    restored = await run_cli(
        "restore", str(out), "--identity", str(identity), env=target, cwd=tmp_path
    )
    assert restored.returncode == 0, restored.stderr
    await check_restored(source, target, tmp_path / "target.log")


# --- damaged archives -------------------------------------------------------------------------


Members = list[tuple[tarfile.TarInfo, bytes]]


def member_bytes(tar: tarfile.TarFile, name: str | tarfile.TarInfo) -> bytes:
    return cast(io.BufferedReader, tar.extractfile(name)).read()


def names_in(path: Path) -> list[str]:
    return sorted(item.name for item in path.iterdir())


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def rewrite(archive: Path, out: Path, change: Callable[[Members], None]) -> Path:
    """A copy of ``archive`` with its members changed by ``change`` (in place on the list)."""
    with tarfile.open(archive) as tar:
        members = [(info, member_bytes(tar, info)) for info in tar.getmembers()]
    change(members)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def edit_manifest(members: Members, edit: Callable[[dict[str, Any]], None]) -> None:
    info, data = members[-1]
    manifest = msgspec.json.decode(data)
    edit(manifest)
    members[-1] = (info, msgspec.json.encode(manifest))


def first_photo(members: Members) -> int:
    return next(i for i, (info, _) in enumerate(members) if info.name.startswith("data/photos/"))


def flip_byte(members: Members) -> None:
    index = first_photo(members)
    info, data = members[index]
    members[index] = (info, data[:100] + bytes([data[100] ^ 0x01]) + data[101:])


def add_member(members: Members) -> None:
    members.insert(-1, (tarfile.TarInfo("data/photos/ab/cd/" + "ab" * 32 + ".jpg"), b"extra"))


def remove_member(members: Members) -> None:
    del members[first_photo(members)]


def unsafe_name(members: Members) -> None:
    members.insert(-1, (tarfile.TarInfo("data/keys/../../../escaped"), b"x"))


def altered_checksum(members: Members) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        manifest["members"][1]["sha256"] = "0" * 64

    edit_manifest(members, edit)


def altered_mode(members: Members) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        for entry in manifest["members"]:
            if entry["name"].startswith("data/keys/"):
                entry["mode"] = 0o644

    edit_manifest(members, edit)


def unknown_format(members: Members) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        manifest["format_version"] = 99

    edit_manifest(members, edit)


def manifest_removed(members: Members) -> None:
    del members[-1]


DAMAGE: dict[str, tuple[Callable[[Members], None], str]] = {
    "a flipped byte in a photo": (flip_byte, "does not match its checksum"),
    "a member added": (add_member, "which the manifest does not list"),
    "a member removed": (remove_member, "which the manifest lists"),
    "an unsafe member name": (unsafe_name, "unsafe name"),
    "a checksum altered in the manifest": (altered_checksum, "does not match its checksum"),
    "a mode altered in the manifest": (altered_mode, "does not match its checksum"),
    "an unknown format version": (unknown_format, "format version 99"),
    "no manifest": (manifest_removed, "has no manifest"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_a_tampered_archive_is_refused_and_nothing_is_restored(
    archive: Path, empty_target: dict[str, str], tmp_path: Path, damage: str
) -> None:
    change, expected = DAMAGE[damage]
    tampered = rewrite(archive, tmp_path / "tampered.tar", change)
    result = await run_cli("restore", str(tampered), env=empty_target, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert expected in one_line(result)
    assert names_in(tmp_path) == ["tampered.tar"]  # no data directory, nothing escaped


@pytest.mark.parametrize("where", ["in the middle", "inside the manifest"])
async def test_a_truncated_archive_is_refused_into_an_existing_empty_directory(
    archive: Path, empty_target: dict[str, str], tmp_path: Path, where: str
) -> None:
    size = archive_size(archive) // 2 if where == "in the middle" else manifest_offset(archive) + 20
    truncated = truncate(archive, tmp_path / "truncated.tar", size)
    data_path = Path(empty_target["PLAINSIGHT_DATA_DIR"])
    before = make_target(data_path, {"README": "the operator's note\n"})
    result = await run_cli("restore", str(truncated), env=empty_target, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    line = one_line(result)
    assert "truncated" in line
    assert snapshot(data_path) == before


async def test_encrypted_archive_wrong_identity_truncated_or_no_identity(
    source: Source, empty_database: str, tmp_path: Path
) -> None:
    _, recipient = age_keygen(tmp_path, "right")
    wrong, _ = age_keygen(tmp_path, "wrong")
    right = tmp_path / "right.key"
    out = tmp_path / "archive.tar.age"
    backup = await run_cli("backup", "--out", str(out), "--recipient", recipient, env=source.env)
    assert backup.returncode == 0, backup.stderr
    target = cli_environment(tmp_path / "target", empty_database)

    result = await run_cli("restore", str(out), "--identity", str(wrong), env=target, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot decrypt the archive" in one_line(result)

    result = await run_cli("restore", str(out), env=target, cwd=tmp_path)
    assert result.returncode == 1
    assert "encrypted: give its age identity with --identity" in one_line(result)

    truncated = truncate(out, tmp_path / "truncated.tar.age", archive_size(out) - 1000)
    result = await run_cli(
        "restore", str(truncated), "--identity", str(right), env=target, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "cannot decrypt the archive" in one_line(result)

    not_an_identity = tmp_path / "recipient.txt"
    not_an_identity.write_text(recipient + "\n")
    result = await run_cli(
        "restore", str(out), "--identity", str(not_an_identity), env=target, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "holds no age identity" in one_line(result)

    assert "target" not in names_in(tmp_path)
    assert await tables(empty_database) == []


# --- refusals ---------------------------------------------------------------------------------


EXISTING: dict[str, dict[str, str | None]] = {
    "keys": {"keys/receipt-ed25519.key": "k"},
    "photos": {"photos/ab": None},  # an empty fan-out directory is a photo store in use
    "sealed": {"sealed/ab/x.age": "s"},
    "postgres": {"postgres/PG_VERSION": "18"},
    "audit-checkpoints": {"audit-checkpoints/c.json": "{}"},
}


def make_target(data_path: Path, contents: dict[str, str | None]) -> Snapshot:
    """A data directory holding ``contents`` (text files; None: a directory); its snapshot."""
    data_path.mkdir(mode=0o750)
    for name, text in contents.items():
        path = data_path / name
        if text is None:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return snapshot(data_path)


def archive_size(path: Path) -> int:
    return path.stat().st_size


def manifest_offset(archive: Path) -> int:
    """Where the manifest's bytes start (the last member: only the tar's end follows it)."""
    with tarfile.open(archive) as tar:
        return tar.getmember("manifest.json").offset_data


def truncate(archive: Path, out: Path, size: int) -> Path:
    out.write_bytes(archive.read_bytes()[:size])
    return out


@pytest.mark.parametrize("existing", list(EXISTING))
async def test_restore_over_existing_data_is_refused(
    archive: Path, empty_target: dict[str, str], tmp_path: Path, existing: str
) -> None:
    data_path = Path(empty_target["PLAINSIGHT_DATA_DIR"])
    before = make_target(data_path, EXISTING[existing])
    result = await run_cli("restore", str(archive), env=empty_target, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    line = one_line(result)
    assert f"{data_path / existing} exists" in line
    assert "a restore needs an empty target" in line
    assert snapshot(data_path) == before


async def test_restore_into_a_database_with_tables_is_refused(
    archive: Path, empty_database: str, tmp_path: Path
) -> None:
    conn = await connect(empty_database)
    try:
        await conn.execute("create table operators_notes (id int primary key, note text)")
        await conn.execute("insert into operators_notes values (1, 'keep me')")
    finally:
        await conn.close()
    target = cli_environment(tmp_path / "target", empty_database)
    result = await run_cli("restore", str(archive), env=target, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "already has 1 tables (operators_notes)" in one_line(result)
    assert await tables(empty_database) == ["operators_notes"]
    assert "target" not in names_in(tmp_path)


async def test_a_failing_database_restore_leaves_nothing_behind(
    archive: Path, empty_database: str, tmp_path: Path
) -> None:
    """A database without tables but with one of the dump's functions: the restore fails at
    that statement and its one transaction takes every table it made with it."""
    conn = await connect(empty_database)
    try:
        await conn.execute(
            "create function audit_claim(integer) returns int language sql as 'select 1'"
        )
    finally:
        await conn.close()
    target = cli_environment(tmp_path / "target", empty_database)
    result = await run_cli("restore", str(archive), env=target, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    line = one_line(result)
    assert "the restore failed" in line
    assert "audit_claim" in line
    assert await tables(empty_database) == []
    assert "target" not in names_in(tmp_path)


async def test_a_database_user_without_createrole_is_refused_before_restoring(
    archive: Path, empty_database: str, tmp_path: Path
) -> None:
    """The service's role is made after the dump is restored: a user who may not make it is
    refused first, so no restored database is left without its role."""
    role = f"backup_test_{secrets.token_hex(4)}"
    conn = await connect(empty_database)
    try:
        await conn.execute(f"create role {role} login nocreaterole nosuperuser")
        try:
            # Both test servers trust local connections: the password is not checked.
            target = cli_environment(
                tmp_path / "target", with_credentials(empty_database, role, "unused")
            )
            result = await run_cli("restore", str(archive), env=target, cwd=tmp_path)
            assert result.returncode == 1, result.stderr
            assert "may not create the service's role (it needs CREATEROLE)" in one_line(result)
            assert await tables(empty_database) == []
            assert "target" not in names_in(tmp_path)
        finally:
            await conn.execute(f"drop role {role}")
    finally:
        await conn.close()


async def test_a_photo_deleted_while_the_backup_runs_is_left_out(
    source: Source, tmp_path: Path
) -> None:
    """A withdrawal deletes its photos at once, whatever a backup is doing: the file is left
    out and named, and the archive still checks out."""
    data_path = tmp_path / "data"
    await asyncio.to_thread(shutil.copytree, source.data_path, data_path)
    settings = load_settings({}, database_url=source.env["DATABASE_URL"], data_dir=str(data_path))
    files = data_files(data_path, "filesystem")
    victim_name, victim = next((n, p) for n, p in files if n.startswith("data/photos/"))

    def delete_once_started(count: int) -> None:  # the dump is read first, then the files
        victim.unlink(missing_ok=True)

    out = tmp_path / "b.tar"
    summary = await create_backup(
        settings, settings.database_url or "", out, [], version="test",
        progress=delete_once_started, total=lambda count: None,
    )  # fmt: skip
    assert summary.vanished == [victim_name]
    assert summary.files == len(files) - 1
    raw, found = await asyncio.to_thread(
        read_archive, out, tmp_path / "staging", [], lambda count: None
    )
    manifest = decode(raw)
    check_members(manifest, found)
    assert victim_name not in found
    assert len(found) == len(files)  # the dump, and every file but the victim


async def test_an_existing_output_is_never_overwritten(source: Source, tmp_path: Path) -> None:
    out = tmp_path / "backup.tar"
    out.write_bytes(b"yesterday's backup")
    result = await run_cli("backup", "--out", str(out), env=source.env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"{out} exists" in one_line(result)
    assert out.read_bytes() == b"yesterday's backup"
    assert names_in(tmp_path) == ["backup.tar"]  # no partial file left


async def test_backup_into_a_directory_names_the_archive(source: Source, tmp_path: Path) -> None:
    result = await run_cli("backup", "--out", str(tmp_path), env=source.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [name] = names_in(tmp_path)
    made = tmp_path / name
    assert re.fullmatch(r"plainsight-backup-\d{8}T\d{6}Z\.tar", made.name)
    assert f"wrote {made}" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--recipient", "age1notakey"),
        ("--recipient", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"),
    ],
)
async def test_a_bad_recipient_is_a_usage_error(
    source: Source, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = await run_cli("backup", "--out", str(tmp_path / "b.tar"), *args, env=source.env)
    assert result.returncode == 2, result.stderr
    assert "recipients: entry 1" in one_line(result)
    assert names_in(tmp_path) == []


async def test_receipt_key_from_the_setting_is_named_in_the_manifest(
    source: Source, tmp_path: Path
) -> None:
    env = source.env | {"PLAINSIGHT_RECEIPT_KEY": "7n2kkfF7W6jvN4O2wtwpS8bW9c3hD-9YmVqKdc5uQiE"}
    out = tmp_path / "b.tar"
    result = await run_cli("backup", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "PLAINSIGHT_RECEIPT_KEY and is not in the archive" in result.stderr
    with tarfile.open(out) as tar:
        manifest = msgspec.json.decode(
            cast(io.BufferedReader, tar.extractfile("manifest.json")).read()
        )
    assert manifest["receipt_key"] == "setting"


# --- photos on S3 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server) -> dict[str, str]:
    environment = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "PLAINSIGHT_BLOB_STORE": "s3",
        "PLAINSIGHT_S3_BUCKET": s3_server.create_bucket(),
        "PLAINSIGHT_S3_ENDPOINT": s3_server.endpoint,
        "PLAINSIGHT_S3_SEALED_PREFIX": "legal/sealed/",
        "PLAINSIGHT_RATE_LIMITS": "off",
    }
    return environment


async def test_s3_objects_are_listed_and_checked_at_restore(
    fresh_database: object,
    s3_env: dict[str, str],
    s3_server: S3Server,
    evidence_key: tuple[Path, str],
    tmp_path: Path,
) -> None:
    import boto3

    make = cast(Callable[[], Awaitable[str]], fresh_database)
    env = (
        cli_environment(tmp_path / "source", await make())
        | s3_env
        | {"PLAINSIGHT_EVIDENCE_RECIPIENTS": evidence_key[1]}
    )
    source = await make_source(
        tmp_path / "source", env, tmp_path / "source.log", with_evidence=False
    )
    out = tmp_path / "s3.tar"
    backup = await run_cli("backup", "--out", str(out), env=env)
    assert backup.returncode == 0, backup.stderr
    assert "6 S3 objects listed" in backup.stdout  # 3 photos, 3 sealed originals
    with tarfile.open(out) as tar:
        names = tar.getnames()
        objects = msgspec.json.decode(member_bytes(tar, "s3-objects.json"))
    assert not any(name.startswith(("data/photos/", "data/sealed/")) for name in names)
    assert sorted(o["store"] for o in objects) == ["photos"] * 3 + ["sealed"] * 3
    assert all(o["size"] > 0 and o["etag"] for o in objects)
    sealed_keys = [o["key"] for o in objects if o["store"] == "sealed"]
    assert all(key.startswith("legal/sealed/") for key in sealed_keys)

    target = cli_environment(tmp_path / "restored", None) | s3_env
    restored = await run_cli("restore", str(out), env=target, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "6 S3 objects present" in restored.stdout
    await check_restored(source, target, tmp_path / "restored.log")

    # One sealed original gone from the bucket: named, and nothing restored.
    s3 = boto3.client(
        "s3", endpoint_url=s3_server.endpoint, region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip
    await asyncio.to_thread(
        s3.delete_object, Bucket=s3_env["PLAINSIGHT_S3_BUCKET"], Key=sealed_keys[0]
    )
    again = cli_environment(tmp_path / "again", None) | s3_env
    result = await run_cli("restore", str(out), env=again, cwd=tmp_path)
    assert result.returncode == 1
    assert "1 of the archive's 6 S3 objects are missing from bucket" in result.stderr
    assert f"  missing: {sealed_keys[0]}" in result.stderr
    assert "again" not in names_in(tmp_path)

    # Photos as files in the archive, but S3 configured: refused.
    files = cli_environment(tmp_path / "files", None) | s3_env
    del_env = {k: v for k, v in files.items() if k != "PLAINSIGHT_BLOB_STORE"}
    result = await run_cli("restore", str(out), env=del_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "PLAINSIGHT_BLOB_STORE is filesystem" in one_line(result)
    assert "files" not in names_in(tmp_path)


# --- the restore script -----------------------------------------------------------------------


def forwarded(script: bytes, *, drop_timeout: bool) -> bytes:
    source, sink = io.BytesIO(script), io.BytesIO()
    forward_script(source, sink, drop_timeout, lambda count: None)
    return sink.getvalue()


SCRIPT = b"""SET statement_timeout = 0;
SET transaction_timeout = 0;
CREATE TABLE public.notes (id integer, body text);
ALTER TABLE ONLY public.notes ALTER COLUMN id SET (pg_attver=654162064);
ALTER TABLE ONLY public.notes ALTER COLUMN body SET (n_distinct=5, pg_attver=7);
COPY public.notes (id, body) FROM stdin;
1\tSET transaction_timeout = 0;
2\tALTER TABLE ONLY x ALTER COLUMN y SET (pg_attver=1);
\\.
SELECT 1;
"""


def test_the_script_goes_without_settings_and_options_the_target_refuses() -> None:
    older = forwarded(SCRIPT, drop_timeout=True).splitlines()
    assert b"SET transaction_timeout = 0;" not in older  # as a statement
    assert b"ALTER TABLE ONLY public.notes ALTER COLUMN id SET (pg_attver=654162064);" not in older
    assert b"ALTER TABLE ONLY public.notes ALTER COLUMN body SET (n_distinct=5);" in older
    # Rows of a COPY are data, never rewritten, whatever they look like.
    assert b"1\tSET transaction_timeout = 0;" in older
    assert b"2\tALTER TABLE ONLY x ALTER COLUMN y SET (pg_attver=1);" in older
    assert older[-1] == b"SELECT 1;"
    newer = forwarded(SCRIPT, drop_timeout=False).splitlines()
    assert b"SET transaction_timeout = 0;" in newer  # a server of 17 or later knows it
    assert len(newer) == len(older) + 1
