"""The public page over real HTTP: the published releases in English and Spanish, with the
same numbers as the signed release files, cacheable by anyone (no cookie in or out)."""

from __future__ import annotations

import dataclasses
import html
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import h3
import pytest

from schemas.auth import Role
from schemas.settings import Settings
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases.maker import ReleasePolicy, make_releases
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.console import console_client
from tests.support.helpers import Api, observer_report

pytestmark = pytest.mark.asyncio(loop_scope="session")

_earlier = datetime.now(UTC) - timedelta(days=75)
MONTH = date(_earlier.year, _earlier.month, 1)
MONTH_LABEL = f"{MONTH:%Y-%m}"
FIRST_DAY = datetime(MONTH.year, MONTH.month, 1, 6, tzinfo=UTC)
RECEIVED = FIRST_DAY + timedelta(days=10)
# Eight days after MONTH ended: MONTH is due (its 7-day delay has passed), the next is not.
_next = (MONTH + timedelta(days=32)).replace(day=1)
MADE_AT = datetime(_next.year, _next.month, 9, tzinfo=UTC)
BUSY = h3.latlng_to_cell(40.7191, -74.0017, 7)  # New York
SIGNER = ReceiptSigner.from_seed(TEST_RECEIPT_SEED)
SPANISH = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
ROW = re.compile(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", re.S)
CELL = re.compile(r'<td class="number ([a-z-]+)[^"]*">([^<]*)</td>')


async def publish(api: Api, settings: Settings, incidents: int) -> dict[str, Any]:
    """``incidents`` verified incidents in one area of MONTH, released as ``serve`` would have
    a week after MONTH ended, so MONTH is the latest release (with the largest ε the settings
    allow, so the area is listed); the release as the API serves it."""
    device = await api.device_token()
    ids = []
    for index in range(incidents):
        lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(BUSY, 9))
        when = FIRST_DAY + timedelta(hours=3 * index)  # three hours apart: none group
        answers = {"verbal": "no"} if index % 3 else {"verbal": "yes"}
        body = observer_report(
            location={"lat": lat, "lon": lon},
            occurred_at=when.isoformat(),
            identification={**answers, "asked": "no", "response_when_asked": None},
        )
        response = await api.submit(device, body, fold=False)
        assert response.status_code == 201, response.text
        ids.append(uuid.UUID(response.json()["id"]))
    await api.conn.execute(
        "update reports set status = 'verified', fold_pending_since = now(), received_at = $2"
        " where id = any($1)",
        ids,
        RECEIVED,
    )
    policy = dataclasses.replace(ReleasePolicy.from_settings(settings), epsilon=10.0)
    made = await make_releases(api.conn, policy, SIGNER, DEFAULT_GROUPING, now=MADE_AT)
    assert made is not None
    assert [m.month for m in made] == [MONTH], "only MONTH is due"
    release = await api.client.get(f"/v1/public/releases/{MONTH_LABEL}")
    assert release.status_code == 200, release.text
    document: dict[str, Any] = release.json()
    return document


def table(page: str, table_id: str) -> dict[str, dict[str, str]]:
    """The rows of a table of the page: first cell's text → {column class: text}."""
    start = page.index(f'<table id="{table_id}">')
    body = page[start : page.index("</table>", start)]
    rows = {}
    for head, cells in ROW.findall(body):
        key = html.unescape(re.sub(r"<[^>]+>", "", head)).strip()
        rows[key] = {name: html.unescape(text).strip() for name, text in CELL.findall(cells)}
    return rows


def spanish_percent(rate: float) -> str:
    return f"{rate * 100:.1f}".replace(".", ",") + " %"


def english_percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def assert_row_matches(cells: dict[str, str], row: dict[str, Any], percent: Any) -> None:
    assert int(cells["total"]) == row["total"]
    assert int(cells["not-identified"]) == row["not_identified"]
    assert int(cells["identified"]) == row["identified"]
    assert int(cells["unclear"]) == row["unclear"]
    if row["rate_not_identified"] is None:
        return
    assert cells["rate"] == percent(row["rate_not_identified"])
    dash = "\N{EN DASH}"
    assert cells["interval"] == f"{percent(row['ci_low'])} {dash} {percent(row['ci_high'])}"


# --- content --------------------------------------------------------------------------------


async def test_before_any_release_the_page_says_so(api: Api) -> None:
    for headers, words in (({}, "Nothing has been published yet"), (SPANISH, "Aún no se ha")):
        page = await api.client.get("/public", headers=headers)
        assert page.status_code == 200
        assert 'id="public-empty"' in page.text
        assert words in page.text
        assert "<table" not in page.text


@pytest.mark.parametrize(
    ("how", "request_args"),
    [("accept-language", {"headers": SPANISH}), ("query", {"params": {"lang": "es"}})],
)
async def test_the_page_in_spanish_shows_the_api_release_numbers(
    api: Api, settings: Settings, how: str, request_args: dict[str, Any]
) -> None:
    release = await publish(api, settings, 30)
    page = await api.client.get("/public", **request_args)
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert f"Publicación más reciente: {MONTH_LABEL}" in page.text
    assert "Por agencia" in page.text
    assert "Latest release" not in page.text

    tables = release["tables"]
    national = table(page.text, "table-national")
    assert list(national) == ["Todo el país"]
    assert_row_matches(national["Todo el país"], tables["national"][0], spanish_percent)

    agencies = table(page.text, "table-agency")
    assert len(agencies) == len(tables["agency"])
    ice = next(row for row in tables["agency"] if row["agency"] == "ICE")
    ice_cells = next(cells for name, cells in agencies.items() if "ICE" in name)
    assert_row_matches(ice_cells, ice, spanish_percent)

    listed_areas = {row["area"] for row in tables["area"]}
    busy = h3.cell_to_parent(BUSY, release["meta"]["area_resolution"])
    assert busy in listed_areas, "30 incidents at ε = 10 reach the area threshold"
    areas = table(page.text, "table-area")
    assert set(areas) == listed_areas
    # The same areas drawn as hexagons, titled in Spanish; nothing else is drawn.
    figure = page.text[page.text.index('id="area-map-figure"') : page.text.index("</figure>")]
    assert "ps-hex-map" in figure
    assert f"Mapa de las áreas listadas en {MONTH_LABEL}" in figure
    assert figure.count("<polygon") == len(listed_areas)
    assert all(area in figure for area in listed_areas)
    for row in tables["area"]:
        assert_row_matches(areas[row["area"]], row, spanish_percent)


async def test_the_page_is_english_by_default_with_the_methods_in_words(
    api: Api, settings: Settings
) -> None:
    release = await publish(api, settings, 3)
    meta = release["meta"]
    page = await api.client.get("/public")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert f"Latest release: {MONTH_LABEL}" in page.text
    national = table(page.text, "table-national")
    assert_row_matches(national["Whole country"], release["tables"]["national"][0], english_percent)
    threshold = next(m["threshold"] for m in meta["privacy"]["measurements"] if "threshold" in m)
    text = html.unescape(page.text)
    assert "This version spends ε = 10 and δ = 0.000001." in text
    assert f"a noisy total of at least {threshold} incidents" in text
    assert f"{meta['publication_delay_days']} days have passed" in text
    assert "Only verified reports count: a moderator has reviewed each" in text
    assert "noisy on purpose" in text
    assert len(table(page.text, "table-privacy")) == len(meta["privacy"]["measurements"])

    spanish = html.unescape((await api.client.get("/public", headers=SPANISH)).text)
    assert "Esta versión gasta ε = 10 y δ = 0,000001." in spanish
    assert f"han pasado {meta['publication_delay_days']} días" in spanish


async def test_every_release_is_listed_with_its_page_and_signed_file(
    api: Api, settings: Settings
) -> None:
    await publish(api, settings, 3)
    files = (await api.client.get("/v1/public/releases")).json()["items"]
    page = await api.client.get("/public")
    listing = page.text[page.text.index('id="releases-list"') :]
    for item in files:
        assert f'href="{item["url"]}"' in listing
        assert f'href="/public/releases/{item["month"]}/v{item["version"]}"' in listing
    signed = await api.client.get(f"/v1/public/releases/{MONTH_LABEL}/v1")
    assert signed.status_code == 200


async def test_one_release_in_full_latest_and_by_version(api: Api, settings: Settings) -> None:
    release = await publish(api, settings, 3)
    latest = await api.client.get(f"/public/releases/{MONTH_LABEL}", headers=SPANISH)
    assert latest.status_code == 200
    assert f"Publicación de {MONTH_LABEL}" in latest.text
    assert f'href="/v1/public/releases/{MONTH_LABEL}/v1"' in latest.text
    assert_row_matches(
        table(latest.text, "table-national")["Todo el país"],
        release["tables"]["national"][0],
        spanish_percent,
    )
    assert latest.headers["cache-control"] == "public, max-age=300"
    version = await api.client.get(f"/public/releases/{MONTH_LABEL}/v1")
    assert version.status_code == 200
    assert "Version 1, published" in version.text
    assert version.headers["cache-control"] == "public, max-age=86400"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/public/releases/2001-01", 404),
        ("/public/releases/{month}/v9", 404),
        ("/public/releases/2024-13", 422),
        ("/public/releases/latest", 422),
        ("/public/releases/{month}/v0", 422),
        ("/public/releases/{month}/one", 422),
    ],
)
async def test_a_missing_or_malformed_release_is_an_error_page(
    api: Api, settings: Settings, path: str, status: int
) -> None:
    await publish(api, settings, 3)
    answer = await api.client.get(path.format(month=MONTH_LABEL), headers=SPANISH)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert "Algo salió mal" in answer.text
    assert "set-cookie" not in answer.headers


# --- caching --------------------------------------------------------------------------------


async def test_the_page_is_cacheable_by_anyone_and_sets_no_cookie(
    api: Api, settings: Settings
) -> None:
    await publish(api, settings, 3)
    english = await api.client.get("/public")
    spanish = await api.client.get("/public", headers=SPANISH)
    for page in (english, spanish):
        assert page.headers["vary"] == "Accept-Language"
        assert page.headers["cache-control"] == "public, max-age=300"
        assert "set-cookie" not in page.headers
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["etag"]
    assert english.headers["etag"] != spanish.headers["etag"]

    again = await api.client.get("/public", headers={"If-None-Match": english.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == english.headers["etag"]
    stale = await api.client.get("/public", headers={"If-None-Match": 'W/"something-else"'})
    assert stale.status_code == 200


async def test_a_signed_in_reader_gets_the_same_shared_page(api: Api, settings: Settings) -> None:
    await publish(api, settings, 3)
    anonymous = await api.client.get("/public")
    async with console_client(api, Role.admin) as client:
        client.cookies.set("plainsight_lang", "es")  # public pages ignore the language cookie
        signed_in = await client.get("/public")
    assert signed_in.status_code == 200
    assert "set-cookie" not in signed_in.headers
    assert '<html lang="en">' in signed_in.text
    assert "/sign-out" not in signed_in.text  # nothing personal in a page a cache shares
    assert signed_in.headers["etag"] == anonymous.headers["etag"]
