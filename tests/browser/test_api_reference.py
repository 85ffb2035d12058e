"""The interactive API reference at /schema/swagger, in a real browser: the operations and
their examples render, under a policy that allows scripts and styles from the service only,
and every request the page makes goes to the service itself (tests.support.browser.PageWatch
also aborts and reports any other, and any CSP violation or script error)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from api.openapi_examples import CLIENT_ID, OFFICER_CLIENT_ID
from tests.support.browser import PageWatch, screenshot
from tests.support.live_console import LiveConsole

REFERENCE = "/schema/swagger"
ASSETS = {
    "/schema/swagger/swagger-ui.css",
    "/schema/swagger/swagger-ui-bundle.js",
    "/schema/swagger/init.js",
    "/schema/openapi.json",
}


@pytest.fixture
def console(module_console: LiveConsole) -> LiveConsole:
    """The page only reads: one service serves every test here."""
    return module_console


async def test_the_reference_renders_operations_and_examples_from_the_service_alone(
    console: LiveConsole, page: Page, watches: list[PageWatch]
) -> None:
    answer = await page.goto(REFERENCE)
    assert answer is not None
    assert answer.status == 200
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy

    submit = page.locator("#operations-reports-V1ReportsSubmitReport")
    summary = submit.locator(".opblock-summary")
    await expect(summary).to_contain_text("POST")
    await expect(summary.locator(".opblock-summary-path")).to_have_text(
        re.compile(r"^\s*/v1/reports\s*$")
    )
    await summary.locator("button.opblock-summary-control").click()
    body = submit.locator(".opblock-section-request-body")
    # The first named example, the observer's report, is what the page shows for the body.
    await expect(body).to_contain_text(CLIENT_ID)
    await body.locator("select.examples-select-element").select_option("officer_note")
    await expect(body).to_contain_text(OFFICER_CLIENT_ID)
    await expect(body).to_contain_text("Precinct 7")
    # A problem answer's example, with its stable code.
    await expect(submit.locator(".responses-wrapper")).to_contain_text("kind_not_allowed")
    await screenshot(page, "api-reference")

    origin = urlsplit(console.base_url)
    requested = [url for watch in watches for url in watch.requests]
    assert requested, "the page made no request at all"
    assert {(urlsplit(u).scheme, urlsplit(u).netloc) for u in requested} == {
        (origin.scheme, origin.netloc)
    }, requested
    assert {urlsplit(u).path for u in requested} >= ASSETS, requested


async def test_the_assets_are_served_with_their_types(console: LiveConsole, page: Page) -> None:
    for path, media in (
        ("/schema/swagger/swagger-ui-bundle.js", "text/javascript"),
        ("/schema/swagger/init.js", "text/javascript"),
        ("/schema/swagger/swagger-ui.css", "text/css"),
    ):
        answer = await page.request.get(path)
        assert answer.status == 200, path
        assert answer.headers["content-type"].startswith(media), path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "public" in answer.headers["cache-control"]
    missing = await page.request.get("/schema/swagger/swagger-editor-bundle.js")
    assert missing.status == 404


async def test_the_redoc_address_leads_to_the_reference(console: LiveConsole, page: Page) -> None:
    """/schema/redoc is where many frameworks serve a reference: it sends the reader to this
    one rather than answering 404."""
    answer = await page.goto("/schema/redoc")
    assert answer is not None
    assert answer.status == 200
    assert urlsplit(page.url).path.rstrip("/") == REFERENCE
    await expect(page.locator("#operations-reports-V1ReportsSubmitReport")).to_be_visible()
