"""Shortcuts for the moderation console's tests: a signed-in moderator whose account id is
known (to find its audit entries), reports and photos made through the API, and reading the
queue's pages and items out of the HTML as a browser without JavaScript would."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from schemas.auth import Role
from tests.support.console import csrf_field, sign_in, staff_email
from tests.support.helpers import Api, bearer, observer_report, officer_note

_ITEM = re.compile(r'<article class="card queue-item" id="report-([0-9a-f-]{36})"')
SELECT_AUDIT = """
select subject_id, details::text as details from audit_log
where actor_id = $1 and action = $2 order by id
"""
_NEXT = re.compile(r'href="(/moderation\?cursor=[^"]+)" rel="next"')


@dataclass
class Console:
    client: httpx.AsyncClient
    account_id: uuid.UUID


@asynccontextmanager
async def staff_console(api: Api, role: Role = Role.moderator) -> AsyncIterator[Console]:
    """A new ``role`` account signed in to the console in a client of its own."""
    email = await staff_email(api, role)
    account_id = await api.conn.fetchval("select id from accounts where email = $1", email)
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=10.0) as client:
        response = await sign_in(client, email)
        assert response.status_code == 303, response.text
        yield Console(client, account_id)


async def empty_the_queue(api: Api) -> None:
    """Whatever other tests left pending is set aside (as the database's owner, in the test's
    transaction, which is rolled back): the queue then holds this test's reports only."""
    await api.conn.execute("update reports set status = 'unverified' where status = 'pending'")


async def submitted(api: Api, token: str, body: dict[str, Any]) -> str:
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def observer_submits(api: Api, token: str, **overrides: Any) -> str:
    return await submitted(api, token, observer_report(**overrides))


async def officer_submits(api: Api, token: str, **overrides: Any) -> str:
    return await submitted(api, token, officer_note(**overrides))


async def api_report(api: Api, token: str, report_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def queue_pages(client: httpx.AsyncClient) -> list[str]:
    """Every page of the queue, following the "next page" links."""
    pages: list[str] = []
    url: str | None = "/moderation"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.text)
        found = _NEXT.search(response.text)
        url = html.unescape(found[1]) if found else None
    return pages


def queue_order(page: str) -> list[str]:
    """The report ids of a queue page's items, top to bottom."""
    return _ITEM.findall(page)


def queue_item(page: str, report_id: str) -> str:
    """The HTML of one item of a queue page."""
    found = re.search(
        rf'<article class="card queue-item" id="report-{report_id}".*?</article>', page, re.S
    )
    assert found is not None, f"report {report_id} is not on the page"
    return found[0]


async def post_page_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]
) -> httpx.Response:
    """Open ``page`` and submit one of its forms (``data`` may repeat a field as a list)."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(action, data={**data, "_csrf_token": csrf_field(opened.text)})


async def audit_entries(api: Api, actor_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    rows = await api.conn.fetch(SELECT_AUDIT, actor_id, action)
    return [{"subject_id": row["subject_id"], **json.loads(row["details"])} for row in rows]
