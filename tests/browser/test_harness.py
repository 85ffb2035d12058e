"""The browser harness catches what it must: console errors, uncaught errors, CSP violations,
requests to other hosts and serious accessibility violations, on pages built to have them;
and lets a clean page through. Served by a throwaway site (tests.support.harness_site), not the
service, so these tests say nothing about the console's own pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, Page

from tests.browser.conftest import ACTION_TIMEOUT_MS, ExpectConsoleError, OpenPage
from tests.support import browser as harness
from tests.support.browser import (
    DESKTOP,
    PHONE,
    PageProblems,
    PageWatch,
    assert_accessible,
    axe_violations,
    chromium_executable,
    close_watched,
    screenshot,
    tab_to,
)
from tests.support.harness_site import (
    CONSOLE_ERROR_TEXT,
    PAGE_ERROR_TEXT,
    TALL_PAGE_PX,
    THIRD_PARTY,
    harness_app,
)
from tests.support.live_server import live_server

ALL_IMPACTS = frozenset({"minor", "moderate", "serious", "critical"})
# How Chromium words a CSP violation on its console.
CSP_CONSOLE_TEXT = "violates the following Content Security Policy directive"


@pytest.fixture(scope="module")
async def harness_url() -> AsyncIterator[str]:
    async with live_server(harness_app()) as base_url:
        yield base_url


@pytest.fixture
def site_url(harness_url: str) -> str:
    """The `page` fixture's allowed origin is the harness site here, not the service."""
    return harness_url


@pytest.fixture
async def watch(browser: Browser, harness_url: str) -> AsyncIterator[PageWatch]:
    """A watched context whose problems the test inspects itself (the `page` fixture would
    fail these tests at teardown, which is the point of the pages they open)."""
    context = await browser.new_context(base_url=harness_url, viewport=DESKTOP)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    installed = await PageWatch.install(context, harness_url)
    yield installed
    await context.close()


async def test_clean_page_passes_every_check(page: Page, watches: list[PageWatch]) -> None:
    await page.goto("/")
    base = page.url.rstrip("/")
    assert watches[0].requests == [
        f"{base}/",
        f"{base}/static/site.css",
        f"{base}/static/quiet.js",
    ]
    # Its own stylesheet and script loaded through the harness's request filter.
    assert await page.evaluate("document.documentElement.dataset.scripted") == "yes"
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(250, 250, 240)"
    assert await axe_violations(page, impacts=ALL_IMPACTS) == []
    await assert_accessible(page)


async def test_console_error_is_reported(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/console-error")
    problems = await watch.problems()
    assert [e for e in problems.console_errors if CONSOLE_ERROR_TEXT in e] != []
    assert problems.page_errors == []
    assert problems.csp_violations == []
    assert problems.third_party_requests == []


async def test_expected_error_page_passes(
    page: Page, expect_console_error: ExpectConsoleError
) -> None:
    expect_console_error(page, r"status of 404 .*/gone")
    response = await page.goto("/gone")
    assert response is not None
    assert response.status == 404
    # The page fixture's teardown finds nothing left to report.


async def test_expected_console_error_that_never_comes_is_reported(watch: PageWatch) -> None:
    watch.expect_console_error("status of 500")
    page = await watch.new_page()
    await page.goto("/gone")
    problems = await watch.problems()
    assert problems.expected_but_missing == ["status of 500"]
    assert [e for e in problems.console_errors if "status of 404" in e] != []


async def test_uncaught_error_is_reported(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/script-error")
    problems = await watch.problems()
    assert problems.page_errors == [f"Error: {PAGE_ERROR_TEXT}"]


async def test_inline_script_under_strict_csp_is_reported(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/inline-script")
    assert await page.title() == "Inline script"  # the browser did not run it
    problems = await watch.problems()
    assert [v["directive"] for v in problems.csp_violations] == ["script-src-elem"]
    assert problems.csp_violations[0]["blocked"] == "inline"
    # Chromium also says so on the console, as an error.
    assert [e for e in problems.console_errors if CSP_CONSOLE_TEXT in e] != []
    assert "CSP violations:\n  - script-src-elem blocked inline" in problems.report()


async def test_csp_violation_on_a_page_left_behind_is_kept(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/inline-script")
    await page.goto("/")
    problems = await watch.problems()
    assert [v["directive"] for v in problems.csp_violations] == ["script-src-elem"]
    assert problems.csp_violations[0]["page"].endswith("/inline-script")


async def test_request_to_another_host_is_blocked_and_reported(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/open/third-party")
    await page.wait_for_function("document.getElementById('remote').complete")
    assert await page.evaluate("document.getElementById('remote').naturalWidth") == 0
    problems = await watch.problems()
    assert sorted(problems.third_party_requests) == [
        f"GET {THIRD_PARTY}/font.css",
        f"GET {THIRD_PARTY}/pixel.png",
    ]
    assert f"requests to other hosts (blocked):\n  - GET {THIRD_PARTY}" in problems.report()


async def test_teardown_report_lists_every_problem_of_every_context(
    browser: Browser, harness_url: str
) -> None:
    watches = []
    for path in ("/console-error", "/script-error", "/inline-script", "/"):
        context = await browser.new_context(base_url=harness_url)
        watches.append(await PageWatch.install(context, harness_url))
        await (await watches[-1].new_page()).goto(path)
    report = await close_watched(watches)
    assert report.count("the browser reported problems:") == 3
    assert CONSOLE_ERROR_TEXT in report
    assert PAGE_ERROR_TEXT in report
    assert "script-src-elem blocked inline" in report
    assert all(w.context.pages == [] for w in watches)  # every context closed


async def test_clean_pages_leave_an_empty_report(browser: Browser, harness_url: str) -> None:
    context = await browser.new_context(base_url=harness_url)
    watch = await PageWatch.install(context, harness_url)
    await (await watch.new_page()).goto("/")
    assert await close_watched([watch]) == ""


def test_empty_problems_are_false_and_any_problem_is_true() -> None:
    assert not PageProblems()
    assert PageProblems(third_party_requests=["GET http://x.invalid/"])
    assert PageProblems(page_errors=["Error: x"])


async def test_assert_clean_fails_with_the_report(watch: PageWatch) -> None:
    page = await watch.new_page()
    await page.goto("/console-error")
    with pytest.raises(pytest.fail.Exception, match=CONSOLE_ERROR_TEXT):
        await watch.assert_clean()


async def test_axe_fails_a_page_with_critical_violations(page: Page) -> None:
    await page.goto("/inaccessible")
    found = await axe_violations(page)
    assert sorted(line.split(" ", 1)[0] for line in found) == ["button-name", "image-alt"]
    assert "#no-alt" in "".join(found)
    assert "#no-name" in "".join(found)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)button-name.*image-alt"):
        await assert_accessible(page)


async def test_axe_lets_moderate_violations_through(page: Page) -> None:
    await page.goto("/moderate-only")
    everything = await axe_violations(page, impacts=ALL_IMPACTS)
    assert "landmark-one-main (moderate)" in "".join(everything)
    assert await axe_violations(page) == []
    await assert_accessible(page)


async def test_locale_sets_the_accept_language_header(open_page: OpenPage) -> None:
    english = await open_page()
    await english.goto("/language")
    assert await english.text_content("#accepted") == "en-US"
    spanish = await open_page(locale="es-ES")
    await spanish.goto("/language")
    assert await spanish.text_content("#accepted") == "es-ES"
    assert await spanish.evaluate("navigator.language") == "es-ES"


async def test_screenshots_at_phone_and_desktop_width(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(harness.OUTPUT_VARIABLE, str(tmp_path))
    await page.goto("/tall")
    saved = await screenshot(page, "harness-tall")
    assert saved == [
        tmp_path / "screenshots" / "harness-tall-phone.png",
        tmp_path / "screenshots" / "harness-tall-desktop.png",
    ]
    for path, size in zip(saved, (PHONE, DESKTOP), strict=True):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width == size["width"]
            assert image.height >= TALL_PAGE_PX  # the full page, not the viewport
    assert page.viewport_size == DESKTOP


async def test_screenshot_name_must_be_a_plain_file_name(page: Page) -> None:
    await page.goto("/")
    for name in ("../escape", "with space", "", "Upper"):
        with pytest.raises(ValueError, match="screenshot name"):
            await screenshot(page, name)


def test_screenshots_default_to_test_output_at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(harness.OUTPUT_VARIABLE, raising=False)
    root = Path(__file__).resolve().parents[2]
    assert harness.screenshot_directory() == root / "test-output" / "screenshots"


def test_missing_chromium_fails_rather_than_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        chromium_executable()


async def test_keyboard_reaches_a_real_button_and_not_a_clickable_div(page: Page) -> None:
    await page.goto("/keyboard")
    presses = await tab_to(page, page.locator("#real"))
    assert presses == 2  # the "Home" link, then the button
    await page.keyboard.press("Enter")
    assert await page.text_content("#result") == "done"
    with pytest.raises(pytest.fail.Exception, match="not reached with 15 presses"):
        await tab_to(page, page.locator("#fake"), limit=15)
