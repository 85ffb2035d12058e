"""Assertions shared by the integration tests: problem+json shape and keyset-page walks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

PROBLEM_KEYS = ("type", "title", "detail", "code")


def assert_problem(
    response: httpx.Response, status: int | tuple[int, ...], *, field: str | None = None
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` (one of several, if a tuple);
    when ``field`` is given, the problem names that field."""
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code
    for key in PROBLEM_KEYS:
        assert isinstance(problem[key], str), problem
        assert problem[key], problem
    if field is not None:
        assert problem.get("field") == field, problem
    return problem


async def walk_pages(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    *,
    limit: int = 1,
    params: dict[str, str] | None = None,
    max_pages: int = 200,
) -> list[dict[str, Any]]:
    """Follow ``next_cursor`` from the first page to the last; return every item in order."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        query: dict[str, str | int] = {**(params or {}), "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} did not reach a last page within {max_pages} pages")


async def devices(client: httpx.AsyncClient, count: int) -> list[str]:
    """Tokens of ``count`` newly registered observer devices."""
    responses = await asyncio.gather(*(client.post("/v1/devices") for _ in range(count)))
    return [response.json()["token"] for response in responses]
