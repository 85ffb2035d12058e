"""PLAINSIGHT_EVIDENCE_RECIPIENTS: age public keys, comma or whitespace separated, checked when
the settings are read; a secret key is refused without being repeated."""

from __future__ import annotations

import pytest
from pyrage import x25519

from schemas.evidence import parse_recipients, recipients_fingerprint
from schemas.settings import SettingsError, load_settings

ENV = "PLAINSIGHT_EVIDENCE_RECIPIENTS"
# Made once with age-keygen (public halves only; the secret one below is a throwaway).
KEY_A = "age1cudyqw3tvn9p9r74dkwkcatwqg83376vantt0vvhqyalg843c4fs4xus54"
THROWAWAY_SECRET = "AGE-SECRET-KEY-1YXNEECE43W4TEMSAAC7DJSSV72DU85L0AA09H05T3GULJWNCE7TSYQWR8G"


def fresh_public_key() -> str:
    return str(x25519.Identity.generate().to_public())


def test_unset_or_blank_means_sealing_is_off() -> None:
    assert load_settings({}).evidence_sealing is False
    assert load_settings({ENV: "  \n "}).evidence_keys == ()


def test_one_key() -> None:
    settings = load_settings({ENV: KEY_A})
    assert settings.evidence_keys == (KEY_A,)
    assert settings.evidence_sealing is True


@pytest.mark.parametrize("separator", [",", " ", "\n", " , ", ",\t"])
def test_keys_separated_by_commas_or_whitespace_in_order(separator: str) -> None:
    other = fresh_public_key()
    assert parse_recipients(f"{KEY_A}{separator}{other}") == (KEY_A, other)


def test_a_repeated_key_counts_once() -> None:
    assert parse_recipients(f"{KEY_A},{KEY_A} {KEY_A}") == (KEY_A,)


def test_trailing_separators_are_ignored() -> None:
    assert parse_recipients(f",{KEY_A},\n") == (KEY_A,)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", "entry 1 (hello) is not an age public key"),
        (f"{KEY_A},ssh-ed25519", "entry 2 (ssh-ed25519) is not an age public key"),
        (
            KEY_A[:-1] + ("5" if KEY_A[-1] != "5" else "4"),
            "entry 1 (age1cudyqw3t...) is not a valid",
        ),
        (KEY_A[:30], "is not a valid age public key"),
    ],
)
def test_a_bad_key_is_refused_naming_the_setting_and_the_entry(value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({ENV: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting: {ENV}"), message
    assert expected in message
    assert "\n" not in message.strip()


def test_a_secret_key_is_refused_and_not_repeated() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({ENV: f"{KEY_A} {THROWAWAY_SECRET}"})
    message = str(caught.value)
    assert "entry 2 is an age secret key" in message
    assert "age-keygen -y" in message
    assert THROWAWAY_SECRET[:20] not in message


def test_a_lowercased_secret_key_is_refused_too() -> None:
    with pytest.raises(SettingsError, match="secret key"):
        load_settings({ENV: THROWAWAY_SECRET.lower()})


def test_s3_sealed_prefix_must_differ_from_the_photos_prefix() -> None:
    with pytest.raises(SettingsError, match="PLAINSIGHT_S3_SEALED_PREFIX"):
        load_settings(
            {
                ENV: KEY_A,
                "PLAINSIGHT_BLOB_STORE": "s3",
                "PLAINSIGHT_S3_BUCKET": "b",
                "PLAINSIGHT_S3_PREFIX": "evidence/",
                "PLAINSIGHT_S3_SEALED_PREFIX": "/evidence",
            }
        )


def test_fingerprint_names_the_set_not_the_order() -> None:
    other = fresh_public_key()
    assert recipients_fingerprint((KEY_A, other)) == recipients_fingerprint((other, KEY_A))
    assert recipients_fingerprint((KEY_A,)) != recipients_fingerprint((KEY_A, other))
    import hashlib

    assert recipients_fingerprint((KEY_A,)) == hashlib.sha256(KEY_A.encode()).hexdigest()
