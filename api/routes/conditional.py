"""Conditional GET: does the client's If-None-Match already name the current ETag?"""

from __future__ import annotations


def not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in wanted or "*" in wanted
