"""Key ids (RFC 7638 thumbprints, checked against RFC 8037's published example) and which
published keys an installation trusts (the endorsement chain), without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.reports.receipt_keys import KeyRecord, endorsement_fields, trusted
from storage.reports.receipts import ReceiptSigner, key_id_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_key_id_is_the_rfc_8037_example_thumbprint() -> None:
    # RFC 8037, appendix A.3: the JWK thumbprint of the example Ed25519 public key.
    assert (
        key_id_of("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )


def record(signer: ReceiptSigner, by: ReceiptSigner | None = None, **changes: str) -> KeyRecord:
    endorsement = None
    if by is not None:
        endorsement = by.sign(endorsement_fields(signer, by.key_id))
    values = {
        "key_id": signer.key_id,
        "algorithm": "Ed25519",
        "public_key": signer.public_key_b64,
        "not_before": NOW,
        "not_after": None,
        "endorsed_by": None if by is None else by.key_id,
        "endorsement": endorsement,
    }
    values.update(changes)
    return KeyRecord(**values)  # type: ignore[arg-type]


def test_endorsed_keys_chain_back_to_the_root_and_others_do_not() -> None:
    root, second, third = (ReceiptSigner(bytes([n]) * 32) for n in (1, 2, 3))
    stranger = ReceiptSigner(b"\x09" * 32)
    keys = [
        record(root),
        record(second, root),
        record(third, second),
        record(stranger),  # published, endorsed by nobody
        # Claims the root's endorsement with a signature the root never made.
        record(ReceiptSigner(b"\x0a" * 32), root, endorsement=stranger.sign({"x": 1})),
    ]
    result = trusted(keys, [root.public_key_b64])
    assert result == {
        root.public_key_b64: root.key_id,
        second.public_key_b64: second.key_id,
        third.public_key_b64: third.key_id,
    }
    # Trust from the current key alone does not run backwards to the keys before it.
    assert trusted(keys, [third.public_key_b64]) == {third.public_key_b64: third.key_id}


def test_a_row_whose_id_is_not_its_keys_thumbprint_is_ignored() -> None:
    root, attacker = ReceiptSigner(b"\x01" * 32), ReceiptSigner(b"\x07" * 32)
    # A row posing as the root (its id) with the attacker's key, endorsing another key.
    posing = record(attacker, key_id=root.key_id)
    child = ReceiptSigner(b"\x08" * 32)
    endorsed = record(child, attacker, endorsed_by=root.key_id)
    assert trusted([posing, endorsed], [root.public_key_b64]) == {root.public_key_b64: root.key_id}


def test_a_rotated_signer_keeps_the_root_and_its_derived_secrets() -> None:
    first = ReceiptSigner(b"\x01" * 32)
    rotated = first.rotated(b"\x02" * 32).rotated(b"\x03" * 32)
    assert rotated.key_id == ReceiptSigner(b"\x03" * 32).key_id
    assert rotated.root_public_key_b64 == first.public_key_b64
    assert rotated.derive_key("console csrf") == first.derive_key("console csrf")
    assert rotated.derive_key("console csrf") != rotated.derive_key("upload digest")
