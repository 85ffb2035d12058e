"""Receipt key rotation (issue 16, point 3): receipts carry a key id, every key that ever
signed stays published with its validity period, and what an old key signed still verifies.

Keys come from the data directory here (the default); the PLAINSIGHT_RECEIPT_KEY case is in
test_key_settings.py. "Restarting a replica" is starting a new app on the same data directory.
"""

from __future__ import annotations

import asyncio
import stat
import uuid
from datetime import datetime
from typing import Any

from schemas.auth import Role
from storage.reports.key_files import CURRENT_FILENAME, KEY_FILENAME, key_dir
from tests.support.helpers import bearer, observer_report, officer_note
from tests.support.rotation import (
    Installation,
    canonical,
    current_key,
    key_by_id,
    key_set,
    receipt_ok,
    signature_ok,
    thumbprint,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def endorsement_ok(key_set_body: dict[str, Any], key: dict[str, Any]) -> bool:
    """The key current before ``key`` signed its record (contract of ReceiptKey.endorsement)."""
    endorser = key_by_id(key_set_body, key["endorsed_by"])
    fields = {
        "algorithm": key["algorithm"],
        "endorsed_by": key["endorsed_by"],
        "key_id": key["key_id"],
        "public_key": key["public_key"],
    }
    return signature_ok(endorser["public_key"], canonical(fields), key["endorsement"])


async def test_a_key_made_before_ids_gets_its_thumbprint_and_old_receipts_replay_with_it(
    installation: Installation,
) -> None:
    async with installation.replica() as api:
        token = await api.device_token()
        body = observer_report()
        first = (await api.submit(token, body, fold=False)).json()
        published = await current_key(api)
        # As a report stored before key ids existed: no key id in its row.
        await api.conn.execute(
            "update reports set receipt_key_id = null where id = $1", uuid.UUID(first["id"])
        )
        replay = await api.submit(token, body, fold=False)
    assert replay.status_code == 200, replay.text
    assert replay.json()["receipt"] == first["receipt"]
    root = (key_dir(installation.data_dir) / KEY_FILENAME).read_text().strip()
    assert len(root) == 43
    assert published["key_id"] == thumbprint(published["public_key"])
    assert first["receipt"]["key_id"] == published["key_id"]
    [only] = published["keys"]
    assert only["not_after"] is None
    assert only["endorsed_by"] is None
    assert at(only["not_before"]) <= at(first["received_at"])


async def test_after_a_rotation_new_receipts_use_the_new_key_and_old_ones_still_verify(
    installation: Installation,
) -> None:
    body = observer_report()
    async with installation.replica() as old_replica:
        token = await old_replica.device_token()
        before = (await old_replica.submit(token, body, fold=False)).json()["receipt"]
        old_id = before["key_id"]

        rotated = await installation.rotate()
        [new_line, retired_line] = rotated.stdout.splitlines()
        new_id = new_line.split()[2]
        assert new_line.startswith(f"new key {new_id} signs from ")
        assert retired_line.startswith(f"retired {old_id} at ")
        assert "restart every `plainsight serve` one at a time" in rotated.stderr

        # A replica not restarted yet still signs with the old key: still verifiable, because
        # the retired key stays published; the key set it serves is the new one already.
        late = (await old_replica.submit(token, observer_report(), fold=False)).json()
        assert late["receipt"]["key_id"] == old_id
        served = await current_key(old_replica)
        assert served["key_id"] == new_id
        assert receipt_ok(key_by_id(served, old_id)["public_key"], late["receipt"])

    async with installation.replica() as restarted:
        after = (await restarted.submit(token, observer_report(), fold=False)).json()["receipt"]
        replay = await restarted.submit(token, body, fold=False)
        keys = await key_set(restarted)
        public = await current_key(restarted)
        entry = await restarted.conn.fetchrow(
            "select action, subject_id, details::text from audit_log"
            " where action = 'receipt_key.rotated'"
        )

    assert after["key_id"] == new_id != old_id
    assert receipt_ok(key_by_id(keys, new_id)["public_key"], after)
    assert not receipt_ok(key_by_id(keys, old_id)["public_key"], after)
    # The receipt from before, checked with the retired key found by its id.
    assert receipt_ok(key_by_id(keys, old_id)["public_key"], before)
    # A 200 replay after the rotation answers exactly the first receipt, old key id included.
    assert replay.status_code == 200
    assert replay.json()["receipt"] == before
    # public-key: the two old fields now name the new key; the set keeps both.
    assert public["public_key"] == key_by_id(keys, new_id)["public_key"]
    assert public["keys"] == keys["keys"]

    old, new = keys["keys"]
    assert (old["key_id"], new["key_id"]) == (old_id, new_id)
    assert old["not_after"] == new["not_before"]  # one period ends where the next begins
    assert at(old["not_before"]) <= at(before["received_at"]) < at(old["not_after"])
    assert new["not_after"] is None
    assert at(new["not_before"]) <= at(after["received_at"])
    assert new["endorsed_by"] == old_id
    assert endorsement_ok(keys, new)
    for key in keys["keys"]:
        assert key["key_id"] == thumbprint(key["public_key"])
        assert key["algorithm"] == "Ed25519"

    assert entry is not None
    assert entry["subject_id"] == new_id
    assert old_id in entry["details"]
    keys_path = key_dir(installation.data_dir)
    assert stat.S_IMODE(keys_path.stat().st_mode) == 0o700
    for path in keys_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (keys_path / CURRENT_FILENAME).read_text().strip() == new_id


async def test_rotating_twice_keeps_every_key_published_and_the_chain_whole(
    installation: Installation,
) -> None:
    async with installation.replica() as api:
        first_id = (await current_key(api))["key_id"]
    await installation.rotate()
    second = (await installation.rotate()).stdout.split()[2]
    listing = await installation.cli("keys", "list")
    assert listing.returncode == 0, listing.stderr

    async with installation.replica() as api:
        keys = await key_set(api)
        receipt = (
            await api.submit(await api.device_token(), observer_report(), fold=False)
        ).json()["receipt"]
    ids = [key["key_id"] for key in keys["keys"]]
    assert len(ids) == 3
    assert (ids[0], ids[2]) == (first_id, second)
    assert receipt["key_id"] == second
    assert [line.split()[0] for line in listing.stdout.splitlines()] == ids
    assert [line.split()[2] for line in listing.stdout.splitlines()] == [
        "retired",
        "retired",
        "current",
    ]
    for earlier, later in zip(keys["keys"], keys["keys"][1:], strict=False):
        assert earlier["not_after"] == later["not_before"]
        assert later["endorsed_by"] == earlier["key_id"]
        assert endorsement_ok(keys, later)
    # The retired middle key's seed is gone; the first seed stays (root of derived secrets).
    seeds = sorted(p.name for p in key_dir(installation.data_dir).glob("*.key"))
    assert seeds == sorted([KEY_FILENAME, f"receipt-ed25519-{second}.key"])


async def test_two_replicas_on_one_database_serve_the_same_key_set(
    installation: Installation,
) -> None:
    async with installation.replica() as one, installation.replica() as two:
        assert await key_set(one) == await key_set(two)
        assert await current_key(one) == await current_key(two)
        await installation.rotate()
        # Neither restarted: both serve the new set at once, from the database.
        rotated_one, rotated_two = await key_set(one), await key_set(two)
        assert rotated_one == rotated_two
        assert len(rotated_one["keys"]) == 2
        assert (await current_key(one))["key_id"] == rotated_one["keys"][1]["key_id"]


async def test_concurrent_rotations_are_serialised(installation: Installation) -> None:
    async with installation.replica():
        pass
    results = await asyncio.gather(
        installation.cli("keys", "rotate"), installation.cli("keys", "rotate")
    )
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    async with installation.replica() as api:
        keys = await key_set(api)
    assert len(keys["keys"]) == 3
    assert [key["not_after"] is None for key in keys["keys"]] == [False, False, True]
    for earlier, later in zip(keys["keys"], keys["keys"][1:], strict=False):
        assert later["endorsed_by"] == earlier["key_id"]
        assert endorsement_ok(keys, later)
    current = (key_dir(installation.data_dir) / CURRENT_FILENAME).read_text().strip()
    assert current == keys["keys"][2]["key_id"]


async def test_receipts_of_officer_notes_name_the_key_too(installation: Installation) -> None:
    await installation.rotate()
    async with installation.replica() as api:
        token = await api.account_token(Role.officer)
        response = await api.client.post("/v1/reports", json=officer_note(), headers=bearer(token))
        keys = await key_set(api)
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    assert receipt["key_id"] == keys["keys"][-1]["key_id"]
    assert receipt_ok(keys["keys"][-1]["public_key"], receipt)
