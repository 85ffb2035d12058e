"""Where a moderation form goes back to, and the notice it carries: only moderation pages of
this site, and only notices from the fixed list."""

from __future__ import annotations

import pytest

from api.web.moderation.redirects import Notice, notice_of, return_path, with_notice

DEFAULT = "/moderation/reports/x"


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("/moderation", "/moderation"),
        ("/moderation/incidents/7", "/moderation/incidents/7"),
        ("/moderation?cursor=abc", "/moderation?cursor=abc"),
        ("/moderation?cursor=abc&done=verified&count=3", "/moderation?cursor=abc"),
        ("/moderationx", DEFAULT),
        ("/moderation-evil", DEFAULT),
        ("/admin/accounts", DEFAULT),
        ("/", DEFAULT),
        ("", DEFAULT),
        (None, DEFAULT),
        (42, DEFAULT),
        ("//evil.example/moderation", DEFAULT),
        ("https://evil.example/moderation", DEFAULT),
        ("/\\evil.example", DEFAULT),
        ("moderation", DEFAULT),
        ("/moderation/" + "a" * 400, DEFAULT),
    ],
)
def test_a_form_returns_only_to_a_moderation_page(asked: object, expected: str) -> None:
    assert return_path(asked, DEFAULT) == expected


def test_a_notice_is_added_to_the_query_string() -> None:
    assert with_notice("/moderation", "verified") == "/moderation?done=verified"
    assert (
        with_notice("/moderation?cursor=abc", "device_revoked", count=2)
        == "/moderation?cursor=abc&done=device_revoked&count=2"
    )
    with pytest.raises(ValueError, match="no moderation notice"):
        with_notice("/moderation", "narrative")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"done": "rejected"}, Notice("rejected", None, None)),
        ({"done": "split", "incident": "12"}, Notice("split", None, 12)),
        ({"done": "device_revoked", "count": "3"}, Notice("device_revoked", 3, None)),
        ({"done": "device_revoked", "count": "-3"}, Notice("device_revoked", None, None)),
        ({"done": "device_revoked", "count": "²"}, Notice("device_revoked", None, None)),
        ({"done": "split", "incident": "9" * 25}, Notice("split", None, None)),
        ({"done": "verified", "count": "3", "incident": "4"}, Notice("verified", None, None)),
        ({"done": "<script>"}, None),
        ({}, None),
    ],
)
def test_only_known_notices_are_shown(query: dict[str, str], expected: Notice | None) -> None:
    assert notice_of(query) == expected
