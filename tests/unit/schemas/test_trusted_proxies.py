"""PLAINSIGHT_TRUSTED_PROXIES: addresses and networks, IPv4 and IPv6; anything else refused."""

from __future__ import annotations

import ipaddress

import pytest

from schemas.settings import SettingsError, load_settings
from schemas.trusted_proxies import MAX_ENTRIES, parse_trusted_proxies, trusted_hosts


def test_empty_by_default_so_forwarded_headers_are_never_believed() -> None:
    assert load_settings({}).trusted_proxy_networks == ()
    assert load_settings({"PLAINSIGHT_TRUSTED_PROXIES": " , "}).trusted_proxy_networks == ()


def test_addresses_and_networks_of_both_families_are_read() -> None:
    settings = load_settings(
        {"PLAINSIGHT_TRUSTED_PROXIES": " 10.0.0.5,10.1.0.0/16 , ::1, fd00:20::/32,,"}
    )
    assert settings.trusted_proxy_networks == (
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fd00:20::/32"),
    )


def test_ipv4_entries_also_admit_their_ipv4_mapped_form() -> None:
    hosts = trusted_hosts(parse_trusted_proxies("10.0.0.5, 10.1.0.0/16, fd00::/8"))
    assert hosts == [
        "10.0.0.5",
        "::ffff:a00:5",
        "10.1.0.0/16",
        "::ffff:a01:0/112",
        "fd00::/8",
    ]
    mapped = ipaddress.ip_network("::ffff:a01:0/112")
    assert ipaddress.ip_address("::ffff:10.1.200.3") in mapped
    assert ipaddress.ip_address("::ffff:10.2.0.1") not in mapped


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10.0.0.1/8", "host bits set"),  # meant 10.0.0.0/8? say so rather than guess
        ("proxy.internal", "not an IP address or CIDR network"),
        ("nginx", "not an IP address or CIDR network"),
        ("*", "'*' is not accepted"),
        ("10.0.0.0/33", "not an IP address or CIDR network"),
        ("::1/129", "not an IP address or CIDR network"),
        ("10.0.0.300", "not an IP address or CIDR network"),
        ("10.0.0.5 10.0.0.6", "not an IP address or CIDR network"),  # spaces do not separate
        ("10.0.0.5;10.0.0.6", "not an IP address or CIDR network"),
        ("10.0.0.5, garbage", "'garbage'"),
        (",".join(f"10.0.0.{n}" for n in range(MAX_ENTRIES + 1)), f"at most {MAX_ENTRIES}"),
    ],
)
def test_bad_entries_are_a_settings_error_naming_the_variable(value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"PLAINSIGHT_TRUSTED_PROXIES": value})
    message = str(raised.value)
    assert message.startswith("invalid setting: PLAINSIGHT_TRUSTED_PROXIES: ")
    assert reason in message
