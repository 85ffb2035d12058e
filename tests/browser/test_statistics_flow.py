"""A researcher explores the statistics in the browser: filters changed through the form, the
table, the rate chart and the hexagon map following them, and a CSV download whose rows are
the API's for the same filters (fetched with the researcher's own bearer token)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import pytest
from playwright.async_api import Page, expect

from schemas.auth import Role
from tests.browser.conftest import ExpectConsoleError
from tests.support.console_browser import sign_in
from tests.support.console_flows import api_get, record_incidents
from tests.support.helpers import bearer
from tests.support.live_console import LiveConsole

THRESHOLD = 5  # the lowest the settings allow: fewer reports make a shown cell
AREA_X = h3.latlng_to_cell(40.7191, -74.0017, 7)
AREA_Z = h3.latlng_to_cell(41.8781, -87.6298, 7)
MARCH = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
APRIL = datetime(2025, 4, 3, 6, 0, tzinfo=UTC)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "yes", "insignia_visible": "no"}
FILTERS = {"from": "2025-03-01", "to": "2025-04-30", "area_resolution": "7"}


@pytest.fixture
def console_settings() -> dict[str, object]:
    return {"rate_limits": "off", "suppression_threshold": THRESHOLD}


async def apply_filters(
    page: Page, *, group_by: Sequence[str], status: str = "all", unit: str = "report"
) -> None:
    """Fill the form as a reader would and press Apply."""
    await page.locator("#filter-from").fill(FILTERS["from"])
    await page.locator("#filter-to").fill(FILTERS["to"])
    boxes = page.locator("#filter-group-by input[type=checkbox]")
    for number in range(await boxes.count()):
        box = boxes.nth(number)
        await box.set_checked(await box.get_attribute("value") in group_by)
    await page.locator("#filter-area-resolution").select_option(FILTERS["area_resolution"])
    await page.locator("#filter-status").select_option(status)
    await page.locator("#filter-unit").select_option(unit)
    async with page.expect_navigation():
        await page.locator("#apply-filters").click()


def api_parameters(group_by: Sequence[str], status: str, unit: str) -> dict[str, str]:
    return {**FILTERS, "group_by": ",".join(group_by), "status": status, "unit": unit}


async def table_keys(page: Page, columns: int) -> list[tuple[str, ...]]:
    """The grouping keys of each table row (the cells' data-value attributes)."""
    rows = await page.locator("#statistics-table tbody tr").evaluate_all(
        "(rows) => rows.map((row) => [...row.querySelectorAll('td[data-value]')]"
        ".map((cell) => cell.dataset.value))"
    )
    keys = [tuple(str(value) for value in row) for row in rows]
    assert all(len(key) == columns for key in keys), keys
    return keys


def api_keys(body: dict[str, Any], group_by: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(str(row[name]) for name in group_by) for row in body["rows"]]


def csv_rows(text: str) -> list[list[str]]:
    """The CSV's rows, without the methods' leading "#" lines."""
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("#")]
    return list(csv.reader(io.StringIO("".join(lines))))


async def test_a_researcher_filters_and_downloads_what_the_api_gives(
    console: LiveConsole, page: Page, tmp_path: Path, expect_console_error: ExpectConsoleError
) -> None:
    device = await console.device()
    await record_incidents(console, device, AREA_X, MARCH, [NOT_IDENTIFIED] * 4 + [IDENTIFIED] * 2)
    await record_incidents(console, device, AREA_Z, MARCH + timedelta(days=1), [IDENTIFIED] * 6)
    await record_incidents(console, device, AREA_X, APRIL, [NOT_IDENTIFIED] * 5 + [IDENTIFIED])
    await record_incidents(console, device, AREA_Z, APRIL + timedelta(days=1), [NOT_IDENTIFIED] * 2)
    researcher = await console.staff(Role.researcher)
    token = await console.api_token(researcher)
    await sign_in(page, researcher)
    await expect(page).to_have_url(f"{console.base_url}/statistics")

    # A period that ends before it starts: the form comes back with the fault beside it.
    expect_console_error(page, r"status of 422")
    await page.locator("#filter-from").fill("2025-05-01")
    await page.locator("#filter-to").fill("2025-03-01")
    async with page.expect_navigation() as navigation:
        await page.locator("#apply-filters").click()
    refused = await navigation.value
    assert refused is not None
    assert refused.status == 422
    await expect(page.locator("#filters-invalid")).to_be_visible()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator("[aria-invalid=true]")).to_have_count(1)
    await expect(page.locator("#statistics-table")).to_have_count(0)

    # By month: the table has the API's months, the chart draws the rate line, no map.
    by_month = ["month"]
    await apply_filters(page, group_by=by_month)
    expected = await api_get(
        console, token, "/v1/stats/identification", **api_parameters(by_month, "all", "report")
    )
    assert sorted(await table_keys(page, 1)) == sorted(api_keys(expected, by_month))
    assert sorted(api_keys(expected, by_month)) == [("2025-03",), ("2025-04",)]
    chart = page.locator("#rate-chart-section svg")
    await expect(chart).to_be_visible()
    await expect(chart.locator("polyline.ps-line")).to_have_count(1)
    await expect(page.locator("#hex-map-section")).to_have_count(0)

    # By month and area: one row per cell, and the map draws the areas as hexagons.
    by_area = ["month", "area"]
    await apply_filters(page, group_by=by_area)
    expected = await api_get(
        console, token, "/v1/stats/identification", **api_parameters(by_area, "all", "report")
    )
    assert sorted(await table_keys(page, 2)) == sorted(api_keys(expected, by_area))
    assert {key[1] for key in api_keys(expected, by_area)} == {AREA_X, AREA_Z}
    hexagons = page.locator("#hex-map-section svg polygon")
    await expect(hexagons).to_have_count(2)
    await expect(page.locator("#rate-chart-section svg polyline.ps-line")).to_have_count(1)

    # Verified only: nothing was reviewed, so no cell at all.
    await apply_filters(page, group_by=by_area, status="verified")
    await expect(page.locator("#no-cells")).to_be_visible()
    await expect(page.locator("#statistics-table")).to_have_count(0)
    nothing = await api_get(
        console, token, "/v1/stats/identification", **api_parameters(by_area, "verified", "report")
    )
    assert nothing["rows"] == []

    # Counting incidents, all statuses: download the CSV the page offers.
    await apply_filters(page, group_by=by_area, unit="incident")
    expected = await api_get(
        console, token, "/v1/stats/identification", **api_parameters(by_area, "all", "incident")
    )
    assert sorted(await table_keys(page, 2)) == sorted(api_keys(expected, by_area))
    async with page.expect_download() as waiting:
        await page.locator("#download-csv").click()
    download = await waiting.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    downloaded = csv_rows(saved.read_text(encoding="utf-8"))
    export = await console.client.get(
        "/v1/exports/identification.csv",
        params=api_parameters(by_area, "all", "incident"),
        headers=bearer(token),
    )
    assert export.status_code == 200, export.text
    assert downloaded == csv_rows(export.text)
    assert len(downloaded) == len(expected["rows"]) + 1  # the header, then one row per cell
