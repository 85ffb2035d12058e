"""Refused where they must be, in the browser: a researcher's session on the moderators' and
admins' pages gets the 403 page; an observer's device token, planted as the session cookie,
gets the 403 page too (the sign-in page once the device is revoked); no session at all leads
to the sign-in page, coming back afterwards."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Response, expect

from schemas.auth import Role
from tests.browser.conftest import ExpectConsoleError
from tests.support.console_browser import sign_in
from tests.support.console_flows import SESSION_COOKIE, plant_session
from tests.support.live_console import LiveConsole

FORBIDDEN = r"status of 403"
STAFF_PAGES = ("/moderation", "/statistics", "/admin/accounts", "/admin/audit", "/no-pages")


@pytest.fixture
def console(module_console: LiveConsole) -> LiveConsole:
    """Each test brings its own people and reports; none counts what is there."""
    return module_console


async def opened(page: Page, path: str) -> Response:
    response = await page.goto(path)
    assert response is not None, path
    return response


async def assert_forbidden_page(page: Page, response: Response, path: str) -> None:
    """The console's 403 page, in HTML, for a reader who is signed in (not the sign-in page)."""
    assert response.status == 403, path
    assert response.headers["content-type"].startswith("text/html"), path
    assert page.url.endswith(path), page.url
    await expect(page.locator("h1")).not_to_be_empty()
    await expect(page.locator("#password")).to_have_count(0)
    await expect(page.get_by_role("alert")).not_to_be_empty()


async def test_a_researcher_gets_the_403_page_on_moderation_and_admin_pages(
    console: LiveConsole, page: Page, expect_console_error: ExpectConsoleError
) -> None:
    report = await console.report()
    researcher = await console.staff(Role.researcher)
    expect_console_error(page, FORBIDDEN)
    await sign_in(page, researcher)
    for path in ("/moderation", f"/moderation/reports/{report['id']}", "/admin/accounts"):
        await assert_forbidden_page(page, await opened(page, path), path)
    # The report's content is nowhere on the refusal.
    assert report["id"] not in await page.content()
    # Still signed in: their own page opens.
    assert (await opened(page, "/statistics")).status == 200


async def test_an_observer_device_token_opens_no_console_page(
    console: LiveConsole, page: Page, expect_console_error: ExpectConsoleError
) -> None:
    report = await console.report()
    token = await console.device()
    await plant_session(page, console.base_url, token)
    expect_console_error(page, FORBIDDEN)
    for path in (*STAFF_PAGES, f"/moderation/reports/{report['id']}"):
        # A valid token of a role with no console page: refused, not sent to sign in.
        await assert_forbidden_page(page, await opened(page, path), path)
    # The token itself still works for the app's API: only the console refuses it.
    mine = await console.client.get("/v1/reports", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    # Once the device is revoked its token is no session at all: the sign-in page, and the
    # planted cookie is cleared.
    revoked = await console.client.delete(
        "/v1/devices/current", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.is_success, revoked.text
    await opened(page, "/moderation")
    await expect(page).to_have_url(f"{console.base_url}/sign-in?next=/moderation")
    await expect(page.locator("#password")).to_be_visible()
    names = {cookie.get("name") for cookie in await page.context.cookies()}
    assert SESSION_COOKIE not in names, names


async def test_no_session_leads_to_sign_in_and_back(console: LiveConsole, page: Page) -> None:
    report = await console.report()
    moderator = await console.staff(Role.moderator)
    detail = f"/moderation/reports/{report['id']}"
    for path in STAFF_PAGES:
        await opened(page, path)
        await expect(page).to_have_url(f"{console.base_url}/sign-in?next={path}")
    await opened(page, detail)
    await expect(page).to_have_url(f"{console.base_url}/sign-in?next={detail}")
    await sign_in(page, moderator)
    await expect(page).to_have_url(f"{console.base_url}{detail}")
    await expect(page.locator("#report-heading")).to_be_visible()
