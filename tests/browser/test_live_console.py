"""The served service that page tests run against: its own migrated database behind a real
pool, reachable by the browser, and seeded through the owner's connection and the HTTP API."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page

from schemas.auth import Role
from storage.errors import Conflict
from tests.support.helpers import bearer
from tests.support.live_console import LiveConsole


async def test_each_test_gets_an_empty_migrated_database(console: LiveConsole) -> None:
    async with console.owner() as conn:
        counts = await conn.fetchrow(
            "select (select count(*) from reports) as reports,"
            " (select count(*) from accounts) as accounts,"
            " (select count(*) from schema_migrations) as migrations"
        )
    assert counts is not None
    assert (counts["reports"], counts["accounts"]) == (0, 0)
    assert counts["migrations"] > 0


async def test_seeded_report_is_stored_grouped_and_readable_by_staff(
    console: LiveConsole,
) -> None:
    moderator = await console.staff(Role.moderator)
    device = await console.device()
    created = await console.report(device, narrative="Seeded through the HTTP API.")
    assert created["status"] == "pending"
    async with console.owner() as conn:
        incident = await conn.fetchval(
            "select incident_id from reports where id = $1", uuid.UUID(created["id"])
        )
    assert incident is not None  # folded now, not within the background loop's second
    token = await console.api_token(moderator)
    response = await console.client.get(f"/v1/reports/{created['id']}", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["narrative"] == "Seeded through the HTTP API."


async def test_staff_account_needs_its_own_password(module_console: LiveConsole) -> None:
    console = module_console  # shared: the test looks up only the account it makes
    researcher = await console.staff(Role.researcher, password="a different long password")
    refused = await console.client.post(
        "/v1/sessions", json={"email": researcher.email, "password": "not the password"}
    )
    assert refused.status_code == 401
    token = await console.api_token(researcher)
    # Signed in, so not 401; a researcher never reads raw reports, so 403.
    response = await console.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 403, response.text


async def test_same_email_twice_is_refused(module_console: LiveConsole) -> None:
    console = module_console
    email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    await console.staff(Role.admin, email=email)
    with pytest.raises(Conflict):
        await console.staff(Role.moderator, email=email.upper())


async def test_browser_reaches_the_service_with_requests_at_once(
    console: LiveConsole, page: Page
) -> None:
    # A page with its stylesheet and scripts asks for several things at once: the pool serves
    # them side by side (the rolled-back single connection of the API tests could not).
    await page.goto("/v1/codebook?lang=es")
    statuses = await page.evaluate(
        """() => Promise.all(
            ["en", "es", "en", "es", "en", "es"].map(
                (lang) => fetch("/v1/codebook?lang=" + lang).then((r) => r.status)))"""
    )
    assert statuses == [200] * 6
    assert page.url == f"{console.base_url}/v1/codebook?lang=es"
