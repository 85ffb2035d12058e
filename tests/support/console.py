"""Driving the console over HTTP as a browser without JavaScript would: read the form's CSRF
field, post the form with the cookies the service set."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from schemas.auth import Role
from storage.accounts import store as accounts
from tests.support.helpers import PASSWORD, Api

_CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_field(html: str) -> str:
    match = _CSRF_FIELD.search(html)
    assert match is not None, "the page has no CSRF field"
    return match[1]


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: Mapping[str, str]
) -> httpx.Response:
    """Open ``page``, then submit a form to ``action`` with the page's CSRF field."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(action, data={**data, "_csrf_token": csrf_field(opened.text)})


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await post_form(client, "/sign-in", "/sign-in", {"email": email, "password": password})


async def staff_email(api: Api, role: Role) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    await accounts.create_account(api.conn, email=email, role=role, password=PASSWORD)
    return email


@asynccontextmanager
async def console_client(api: Api, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    """A new client (its own cookies) signed in to the console with a new ``role`` account."""
    email = await staff_email(api, role)
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=10.0) as client:
        response = await sign_in(client, email)
        assert response.status_code == 303, response.text
        yield client
