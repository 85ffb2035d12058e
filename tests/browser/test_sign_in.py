"""Signing in to the console in a real browser: the form, its error, the way back to the page
a visitor asked for, signing out, the language, accessibility and screenshots.

The officer's page (/no-pages) is the staff page used here: the other roles' home pages are
built and tested elsewhere (their redirects are checked in tests/integration/web)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from schemas.auth import Role
from tests.browser.conftest import ExpectConsoleError, OpenPage
from tests.support.browser import assert_accessible, screenshot
from tests.support.console_browser import fill_sign_in, sign_in
from tests.support.live_console import LiveConsole

STAFF_PAGE = "/no-pages"
# Chromium logs every 4xx document as a console error; a refused sign-in answers 401.
REFUSED_SIGN_IN = r"status of 401 .*/sign-in"


@pytest.fixture
def console(module_console: LiveConsole) -> LiveConsole:
    """Each test signs in with an account of its own: one service serves them all."""
    return module_console


async def test_staff_sign_in_lands_on_their_home_page(console: LiveConsole, page: Page) -> None:
    officer = await console.staff(Role.officer)
    await page.goto("/")
    await expect(page).to_have_url(f"{console.base_url}/sign-in")
    await fill_sign_in(page, officer.email, officer.password)
    await expect(page).to_have_url(f"{console.base_url}{STAFF_PAGE}")
    # The header says who is signed in and offers to sign out.
    await expect(page.locator("form.sign-out button[type=submit]")).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "officer-no-pages")


async def test_wrong_password_shows_an_error_on_the_page(
    console: LiveConsole, page: Page, expect_console_error: ExpectConsoleError
) -> None:
    officer = await console.staff(Role.officer)
    expect_console_error(page, REFUSED_SIGN_IN)
    await page.goto("/sign-in")
    async with page.expect_navigation() as navigation:
        await fill_sign_in(page, officer.email, "not the password at all")
    response = await navigation.value
    assert response is not None
    assert response.status == 401
    assert response.headers["content-type"].startswith("text/html")  # a page, not JSON
    alert = page.get_by_role("alert")
    await expect(alert).to_be_visible()
    await expect(alert).not_to_be_empty()
    await expect(page.locator("#email")).to_have_value(officer.email)
    await expect(page.locator("#password")).to_have_value("")
    await assert_accessible(page)
    await screenshot(page, "sign-in-refused")
    # The right password still works afterwards, from the same form.
    await fill_sign_in(page, officer.email, officer.password)
    await expect(page).to_have_url(f"{console.base_url}{STAFF_PAGE}")


async def test_empty_form_is_refused_by_the_browser_before_sending(
    console: LiveConsole, page: Page
) -> None:
    await page.goto("/sign-in")
    await page.locator("form[action='/sign-in'] button[type=submit]").click()
    # The fields are required: the browser keeps the reader on the form, nothing is posted.
    await expect(page).to_have_url(f"{console.base_url}/sign-in")
    assert await page.locator("#email").evaluate("(field) => field.validity.valueMissing")


async def test_anonymous_visit_to_a_staff_page_ends_on_sign_in_and_comes_back(
    console: LiveConsole, page: Page
) -> None:
    officer = await console.staff(Role.officer)
    await page.goto(STAFF_PAGE)
    await expect(page).to_have_url(f"{console.base_url}/sign-in?next={STAFF_PAGE}")
    await expect(page.locator("#password")).to_be_visible()
    await sign_in(page, officer)
    await expect(page).to_have_url(f"{console.base_url}{STAFF_PAGE}")


async def test_sign_out_ends_the_session(console: LiveConsole, page: Page) -> None:
    officer = await console.staff(Role.officer)
    await sign_in(page, officer)
    await expect(page).to_have_url(f"{console.base_url}{STAFF_PAGE}")
    await page.locator("form.sign-out button[type=submit]").click()
    await expect(page).to_have_url(f"{console.base_url}/sign-in")
    await page.goto(STAFF_PAGE)
    await expect(page).to_have_url(f"{console.base_url}/sign-in?next={STAFF_PAGE}")


async def test_sign_in_page_is_accessible_with_screenshots(
    console: LiveConsole, page: Page
) -> None:
    await page.goto("/sign-in")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await assert_accessible(page)
    await screenshot(page, "sign-in")


@pytest.mark.parametrize("locale", ["es-ES"])
async def test_sign_in_page_in_spanish(console: LiveConsole, open_page: OpenPage) -> None:
    english = await open_page(locale="en-US")
    await english.goto("/sign-in")
    spanish = await open_page()  # the parametrized locale
    await spanish.goto("/sign-in")
    await expect(spanish.locator("html")).to_have_attribute("lang", "es")
    english_heading = await english.locator("h1").inner_text()
    spanish_heading = await spanish.locator("h1").inner_text()
    assert spanish_heading.strip()
    assert spanish_heading != english_heading
    await assert_accessible(spanish)
    await screenshot(spanish, "sign-in-es")


async def test_language_switch_changes_the_page_language(console: LiveConsole, page: Page) -> None:
    await page.goto("/sign-in")
    await page.locator("nav.languages a[hreflang=es]").click()
    await expect(page).to_have_url(f"{console.base_url}/sign-in")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await page.locator("nav.languages a[hreflang=en]").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
