"""The tus request headers as the protocol defines them (Upload-Metadata, Upload-Checksum,
Upload-Length/Offset, Upload-Expires), good and bad input alike."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.uploads.headers import (
    HeaderError,
    http_date,
    metadata_report_id,
    non_negative,
    parse_checksum,
    parse_metadata,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_as_tus_clients_send_it() -> None:
    report = uuid.uuid4()
    header = ",".join(
        [
            f"filename {b64('IMG_0001.MOV')}",
            f"filetype {b64('video/quicktime')}",
            f"report_id {b64(str(report))}",
            "is_confidential",
        ]
    )
    parsed = parse_metadata(header)
    assert parsed == {
        "filename": b"IMG_0001.MOV",
        "filetype": b"video/quicktime",
        "report_id": str(report).encode(),
        "is_confidential": b"",
    }
    assert metadata_report_id(parsed) == report


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_metadata(header: str | None) -> None:
    assert parse_metadata(header) == {}
    assert metadata_report_id({}) is None


@pytest.mark.parametrize(
    "header",
    [
        "a b c",  # three parts
        f"k {b64('x')},k {b64('y')}",  # a repeated key
        "k not*base64",
        "k QUJD=",  # bad padding
        "k\u00e9 QUJD",  # a key outside printable ASCII
        ",",  # an empty pair
        ",".join(f"k{i} {b64('v')}" for i in range(40)),  # too many pairs
        "k " + "A" * 9000,  # too long
    ],
)
def test_malformed_metadata_names_the_header(header: str) -> None:
    with pytest.raises(HeaderError) as raised:
        parse_metadata(header)
    assert raised.value.header == "Upload-Metadata"
    assert raised.value.status == 400


@pytest.mark.parametrize("value", ["42", "", "not a uuid", "\xff"])
def test_report_id_must_be_a_uuid(value: str) -> None:
    with pytest.raises(HeaderError) as raised:
        metadata_report_id({"report_id": value.encode("latin-1")})
    assert raised.value.status == 422


def test_checksum_sha256() -> None:
    digest = hashlib.sha256(b"chunk").digest()
    checksum = parse_checksum(f"sha256 {base64.b64encode(digest).decode()}")
    assert checksum is not None
    assert checksum.digest == digest
    assert parse_checksum(None) is None


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (
            f"md5 {base64.b64encode(bytes(16)).decode()}",
            "unsupported_checksum_algorithm",
        ),
        (
            f"sha1 {base64.b64encode(bytes(20)).decode()}",
            "unsupported_checksum_algorithm",
        ),
        ("sha256", "invalid_header"),
        ("sha256 AAAA", "invalid_header"),  # 3 bytes, not 32
        ("sha256 !!!!", "invalid_header"),
        ("sha256 a b", "invalid_header"),
    ],
)
def test_bad_checksums_are_400(header: str, code: str) -> None:
    with pytest.raises(HeaderError) as raised:
        parse_checksum(header)
    assert raised.value.status == 400
    assert raised.value.header == "Upload-Checksum"
    assert raised.value.code == code


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("1", 1), (" 5242880 ", 5242880)])
def test_non_negative(text: str, value: int) -> None:
    assert non_negative("Upload-Offset", text) == value


@pytest.mark.parametrize("text", [None, "", "-1", "+1", "1.0", "1e3", "0x10", "1" * 20, "\u0661"])
def test_non_negative_refuses(text: str | None) -> None:
    with pytest.raises(HeaderError) as raised:
        non_negative("Upload-Length", text)
    assert raised.value.header == "Upload-Length"


def test_http_date_is_imf_fixdate_in_gmt() -> None:
    moment = datetime(2026, 12, 5, 1, 2, 3, tzinfo=timezone(timedelta(hours=2)))
    assert http_date(moment) == "Fri, 04 Dec 2026 23:02:03 GMT"
    assert http_date(datetime(2027, 1, 1, tzinfo=UTC)) == "Fri, 01 Jan 2027 00:00:00 GMT"
