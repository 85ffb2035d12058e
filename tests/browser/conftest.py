"""Fixtures for browser tests: one headless Debian chromium for the run, the service served
over HTTP on its own database, and a watched page per test that fails the test on any console
error, script error, CSP violation or request to another host.

A page test::

    async def test_moderator_sees_the_queue(console: LiveConsole, page: Page) -> None:
        moderator = await console.staff(Role.moderator)
        await console.report(narrative="Seen from the bus stop.")
        await sign_in(page, moderator)  # tests.support.console_browser
        await page.goto("/moderation")
        await expect(page.get_by_text("Seen from the bus stop.")).to_be_visible()
        await assert_accessible(page)  # tests.support.browser
        await screenshot(page, "moderation-queue")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from api.tasks.photo_workers import PhotoWorkers
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.browser import (
    DESKTOP,
    PageWatch,
    chromium_arguments,
    chromium_executable,
    close_watched,
)
from tests.support.live_console import LiveConsole, live_console

BROWSER_TESTS = Path(__file__).resolve().parent
# Fail fast: a page of this service answers in milliseconds, not Playwright's default 30 s.
ACTION_TIMEOUT_MS = 10_000

OpenPage = Callable[..., Awaitable[Page]]
ExpectConsoleError = Callable[[Page, str], None]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test in this folder is marked, so `-m "not browser"` leaves them all out.
    for item in items:
        if BROWSER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return chromium_executable()


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright: Playwright, chromium_path: str) -> AsyncIterator[Browser]:
    """One headless chromium for the whole run; each test gets its own context."""
    launched = await playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=chromium_arguments()
    )
    try:
        yield launched
    finally:
        await launched.close()


@pytest.fixture
def console_settings() -> dict[str, object]:
    """Settings given to the served service (override in a module to change them). Rate limits
    off: a page's stylesheet, script and image requests count per address."""
    return {"rate_limits": "off"}


@pytest.fixture
async def console(
    fresh_database: object,
    tmp_path: Path,
    photo_workers: PhotoWorkers,
    console_settings: dict[str, object],
) -> AsyncIterator[LiveConsole]:
    """The service on a new database with a real pool, served over HTTP, for this test alone."""
    async with live_console(
        cast(Callable[[], Awaitable[str]], fresh_database),
        tmp_path / "data",
        photo_workers,
        TEST_RECEIPT_SEED,
        **console_settings,
    ) as service:
        yield service


@pytest.fixture(scope="module")
async def module_console(
    fresh_database: object, tmp_path_factory: pytest.TempPathFactory, photo_workers: PhotoWorkers
) -> AsyncIterator[LiveConsole]:
    """One service for a whole module (~1 s saved per test), for tests that only add data of
    their own (accounts with fresh e-mail addresses) and never count or list what is there.
    A module opts in by overriding ``console``::

        @pytest.fixture
        def console(module_console: LiveConsole) -> LiveConsole:
            return module_console
    """
    async with live_console(
        cast(Callable[[], Awaitable[str]], fresh_database),
        tmp_path_factory.mktemp("console") / "data",
        photo_workers,
        TEST_RECEIPT_SEED,
        rate_limits="off",
    ) as service:
        yield service


@pytest.fixture
def site_url(console: LiveConsole) -> str:
    """The one origin pages may load from; every other host is blocked and reported."""
    return console.base_url


@pytest.fixture
def locale() -> str:
    """The browser's language (navigator.language and Accept-Language); parametrize to
    change it: ``@pytest.mark.parametrize("locale", ["es-ES"])``."""
    return "en-US"


@pytest.fixture
def watches() -> list[PageWatch]:
    """The watch on each context ``open_page`` opened in this test (``requests`` lists the URLs
    each asked for)."""
    return []


@pytest.fixture
async def open_page(
    browser: Browser, site_url: str, locale: str, watches: list[PageWatch]
) -> AsyncIterator[OpenPage]:
    """Open a page in a new browser context (its own cookies: one per person in a test);
    relative URLs go to ``site_url``. At teardown the test fails if any context saw a problem
    (tests.support.browser.PageWatch), all of them listed."""

    async def open_one(*, locale: str = locale) -> Page:
        context = await browser.new_context(
            base_url=site_url, locale=locale, viewport=DESKTOP, service_workers="block"
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        watches.append(await PageWatch.install(context, site_url))
        return await watches[-1].new_page()

    yield open_one
    report = await close_watched(watches)
    if report:
        pytest.fail(report, pytrace=False)


@pytest.fixture
def expect_console_error(open_page: OpenPage, watches: list[PageWatch]) -> ExpectConsoleError:
    """``expect_console_error(page, pattern)``: console errors of ``page`` matching ``pattern``
    are expected (e.g. the 401 of a refused sign-in, which Chromium logs as an error); at least
    one must come."""

    def expect(page: Page, pattern: str) -> None:
        for watch in watches:
            if watch.context is page.context:
                watch.expect_console_error(pattern)
                return
        raise LookupError("expect_console_error: that page was not opened by open_page")

    return expect


@pytest.fixture
async def page(open_page: OpenPage) -> Page:
    """A watched page at ``locale`` in a context of its own."""
    return await open_page()
