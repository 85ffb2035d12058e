"""Rotation with the key in PLAINSIGHT_RECEIPT_KEY (the seed is printed for the operator's
secret store), replicas restarted with a retired key, and bad input: unknown options, corrupt
key files and settings, a rotation from a machine whose key is already retired."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import httpx
import pytest

from api.app import create_app
from schemas.settings import SettingsError
from storage.reports.key_files import CURRENT_FILENAME, KEY_FILENAME, key_dir, load_signer
from storage.reports.receipts import ReceiptSigner, b64url_decode
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.cli import cli_environment, free_port, run_cli, serving
from tests.support.helpers import bearer, observer_report
from tests.support.rotation import Installation, current_key, key_set, receipt_ok

SIGNING_KEY_LINE = "PLAINSIGHT_RECEIPT_SIGNING_KEY="
REFUSAL_TIMEOUT_S = 60.0


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("plainsight:")]


async def serve_until_exit(env: dict[str, str]) -> tuple[int, str]:
    """``plainsight serve`` that is expected to refuse to start: its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--port", str(free_port()),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=env["PLAINSIGHT_DATA_DIR"],
    )  # fmt: skip
    try:
        async with asyncio.timeout(REFUSAL_TIMEOUT_S):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def test_with_the_key_in_a_setting_rotation_prints_the_seed_to_store(
    installation: Installation,
) -> None:
    env = {"PLAINSIGHT_RECEIPT_KEY": TEST_RECEIPT_SEED}
    async with installation.replica(receipt_key=TEST_RECEIPT_SEED) as api:
        old_id = (await current_key(api))["key_id"]
    rotated = await installation.rotate(**env)
    [seed] = [
        line.removeprefix(SIGNING_KEY_LINE)
        for line in rotated.stdout.splitlines()
        if line.startswith(SIGNING_KEY_LINE)
    ]
    new_id = ReceiptSigner(b64url_decode(seed)).key_id
    assert rotated.stdout.splitlines()[0].startswith(f"new key {new_id} signs from ")
    [advice] = messages(rotated.stderr)
    assert "keep PLAINSIGHT_RECEIPT_KEY unchanged" in advice
    assert "restart the replicas one at a time" in advice
    # A copy for backups and recovery, in data_dir/keys; no pointer (the files do not sign).
    copy = key_dir(installation.data_dir) / f"receipt-ed25519-{new_id}.key"
    assert copy.read_text().strip() == seed
    assert not (key_dir(installation.data_dir) / CURRENT_FILENAME).exists()

    # A replica restarted with the old environment refuses to sign with the retired key.
    serve_env = {**installation.env, **env}
    status, output = await serve_until_exit(serve_env)
    assert status != 0
    assert f"receipt key {old_id} was retired by `plainsight keys rotate`" in output
    assert SIGNING_KEY_LINE.rstrip("=") in output

    # With the printed seed it starts and signs with the new key; derived secrets unchanged.
    serve_env["PLAINSIGHT_RECEIPT_SIGNING_KEY"] = seed
    async with (
        serving(serve_env, installation.data_dir / "serve.log") as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        token = (await client.post("/v1/devices")).json()["token"]
        created = await client.post("/v1/reports", json=observer_report(), headers=bearer(token))
        keys = (await client.get("/v1/receipts/keys")).json()
    assert created.status_code == 201, created.text
    receipt = created.json()["receipt"]
    assert receipt["key_id"] == new_id
    assert receipt_ok(keys["keys"][-1]["public_key"], receipt)
    before = load_signer(installation.settings(receipt_key=TEST_RECEIPT_SEED))
    after = load_signer(
        installation.settings(receipt_key=TEST_RECEIPT_SEED, receipt_signing_key=seed)
    )
    assert after.key_id == new_id
    assert after.derive_key("console csrf") == before.derive_key("console csrf")


async def test_unknown_options_and_missing_actions_are_usage_errors(
    installation: Installation,
) -> None:
    for args, expected in (
        (("keys", "rotate", "--force"), "unrecognized arguments: --force"),
        (("keys", "list", "--all"), "unrecognized arguments: --all"),
        (("keys",), "the following arguments are required"),
        (("keys", "revoke"), "invalid choice: 'revoke'"),
    ):
        result = await installation.cli(*args)
        assert result.returncode == 2, args
        assert expected in result.stderr
        assert result.stdout == ""
    listing = await installation.cli("keys", "list")
    assert listing.returncode == 0
    assert "no receipt key is published yet" in listing.stdout


async def test_a_corrupt_key_file_is_one_clear_line_and_changes_nothing(
    installation: Installation,
) -> None:
    async with installation.replica() as api:
        published = await key_set(api)
    keys_path = key_dir(installation.data_dir)
    root = keys_path / KEY_FILENAME
    good = root.read_text()
    for corrupt, expected in (
        ("not a key at all!", "is not base64url"),
        ("c2hvcnQ", "must be base64url of exactly 32 bytes, not 5"),
    ):
        root.write_text(corrupt)
        result = await installation.cli("keys", "rotate")
        assert result.returncode == 1, result.stderr
        [line] = messages(result.stderr)
        assert str(root) in line
        assert expected in line
        assert "Traceback" not in result.stderr
        with pytest.raises(SettingsError, match="receipt key file is corrupt"):
            create_app(installation.settings(), photo_workers=installation.photo_workers)
    root.write_text(good)
    (keys_path / CURRENT_FILENAME).write_text("garbage\n")
    result = await installation.cli("keys", "rotate")
    assert result.returncode == 1
    [line] = messages(result.stderr)
    assert "does not hold a key id" in line
    (keys_path / CURRENT_FILENAME).unlink()

    for settings, expected in (
        (
            {"PLAINSIGHT_RECEIPT_KEY": TEST_RECEIPT_SEED, "PLAINSIGHT_RECEIPT_SIGNING_KEY": "zz"},
            "PLAINSIGHT_RECEIPT_SIGNING_KEY must be base64url of exactly 32 bytes, not 1",
        ),
        ({"PLAINSIGHT_RECEIPT_KEY": "x"}, "PLAINSIGHT_RECEIPT_KEY is not base64url"),
        ({"PLAINSIGHT_RECEIPT_KEY": "a+b/c="}, "PLAINSIGHT_RECEIPT_KEY is not base64url"),
    ):
        bad_setting = await installation.cli("keys", "rotate", **settings)
        assert bad_setting.returncode == 1
        [line] = messages(bad_setting.stderr)
        assert expected in line

    async with installation.replica() as api:
        assert await key_set(api) == published  # nothing was rotated
    assert sorted(p.name for p in keys_path.glob("receipt*")) == [KEY_FILENAME]


async def test_rotating_from_a_machine_whose_key_is_retired_is_refused(
    installation: Installation, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with installation.replica():
        pass
    # Another machine with a copy of the keys taken before the rotation.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(key_dir(installation.data_dir), key_dir(elsewhere))
    await installation.rotate()
    env = cli_environment(elsewhere, installation.dsn)
    refused = await run_cli("keys", "rotate", env=env)
    assert refused.returncode == 1
    [line] = messages(refused.stderr)
    assert "was already retired" in line
    assert "rotate where that key is kept" in line
    async with installation.replica() as api:
        assert len((await key_set(api))["keys"]) == 2
    assert sorted(p.name for p in key_dir(elsewhere).glob("receipt*")) == [KEY_FILENAME]
    # And that machine's replica refuses to start with it.
    status, output = await serve_until_exit(env)
    assert status != 0
    assert "was retired by `plainsight keys rotate`" in output
