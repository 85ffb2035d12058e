"""Every console page, opened with data in it by the role it is for: no serious or critical
axe-core violation, no console error, CSP violation or third-party request, and screenshots at
phone and desktop width (test-output/screenshots/page-NAME[-es]-{phone,desktop}.png).

One service and one set of data for the module; sessions are planted as the console's cookie
(an API session token, which is what signing in makes) so no case signs in through the form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import h3
import pytest
from playwright.async_api import Page, expect

from schemas.auth import Role
from tests.browser.conftest import ExpectConsoleError, OpenPage
from tests.support.browser import assert_accessible, screenshot
from tests.support.console_flows import (
    officer_submits,
    plant_session,
    publish_a_release,
    record_incidents,
    upload_photo,
)
from tests.support.live_console import LiveConsole
from tests.support.photo_api import scene
from tests.support.photo_fixtures import jpeg_bytes

NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "yes", "insignia_visible": "no"}
UNCLEAR = {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"}
AREAS = (
    h3.latlng_to_cell(40.7191, -74.0017, 7),
    h3.latlng_to_cell(40.7306, -73.9866, 7),
    h3.latlng_to_cell(40.6782, -73.9442, 7),
)
FIRST_MONTH = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)
# Explored months: June to August 2026, every area's months above the threshold of 11.
EXPLORED = "from=2026-06-01&to=2026-08-31&group_by=month"


@dataclass(frozen=True)
class Seeded:
    """What the pages show: sessions per role and the ids their paths need."""

    sessions: dict[Role, str]
    report_id: str
    incident_id: int
    release_month: str


@pytest.fixture
def console(module_console: LiveConsole) -> LiveConsole:
    return module_console


@pytest.fixture(scope="module")
async def seeded(module_console: LiveConsole) -> Seeded:
    console = module_console
    # The explorer: three areas over three months, with mixed answers.
    device = await console.device()
    for month in range(3):
        for number, area in enumerate(AREAS):
            start = FIRST_MONTH + timedelta(days=31 * month + 10 * number)
            # Rates from about a quarter to about two thirds, rising month by month.
            answers = (
                [NOT_IDENTIFIED] * (3 + 4 * number + month)
                + [IDENTIFIED] * (9 - 2 * number)
                + [UNCLEAR]
            )
            await record_incidents(console, device, area, start, answers)
    # Reviewed as unverified (counted by the explorer's "all"), so the queue holds only the
    # reports below, as a moderator's day would.
    async with console.owner() as conn:
        await conn.execute(
            "update reports set status = 'unverified', fold_pending_since = now()"
            " where status = 'pending'"
        )
    await console.fold()
    # The public page: a release of this month's verified reports.
    release_month = await publish_a_release(console, 12)
    # The queue: an observer's report with a photo, an officer's note of the same incident,
    # and another observer's report elsewhere with the same picture.
    observer = await console.device()
    report = await console.report(observer, narrative="A grey van, two people in vests.")
    officer = await console.staff(Role.officer)
    await officer_submits(console, await console.api_token(officer))
    other = await console.device()
    elsewhere = await console.report(other, location={"lat": 40.80, "lon": -73.95})
    picture = jpeg_bytes(scene(14), quality=90)
    await upload_photo(console, observer, report["id"], picture)
    await upload_photo(console, other, elsewhere["id"], picture)
    async with console.owner() as conn:
        incident_id = await conn.fetchval(
            "select incident_id from reports where id = $1", uuid.UUID(report["id"])
        )
    sessions = {}
    for role in (Role.moderator, Role.researcher, Role.admin, Role.officer):
        sessions[role] = await console.api_token(await console.staff(role))
    return Seeded(sessions, report["id"], int(incident_id), release_month)


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    role: Role | None = None
    locale: str = "en-US"
    status: int = 200


CASES = [
    Case("sign-in", "/sign-in"),
    Case("moderation-queue", "/moderation", Role.moderator),
    Case("moderation-queue-es", "/moderation", Role.moderator, "es-ES"),
    Case("moderation-report", "/moderation/reports/{report_id}", Role.moderator),
    Case("moderation-incident", "/moderation/incidents/{incident_id}", Role.moderator),
    Case("statistics", f"/statistics?{EXPLORED}", Role.researcher),
    Case("statistics-areas", f"/statistics?{EXPLORED}&group_by=area", Role.researcher),
    Case("statistics-areas-es", f"/statistics?{EXPLORED}&group_by=area", Role.researcher, "es-ES"),
    Case("admin-accounts", "/admin/accounts", Role.admin),
    Case("admin-audit", "/admin/audit", Role.admin),
    Case("public", "/public"),
    Case("public-es", "/public", None, "es-ES"),
    Case("public-release", "/public/releases/{month}"),
    Case("no-pages", "/no-pages", Role.officer),
    Case("error-not-found", "/moderation/reports/{unknown}", Role.moderator, status=404),
    Case("error-forbidden-es", "/admin/accounts", Role.researcher, "es-ES", status=403),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_every_page_is_accessible_with_screenshots(
    case: Case,
    seeded: Seeded,
    console: LiveConsole,
    open_page: OpenPage,
    expect_console_error: ExpectConsoleError,
) -> None:
    page: Page = await open_page(locale=case.locale)
    if case.role is not None:
        await plant_session(page, console.base_url, seeded.sessions[case.role])
    if case.status != 200:
        expect_console_error(page, rf"status of {case.status}")
    path = case.path.format(
        report_id=seeded.report_id,
        incident_id=seeded.incident_id,
        month=seeded.release_month,
        unknown=uuid.uuid4(),
    )
    response = await page.goto(path)
    assert response is not None
    assert response.status == case.status, await response.text()
    await expect(page.locator("html")).to_have_attribute("lang", case.locale[:2])
    await expect(page.locator("h1")).not_to_be_empty()
    # The page's images (photos, thumbnails) loaded before it is judged and pictured.
    for image in await page.locator("img").all():
        await image.scroll_into_view_if_needed()
        await expect(image).to_have_js_property("complete", True)
        assert await image.evaluate("(image) => image.naturalWidth") > 0
    await page.evaluate("() => window.scrollTo(0, 0)")
    await assert_accessible(page)
    await screenshot(page, f"page-{case.name}")
