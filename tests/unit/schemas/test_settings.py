"""Settings come from environment strings; a bad value names the variable an operator sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import read_trust_anchors
from schemas.settings import ENVIRONMENT_NAMES, Settings, SettingsError, load_settings


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_url is None
    assert settings.data_dir == "var"
    assert settings.rate_limits == "on"
    assert settings.timezone == "UTC"
    assert settings.receipt_key is None
    assert (settings.db_pool_min, settings.db_pool_max) == (2, 20)
    assert settings.session_hours == 12
    assert settings.max_body_bytes == 256 * 1024
    assert settings.log_level == "INFO"
    assert (settings.release_epsilon, settings.release_delta) == (1.0, 1e-6)
    assert settings.release_status == "verified"
    assert settings.release_check_minutes == 5
    assert settings.retention_check_seconds == 3600


def test_release_settings_are_read() -> None:
    settings = load_settings(
        {
            "PLAINSIGHT_RELEASE_EPSILON": "0.5",
            "PLAINSIGHT_RELEASE_DELTA": "1e-8",
            "PLAINSIGHT_RELEASE_STATUS": "all",
            "PLAINSIGHT_RELEASE_CHECK_MINUTES": "60",
            "PLAINSIGHT_RETENTION_CHECK_SECONDS": "2",
        }
    )
    assert (settings.release_epsilon, settings.release_delta) == (0.5, 1e-8)
    assert (settings.release_status, settings.release_check_minutes) == ("all", 60)
    assert settings.retention_check_seconds == 2


def test_every_variable_is_read_and_strings_are_converted() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://plainsight@db.internal/plainsight",
            "PLAINSIGHT_DATA_DIR": "/srv/plainsight",
            "PLAINSIGHT_RATE_LIMITS": "off",
            "PLAINSIGHT_TIMEZONE": "America/New_York",
            "PLAINSIGHT_RECEIPT_KEY": "seed",
            "PLAINSIGHT_DB_POOL_MIN": "5",
            "PLAINSIGHT_DB_POOL_MAX": "50",
            "PLAINSIGHT_SESSION_HOURS": "8",
            "PLAINSIGHT_MAX_BODY_BYTES": "65536",
            "PLAINSIGHT_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings == Settings(
        database_url="postgresql://plainsight@db.internal/plainsight",
        data_dir="/srv/plainsight",
        rate_limits="off",
        timezone="America/New_York",
        receipt_key="seed",
        db_pool_min=5,
        db_pool_max=50,
        session_hours=8,
        max_body_bytes=65536,
        log_level="DEBUG",
    )
    assert isinstance(settings.db_pool_max, int)
    assert str(settings.tz) == "America/New_York"


def test_unrelated_variables_are_ignored() -> None:
    settings = load_settings({"HOME": "/root", "PLAINSIGHT_UNKNOWN": "1", "db_pool_max": "1"})
    assert settings == Settings()


def test_empty_strings_are_treated_as_unset() -> None:
    assert load_settings(dict.fromkeys(ENVIRONMENT_NAMES, "")) == Settings()


def test_explicit_overrides_win_over_the_environment() -> None:
    settings = load_settings({"PLAINSIGHT_DB_POOL_MAX": "50"}, db_pool_max=7)
    assert settings.db_pool_max == 7


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLAINSIGHT_DB_POOL_MAX", "lots"),
        ("PLAINSIGHT_DB_POOL_MAX", "0"),
        ("PLAINSIGHT_DB_POOL_MAX", "201"),
        ("PLAINSIGHT_DB_POOL_MIN", "2.5"),
        ("PLAINSIGHT_DB_POOL_MIN", "0"),
        ("PLAINSIGHT_SESSION_HOURS", "-1"),
        ("PLAINSIGHT_SESSION_HOURS", "forever"),
        ("PLAINSIGHT_MAX_BODY_BYTES", "10"),
        ("PLAINSIGHT_RATE_LIMITS", "maybe"),
        ("PLAINSIGHT_LOG_LEVEL", "debug"),
        ("PLAINSIGHT_LOG_LEVEL", "TRACE"),
        ("PLAINSIGHT_RELEASE_EPSILON", "0"),
        ("PLAINSIGHT_RELEASE_EPSILON", "11"),
        ("PLAINSIGHT_RELEASE_EPSILON", "plenty"),
        ("PLAINSIGHT_RELEASE_DELTA", "0"),
        ("PLAINSIGHT_RELEASE_DELTA", "0.01"),
        ("PLAINSIGHT_RELEASE_STATUS", "pending"),
        ("PLAINSIGHT_RELEASE_CHECK_MINUTES", "0"),
        ("PLAINSIGHT_RETENTION_CHECK_SECONDS", "0"),
        ("PLAINSIGHT_RETENTION_CHECK_SECONDS", "86401"),
        ("PLAINSIGHT_RETENTION_CHECK_SECONDS", "hourly"),
    ],
)
def test_bad_value_names_the_environment_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert variable in message
    # The internal field path is translated, not shown.
    assert "$." not in message


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT6", "../../etc/passwd", "utc "])
def test_unknown_time_zone_is_rejected(zone: str) -> None:
    with pytest.raises(SettingsError, match="time zone"):
        load_settings({"PLAINSIGHT_TIMEZONE": zone})


def test_pool_minimum_above_maximum_is_rejected() -> None:
    with pytest.raises(
        SettingsError, match="PLAINSIGHT_DB_POOL_MIN must not exceed PLAINSIGHT_DB_POOL_MAX"
    ):
        load_settings({"PLAINSIGHT_DB_POOL_MIN": "30", "PLAINSIGHT_DB_POOL_MAX": "10"})
    # Equal is fine.
    settings = load_settings({"PLAINSIGHT_DB_POOL_MIN": "10", "PLAINSIGHT_DB_POOL_MAX": "10"})
    assert (settings.db_pool_min, settings.db_pool_max) == (10, 10)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PLAINSIGHT_TIMEZONE": "Mars/Olympus_Mons"}, "PLAINSIGHT_TIMEZONE"),
        (
            {"PLAINSIGHT_DB_POOL_MIN": "30", "PLAINSIGHT_DB_POOL_MAX": "10"},
            "PLAINSIGHT_DB_POOL_MIN",
        ),
    ],
)
def test_cross_field_errors_name_the_environment_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert variable in str(caught.value)


def test_settings_error_is_a_value_error() -> None:
    # Callers that only know ValueError (argparse-style wrappers) still catch it.
    assert issubclass(SettingsError, ValueError)


def test_s3_store_without_a_bucket_is_rejected_naming_both_variables() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"PLAINSIGHT_BLOB_STORE": "s3"})
    assert "PLAINSIGHT_S3_BUCKET" in str(caught.value)
    assert "PLAINSIGHT_BLOB_STORE" in str(caught.value)


@pytest.mark.parametrize("value", ["ftp", "S3 ", "filesystem2"])
def test_unknown_blob_store_is_rejected(value: str) -> None:
    with pytest.raises(SettingsError, match="PLAINSIGHT_BLOB_STORE"):
        load_settings({"PLAINSIGHT_BLOB_STORE": value})


def test_unreadable_trust_anchor_file_names_the_variable(tmp_path: Path) -> None:
    settings = load_settings({"PLAINSIGHT_C2PA_TRUST_ANCHORS": str(tmp_path / "missing.pem")})
    with pytest.raises(SettingsError, match="PLAINSIGHT_C2PA_TRUST_ANCHORS"):
        read_trust_anchors(settings)


def test_readable_trust_anchor_file_is_read_whole(tmp_path: Path) -> None:
    pem = tmp_path / "anchors.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    settings = load_settings({"PLAINSIGHT_C2PA_TRUST_ANCHORS": str(pem)})
    assert read_trust_anchors(settings) == pem.read_text()
