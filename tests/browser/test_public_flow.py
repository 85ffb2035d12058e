"""An anonymous visitor reads the public page in Spanish, chosen by the browser's language and
by the page's language link: the latest release's national figures with their intervals, as
the signed release file has them, and that file reached through the page's link."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage
from tests.support.console_flows import publish_a_release
from tests.support.live_console import LiveConsole

# Enough incidents that the national counts (Laplace noise, scale 10) never all fall to zero,
# which would leave no rate and no interval to show.
VERIFIED_REPORTS = 60


async def national_figures(page: Page) -> dict[str, str]:
    row = page.locator("#table-national tbody tr").first
    cells = {
        name: (await row.locator(f"td.{name}").inner_text()).strip()
        for name in ("total", "rate", "interval")
    }
    return cells


async def assert_reads_in_spanish(page: Page, release: dict[str, Any]) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    national = page.locator("#table-national")
    # Words a Spanish reader expects (the column of incidents and the whole country's row).
    await expect(national.locator("thead")).to_contain_text("Incidentes")
    await expect(national.locator("tbody")).to_contain_text("Todo el país")
    figures = await national_figures(page)
    row = release["tables"]["national"][0]
    assert figures["total"] == str(row["total"])
    assert row["ci_low"] is not None, release["tables"]["national"]
    # The interval is written as two percentages, low to high.
    low, _, high = figures["interval"].partition("\N{EN DASH}")
    assert "%" in low, figures
    assert "%" in high, figures


@pytest.mark.parametrize("locale", ["es-ES"])
async def test_a_visitor_reads_the_public_page_in_spanish(
    console: LiveConsole, open_page: OpenPage
) -> None:
    month = await publish_a_release(console, VERIFIED_REPORTS)
    listed = await console.client.get("/v1/public/releases")
    assert listed.status_code == 200, listed.text

    # By the browser's language.
    spanish = await open_page()
    await spanish.goto("/public")
    await expect(spanish.locator("#latest-heading")).to_contain_text(month)
    file_link = spanish.locator("#latest-file-link")
    href = await file_link.get_attribute("href")
    assert href is not None
    served = await console.client.get(href)
    assert served.status_code == 200, served.text
    release = served.json()
    assert release["meta"]["month"] == month
    assert release["meta"]["signature"]
    await assert_reads_in_spanish(spanish, release)

    # The link to the signed file works in the browser: it answers the very same document.
    async with spanish.expect_navigation() as navigation:
        await file_link.click()
    response = await navigation.value
    assert response is not None
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert await response.json() == release

    # By the language link, from an English browser.
    english = await open_page(locale="en-US")
    await english.goto("/public")
    await expect(english.locator("html")).to_have_attribute("lang", "en")
    english_title = await english.locator("h1").inner_text()
    async with english.expect_navigation():
        await english.locator("nav.languages a[hreflang=es]").click()
    assert await english.locator("h1").inner_text() != english_title
    await assert_reads_in_spanish(english, release)
