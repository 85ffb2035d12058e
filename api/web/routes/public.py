"""The public page: the published releases in plain words, for anyone, without signing in.

Read from the same stored, signed documents GET /v1/public/releases serves, so the page and
the file never disagree. Cacheable by anyone: no cookie is read or set (the language comes from
``?lang=`` or Accept-Language only, hence ``Vary``), and the ETag is the digest of the page
itself, so a new version of the words or the templates is a new ETag too.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath
from markupsafe import Markup

from api.middleware.auth import PUBLIC_OPT
from api.routes.conditional import not_modified
from api.routes.releases import CHANGING, parse_month, parse_version, release_url
from api.web.graphics.hex_map import CellRate, MapText, render_hex_map
from api.web.graphics.wording import RateWording
from api.web.i18n import Translator, request_language
from api.web.templating import render
from schemas.releases import Measurement, Release
from storage.db.pool import Database
from storage.statistics.releases import store

PUBLIC_PAGE: Final = {PUBLIC_OPT: True, "exclude_from_csrf": True}
# One version of a month never changes, but its page's words may with a new service version.
ONE_VERSION: Final = "public, max-age=86400"
VARY: Final = "Accept-Language"


@dataclass(frozen=True, slots=True)
class ListedVersion:
    month: str
    version: int
    published_at: Any
    file_url: str
    page_url: str
    latest: bool


def page_url(month: date, version: int | None = None) -> str:
    base = f"/public/releases/{month:%Y-%m}"
    return base if version is None else f"{base}/v{version}"


def measurement_key(measurement: Measurement) -> str:
    """Which of the release's measurements this is, for its description in words (the
    document describes each in English only)."""
    if measurement.table == "area":
        return "area_selection" if measurement.threshold is not None else "area_counts"
    return measurement.table


def _listed(rows: list[store.ListedRelease]) -> list[ListedVersion]:
    seen: set[date] = set()
    listed = []
    for row in rows:  # newest month first, latest version first
        listed.append(
            ListedVersion(
                month=f"{row.month:%Y-%m}",
                version=row.version,
                published_at=row.published_at,
                file_url=release_url(row.month, row.version),
                page_url=page_url(row.month, row.version),
                latest=row.month not in seen,
            )
        )
        seen.add(row.month)
    return listed


class Numbers:
    """Figures written the reader's way: ``0.4321`` is 43.2% in English, 43,2 % in Spanish."""

    def __init__(self, lang: str) -> None:
        self.comma = lang == "es"

    def _local(self, text: str) -> str:
        return text.replace(".", ",") if self.comma else text

    def number(self, value: float) -> str:
        """Without exponent or trailing zeros: 1e-06 is 0.000001."""
        text = f"{value:.12f}".rstrip("0").rstrip(".")
        return self._local(text)

    def percent(self, value: float) -> str:
        return self._local(f"{value * 100:.1f}") + (" %" if self.comma else "%")


def area_map(release: Release, t: Translator, threshold: int | None, comma: bool) -> Markup:
    """The listed areas as hexagons (the svg engineer's map): only the areas the release
    lists are drawn, as in the table beside it."""
    cells = [
        CellRate(
            cell=str(row.area),
            rate=row.rate_not_identified,
            ci_low=row.ci_low,
            ci_high=row.ci_high,
            total=row.total,
        )
        for row in release.tables.area
    ]
    wording = RateWording(
        rate=t("public.column_rate"),
        interval=t("public.column_interval"),
        total=t("public.column_total"),
        no_rate=t("public.no_rate"),
        decimal_mark="," if comma else ".",
        group_separator="." if comma else ",",
    )
    words = MapText(
        title=t("public.map_title", month=release.meta.month),
        description=t("public.map_description"),
        legend_title=t("public.column_rate"),
        absent_note=t("public.map_absent", threshold=threshold if threshold is not None else 0),
        empty=t("public.no_areas"),
        wording=wording,
    )
    return render_hex_map(cells, words, id_prefix="area-map")


def _page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    cache_control: str,
    status_code: int = 200,
) -> Response[bytes]:
    """The page rendered here (not by the response) so that its ETag is its digest; a
    matching If-None-Match gets a 304 without the body."""
    lang = request_language(request, use_cookie=False)
    numbers = Numbers(lang)
    context = {
        **context,
        "number": numbers.number,
        "percent": numbers.percent,
        "area_map": functools.partial(area_map, t=Translator(lang), comma=numbers.comma),
    }
    page = render(request, template, context, public=True, status_code=status_code)
    engine = request.app.template_engine
    if engine is None:  # create_app always configures one
        raise RuntimeError("the app has no template engine")
    html = engine.get_template(page.template_name).render(**page.create_template_context(request))
    body = html.encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": VARY}
    if status_code == 200 and not_modified(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(
        body, status_code=status_code, media_type="text/html; charset=utf-8", headers=headers
    )


def _release_context(release: Release, month: date) -> dict[str, Any]:
    return {
        "release": release,
        "measurements": [(measurement_key(m), m) for m in release.meta.privacy.measurements],
        "threshold": next(
            (m.threshold for m in release.meta.privacy.measurements if m.threshold is not None),
            None,
        ),
        "file_url": release_url(month, release.meta.version),
    }


async def _release(conn: Any, month: date, version: int | None) -> Release:
    stored = await store.document(conn, month, version)  # NotFound: a 404 page
    return msgspec.json.decode(stored.document, type=Release)


@get("/public", opt=PUBLIC_PAGE, include_in_schema=False)
async def public_page(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    db: Database = state.db
    async with db.acquire() as conn:
        listed = _listed(await store.listed(conn))
        latest = None
        if listed:
            month = parse_month(listed[0].month)
            latest = _release_context(await _release(conn, month, None), month)
    return _page(request, "public/index.html", {"releases": listed, "latest": latest}, CHANGING)


@get("/public/releases/{month:str}", opt=PUBLIC_PAGE, include_in_schema=False)
async def release_page(
    request: Request[Any, Any, Any], state: State, month: FromPath[str]
) -> Response[bytes]:
    return await _release_page(request, state, parse_month(month), None)


@get("/public/releases/{month:str}/{version:str}", opt=PUBLIC_PAGE, include_in_schema=False)
async def release_version_page(
    request: Request[Any, Any, Any], state: State, month: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    return await _release_page(request, state, parse_month(month), parse_version(version))


async def _release_page(
    request: Request[Any, Any, Any], state: State, month: date, version: int | None
) -> Response[bytes]:
    db: Database = state.db
    async with db.acquire() as conn:
        release = await _release(conn, month, version)
        versions = [v for v in _listed(await store.listed(conn)) if v.month == f"{month:%Y-%m}"]
    context = {**_release_context(release, month), "versions": versions}
    return _page(
        request,
        "public/release.html",
        context,
        CHANGING if version is None else ONE_VERSION,
    )


ROUTES = [public_page, release_page, release_version_page]
