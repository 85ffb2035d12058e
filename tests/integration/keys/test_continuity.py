"""What must not change when the receipt key rotates: checkpoints and release documents made
before still verify, and the secrets derived from the key material (console CSRF, upload
digests) stay the same, so forms opened before a rotation still post and a photo re-sent after
it is still recognised as a replay (200, not stored twice)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from api.media_ingest import upload_digest_key
from schemas.auth import Role
from storage.audit.checkpoints import encode, sign_checkpoint
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.key_files import KEY_FILENAME, key_dir, load_signer
from storage.reports.receipts import ReceiptSigner, b64url
from storage.statistics.releases.maker import ReleasePolicy, make_releases
from tests.support.console import console_client, csrf_field, post_form
from tests.support.photo_api import new_report, unique_jpeg, upload
from tests.support.rotation import (
    Installation,
    canonical,
    current_key,
    key_by_id,
    key_set,
    signature_ok,
)

LEGACY_SEED = bytes(range(32))


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("plainsight:")]


async def checkpoint(installation: Installation) -> tuple[Path, dict[str, Any]]:
    taken = await installation.cli("audit", "checkpoint")
    assert taken.returncode == 0, taken.stderr
    printed: dict[str, Any] = json.loads(taken.stdout)
    [path] = [p for p in (installation.data_dir / "audit-checkpoints").iterdir()
              if json.loads(p.read_text()) == printed]  # fmt: skip
    return path, printed


async def test_checkpoints_made_before_a_rotation_still_verify_after(
    installation: Installation,
) -> None:
    async with installation.replica() as api:
        await api.account_token(Role.moderator)  # audited sign-in: entries to anchor
    before, printed = await checkpoint(installation)
    await installation.rotate()
    after, printed_after = await checkpoint(installation)
    async with installation.replica() as api:
        keys = await key_set(api)
    old, new = keys["keys"]
    assert (printed["key_id"], printed_after["key_id"]) == (old["key_id"], new["key_id"])
    assert printed["public_key"] == old["public_key"]
    signed = {k: printed[k] for k in ("at", "last_id", "last_hash", "public_key")}
    assert signature_ok(old["public_key"], canonical(signed), printed["signature"])

    verified = await installation.cli(
        "audit", "verify", "--checkpoint", str(before), "--checkpoint", str(after)
    )
    assert verified.returncode == 0, verified.stderr
    assert "2 recorded hashes match" in verified.stdout

    # The console's verification reads the same checkpoints from the data folder.
    async with installation.replica() as api, console_client(api, Role.admin) as admin:
        page = await post_form(admin, "/admin/audit", "/admin/audit/verify", {})
    assert page.status_code == 200
    assert "The chain is intact" in page.text
    assert "Signed checkpoints in the data folder also checked: 2." in page.text


async def test_a_key_only_the_database_vouches_for_does_not_make_a_checkpoint_valid(
    installation: Installation,
) -> None:
    """Whoever can write the database can publish a key; a checkpoint exists to catch them,
    so its key must chain to the installation's own keys by endorsements."""
    async with installation.replica() as api:
        await api.account_token(Role.moderator)
        real = (await current_key(api))["key_id"]
        head = await api.conn.fetchrow("select last_id, last_hash from audit_head")
    assert head is not None
    attacker = ReceiptSigner(b"\x07" * 32)
    impostor = ReceiptSigner(b"\x08" * 32)
    async with installation.owner() as conn:
        await conn.execute(
            "insert into receipt_keys (key_id, algorithm, public_key, not_before)"
            " values ($1, 'Ed25519', $2, now())",
            attacker.key_id,
            attacker.public_key_b64,
        )
        # Claims the real key's endorsement, with a signature the real key never made.
        await conn.execute(
            "insert into receipt_keys"
            " (key_id, algorithm, public_key, not_before, endorsed_by, endorsement)"
            " values ($1, 'Ed25519', $2, now(), $3, $4)",
            impostor.key_id,
            impostor.public_key_b64,
            real,
            impostor.sign({"key_id": impostor.key_id}),
        )
    for n, signer in enumerate((attacker, impostor)):
        forged = installation.data_dir / f"forged-{n}.json"
        made = sign_checkpoint(signer, head["last_id"], head["last_hash"], datetime.now(UTC))
        forged.write_bytes(encode(made))
        result = await installation.cli("audit", "verify", "--checkpoint", str(forged))
        assert result.returncode == 1
        [line] = messages(result.stderr)
        assert "was signed by another key" in line
        assert real in line  # names the keys it does trust


async def test_release_documents_made_before_a_rotation_still_verify_after(
    installation: Installation,
) -> None:
    settings = installation.settings()
    async with installation.replica() as api:
        report_id = await new_report(api, await api.device_token())
        await api.conn.execute(
            "update reports set status = 'verified', fold_pending_since = now() where id = $1",
            uuid.UUID(report_id),
        )
        made = await make_releases(
            api.conn,
            ReleasePolicy.from_settings(settings),
            load_signer(settings),
            DEFAULT_GROUPING,
            now=datetime.now(UTC) + timedelta(days=40),
        )
        assert made, "a verified report of this month makes a release 40 days on"
        month = f"{made[0].month:%Y-%m}"
    await installation.rotate()
    async with installation.replica() as api:
        response = await api.client.get(f"/v1/public/releases/{month}/v1")
        keys = await key_set(api)
    assert response.status_code == 200, response.text
    document = response.json()
    meta = dict(document["meta"])
    signature = meta.pop("signature")
    key = key_by_id(keys, meta["signing_key_id"])
    assert key["not_after"] is not None  # made with the key now retired
    assert key["public_key"] == meta["signing_key"]
    message = msgspec.json.encode({**document, "meta": meta}, order="sorted")
    assert signature_ok(key["public_key"], message, signature)
    assert not signature_ok(keys["keys"][-1]["public_key"], message, signature)


async def test_derived_secrets_come_from_the_first_seed_and_survive_rotations(
    installation: Installation,
) -> None:
    # An installation from before key sets: its one key file, as earlier versions wrote it.
    keys_path = key_dir(installation.data_dir)
    keys_path.mkdir(mode=0o700)
    (keys_path / KEY_FILENAME).write_text(b64url(LEGACY_SEED))
    settings = installation.settings()
    # What earlier versions derived: HMAC-SHA256 keyed with the one seed.
    expected = {
        purpose: hmac.new(LEGACY_SEED, f"plainsight {purpose}".encode(), hashlib.sha256).digest()
        for purpose in ("console csrf", "upload digest")
    }
    before = load_signer(settings)
    assert {p: before.derive_key(p) for p in expected} == expected
    async with installation.replica() as api:
        token = await api.device_token()
        report_id = await new_report(api, token)
        photo = unique_jpeg()
        first = await upload(api, token, report_id, photo)
        page = await api.client.get("/sign-in")
        form_cookie = api.client.cookies["plainsight_csrf"]
        form_field = csrf_field(page.text)
    assert first.status_code == 201, first.text

    await installation.rotate()
    await installation.rotate()
    after = load_signer(settings)
    assert after.key_id != before.key_id
    assert {p: after.derive_key(p) for p in expected} == expected
    assert upload_digest_key(after) == upload_digest_key(before)

    async with installation.replica() as api:
        again = await upload(api, token, report_id, photo)
        stored = await api.conn.fetchval(
            "select count(*) from photos where report_id = $1", uuid.UUID(report_id)
        )
        # A form opened before the rotations posts fine after them: 401 for the empty
        # fields, not 403 for the CSRF token.
        api.client.cookies.set("plainsight_csrf", form_cookie)
        posted = await api.client.post(
            "/sign-in", data={"email": "", "password": "", "_csrf_token": form_field}
        )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert stored == 1
    assert posted.status_code == 401, posted.text
    assert (keys_path / KEY_FILENAME).read_bytes() == b64url(LEGACY_SEED).encode()
