"""Signed receipts and idempotent submission (contract "Reports"; design principle 4).

The signature is checked with ``cryptography`` directly, from the contract's definition of the
canonical JSON, not with the service's own signer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.auth import Role
from tests.support.assertions import assert_problem
from tests.support.helpers import PASSWORD, Api, bearer, observer_report, officer_note

SIGNED_FIELDS = ("report_id", "client_id", "payload_sha256", "received_at")


def b64url_decode(text: str) -> bytes:
    assert "=" not in text, "base64url without padding"
    assert "+" not in text
    assert "/" not in text
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(receipt: dict[str, Any]) -> bytes:
    fields = {name: receipt[name] for name in SIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def public_key(api: Api) -> Ed25519PublicKey:
    response = await api.client.get("/v1/receipts/public-key")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["algorithm"] == "Ed25519"
    return Ed25519PublicKey.from_public_bytes(b64url_decode(body["public_key"]))


def verify(key: Ed25519PublicKey, receipt: dict[str, Any]) -> None:
    key.verify(b64url_decode(receipt["signature"]), canonical(receipt))


async def test_public_key_needs_no_auth_and_is_32_raw_bytes(api: Api) -> None:
    response = await api.client.get("/v1/receipts/public-key")
    assert response.status_code == 200, response.text
    body = response.json()
    # The two fields old clients read, plus the key set (additive).
    assert set(body) == {"algorithm", "public_key", "key_id", "keys"}
    assert body["algorithm"] == "Ed25519"
    assert len(b64url_decode(body["public_key"])) == 32
    [current] = [key for key in body["keys"] if key["key_id"] == body["key_id"]]
    assert current["public_key"] == body["public_key"]
    assert current["not_after"] is None


async def test_public_key_is_stable(api: Api) -> None:
    first = await api.client.get("/v1/receipts/public-key")
    second = await api.client.get("/v1/receipts/public-key")
    assert first.json() == second.json()


@pytest.mark.parametrize("kind", ["observer_report", "officer_note"])
async def test_receipt_signature_verifies_with_published_key(api: Api, kind: str) -> None:
    if kind == "observer_report":
        token, body = await api.device_token(), observer_report()
    else:
        token, body = await api.account_token(Role.officer), officer_note()
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    verify(await public_key(api), receipt)
    assert len(b64url_decode(receipt["signature"])) == 64


async def test_receipt_payload_hash_is_sha256_hex(api: Api) -> None:
    response = await api.submit(await api.device_token(), observer_report())
    digest = response.json()["receipt"]["payload_sha256"]
    assert len(digest) == 64
    int(digest, 16)
    stored = await api.conn.fetchval(
        "select payload_sha256 from reports where id = $1", uuid.UUID(response.json()["id"])
    )
    assert stored == digest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("report_id", str(uuid.uuid4())),
        ("client_id", str(uuid.uuid4())),
        ("payload_sha256", hashlib.sha256(b"another report").hexdigest()),
        ("received_at", "2001-01-01T00:00:00Z"),
    ],
)
async def test_tampered_receipt_does_not_verify(api: Api, field: str, value: str) -> None:
    response = await api.submit(await api.device_token(), observer_report())
    receipt = {**response.json()["receipt"], field: value}
    with pytest.raises(InvalidSignature):
        verify(await public_key(api), receipt)


async def test_receipts_differ_between_reports(api: Api) -> None:
    token = await api.device_token()
    first = (await api.submit(token, observer_report())).json()["receipt"]
    second = (await api.submit(token, observer_report())).json()["receipt"]
    assert first["signature"] != second["signature"]
    assert first["report_id"] != second["report_id"]


# --- idempotency ---------------------------------------------------------------------------


async def resend(api: Api, token: str, body: dict[str, Any]) -> tuple[httpx.Response, ...]:
    return (await api.submit(token, body), await api.submit(token, body))


async def test_same_client_id_same_content_replays_200_identical_body(api: Api) -> None:
    token = await api.device_token()
    first, second = await resend(api, token, observer_report())
    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    verify(await public_key(api), second.json()["receipt"])
    assert await api.conn.fetchval("select count(*) from reports") == 1


async def test_replay_ignores_key_order_and_whitespace(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    first = await api.submit(token, body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    second = await api.client.post(
        "/v1/reports",
        content=reordered,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert second.status_code == 200, second.text
    assert second.json() == first.json()


async def test_officer_note_replay_is_200(api: Api) -> None:
    token = await api.account_token(Role.officer)
    first, second = await resend(api, token, officer_note())
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()


@pytest.mark.parametrize(
    "change",
    [
        {"narrative": "A different account of a different event."},
        {"agents": {"masked": "none"}},
        {"location": {"lat": 34.0522, "lon": -118.2437}},
    ],
    ids=["narrative", "masked", "location"],
)
async def test_same_client_id_different_content_is_409(api: Api, change: dict[str, Any]) -> None:
    token = await api.device_token()
    body = observer_report()
    assert (await api.submit(token, body)).status_code == 201
    changed = observer_report(client_id=body["client_id"], occurred_at=body["occurred_at"])
    changed.update({k: {**body[k], **v} if isinstance(v, dict) else v for k, v in change.items()})
    problem = assert_problem(await api.submit(token, changed), 409)
    assert problem["code"] == "conflict"
    assert await api.conn.fetchval("select count(*) from reports") == 1


async def test_conflict_does_not_alter_the_original(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    created = (await api.submit(token, body)).json()
    await api.submit(token, {**body, "narrative": "rewritten"})
    view = (await api.client.get(f"/v1/reports/{created['id']}", headers=bearer(token))).json()
    assert view["narrative"] == body["narrative"]
    replay = await api.submit(token, body)
    assert replay.status_code == 200
    assert replay.json() == created


async def test_client_id_is_scoped_to_the_submitting_device(api: Api) -> None:
    body = observer_report()
    first = await api.submit(await api.device_token(), body)
    second = await api.submit(await api.device_token(), body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["client_id"] == second.json()["client_id"] == body["client_id"]


async def test_client_id_is_scoped_across_device_and_account(api: Api) -> None:
    note = officer_note()
    report = observer_report(client_id=note["client_id"])
    officer = await api.submit(await api.account_token(Role.officer), note)
    observer = await api.submit(await api.device_token(), report)
    assert (officer.status_code, observer.status_code) == (201, 201)


async def test_another_devices_different_content_is_not_a_conflict(api: Api) -> None:
    body = observer_report()
    await api.submit(await api.device_token(), body)
    other = await api.submit(await api.device_token(), {**body, "narrative": "Mine."})
    assert other.status_code == 201, other.text


async def test_withdrawn_client_id_on_another_device_is_unaffected(api: Api) -> None:
    body = observer_report()
    owner = await api.device_token()
    report_id = (await api.submit(owner, body)).json()["id"]
    await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(owner))
    assert (await api.submit(await api.device_token(), body)).status_code == 201


async def test_client_id_is_scoped_to_the_account_not_the_session(api: Api) -> None:
    email = f"officer-{uuid.uuid4().hex[:8]}@example.org"
    first_session = await api.account_token(Role.officer, email=email)
    login = await api.client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    second_session = login.json()["token"]
    body = officer_note()
    first = await api.submit(first_session, body)
    second = await api.submit(second_session, body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
