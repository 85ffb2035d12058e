"""Inputs at the edges (issue 11, points 7 and 11): extreme dates and crafted cursors are 422
naming the parameter, never 500; a malformed path id is 422 naming it; null island is refused;
messages say in words what is wrong; the CSV export names its charset once.

Cursors are also probed by a property: whatever a client puts in ``cursor`` (random bytes in
base64, JSON of any shape, extreme times, odd UUIDs), every paginated route answers 200 or 422,
never a 5xx. The property runs as in test_photos_property.py: a sync ``@given`` function in a
worker thread, each example's request submitted to the session loop that serves the app.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute

from schemas.auth import Role
from storage.reports.bulk_import import validate_chunk
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report, officer_note

T = TypeVar("T")
PAGINATED: Final = ("/v1/reports", "/v1/accounts", "/v1/moderation/queue")
STATISTICS: Final = (
    "/v1/stats/identification",
    "/v1/exports/identification.csv",
    "/v1/exports/identification.json",
)
EXTREME_DATES: Final = ("9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01")
EXAMPLE_TIMEOUT_S: Final = 30
MAX_EXAMPLES: Final = 150


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).rstrip(b"=").decode()


@contextmanager
def service_log() -> Iterator[list[str]]:
    """Every record the service logs, formatted with its extra fields (the JSON log's content)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(("httpx", "httpcore")):
                lines.append(f"{record.getMessage()} {vars(record)}")

    handler, root = Collect(logging.DEBUG), logging.getLogger()
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)


# --- point 7: dates and cursors --------------------------------------------------------------


@pytest.mark.parametrize("path", STATISTICS)
@pytest.mark.parametrize("parameter", ["from", "to"])
@pytest.mark.parametrize("value", EXTREME_DATES)
async def test_statistics_refuse_dates_outside_the_documented_bounds(
    api: Api, path: str, parameter: str, value: str
) -> None:
    token = await api.token(Role.researcher)
    with service_log() as log:
        response = await api.client.get(path, params={parameter: value}, headers=bearer(token))
    problem = assert_problem(response, 422, field=parameter)
    assert "2000-01-01" in problem["detail"]
    assert "2100-12-31" in problem["detail"]
    assert not any(value in line for line in log), log


@pytest.mark.parametrize("group_by", ["month", "week", ""])
async def test_the_bounds_themselves_are_answered(api: Api, group_by: str) -> None:
    """Snapping the last day outward to a whole week or month stays representable."""
    token = await api.token(Role.researcher)
    params = {"from": "2000-01-01", "to": "2100-12-31", "group_by": group_by}
    response = await api.client.get(STATISTICS[0], params=params, headers=bearer(token))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", PAGINATED)
@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "1999-12-31T23:59:59+00:00",
        "2020-01-01T00:00:00",  # no offset: a cursor we hand out always has one
    ],
)
async def test_crafted_cursor_times_are_422_naming_the_cursor(api: Api, path: str, at: str) -> None:
    token = await api.token(Role.admin)
    cursor = cursor_of([at, str(uuid.uuid4())])
    with service_log() as log:
        response = await api.client.get(path, params={"cursor": cursor}, headers=bearer(token))
    assert_problem(response, 422, field="cursor")
    assert not any(cursor in line or at[:10] in line for line in log), log


async def test_a_cursor_handed_out_still_pages(api: Api) -> None:
    token = await api.device_token()
    for _ in range(3):
        assert (await api.submit(token, observer_report())).status_code == 201
    first = await api.client.get("/v1/reports", params={"limit": 2}, headers=bearer(token))
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = await api.client.get(
        "/v1/reports", params={"limit": 2, "cursor": cursor}, headers=bearer(token)
    )
    assert second.status_code == 200, second.text
    assert len(second.json()["items"]) == 1


def on_loop(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(EXAMPLE_TIMEOUT_S)


_times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda at: at.isoformat()),
    st.datetimes().map(lambda at: at.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59"]),
    st.text(max_size=40),
)
_ids = st.one_of(st.uuids().map(str), st.text(max_size=40), st.just("0" * 32))
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
CURSORS: Final = st.one_of(
    st.tuples(_times, _ids).map(lambda pair: cursor_of(list(pair))),
    _json_values.map(cursor_of),
    st.binary(max_size=80).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.text(max_size=60),
)


async def test_no_cursor_gives_a_server_error_on_any_paginated_route(api: Api) -> None:
    token = await api.token(Role.admin)
    loop = asyncio.get_running_loop()
    seen: dict[int, int] = {}

    async def page(path: str, cursor: str) -> httpx.Response:
        return await api.client.get(path, params={"cursor": cursor}, headers=bearer(token))

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(path=st.sampled_from(PAGINATED), cursor=CURSORS)
    def any_cursor_is_answered(path: str, cursor: str) -> None:
        response = on_loop(loop, page(path, cursor))
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (200, 422), (path, cursor, response.text)
        if response.status_code == 422:
            assert response.json()["field"] == "cursor", response.text

    await asyncio.to_thread(any_cursor_is_answered)
    assert seen.get(422), seen


# --- point 11 ----------------------------------------------------------------------------------


async def test_csv_export_names_its_charset_once(api: Api) -> None:
    token = await api.token(Role.researcher)
    response = await api.client.get(STATISTICS[1], headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("narrative", "before\x00after", "without control characters"),
        ("location.description", "line one\nline two", "one line of text"),
    ],
)
async def test_a_control_character_is_explained_in_words(
    api: Api, field: str, value: str, words: str
) -> None:
    body = observer_report()
    if field == "narrative":
        body["narrative"] = value
    else:
        body["location"]["description"] = value
    response = await api.submit(await api.device_token(), body)
    problem = assert_problem(response, 422, field=f"$.{field}")
    assert words in problem["detail"], problem
    assert "regex" not in problem["detail"], problem
    assert "\\x" not in problem["detail"], problem


def uuid_routes(app: Litestar) -> list[tuple[str, str, list[str]]]:
    """(method, path format, uuid parameter names) of every route with a uuid path parameter."""
    found: list[tuple[str, str, list[str]]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        names = [p.name for p in route.path_parameters.values() if p.type is uuid.UUID]
        if not names:
            continue
        methods = {m for handler in route.route_handlers for m in handler.http_methods}
        found.extend((m, route.path_format, names) for m in sorted(methods - {"OPTIONS"}))
    return found


async def test_a_malformed_uuid_in_any_path_is_422_naming_the_parameter(
    api: Api, app: Litestar
) -> None:
    routes = uuid_routes(app)
    assert len(routes) >= 8, routes  # reports, photos, accounts, devices, incidents...
    token = await api.token(Role.admin)
    for method, path, names in routes:
        for malformed in names:
            values = {name: str(uuid.uuid4()) for name in names} | {malformed: "not-a-uuid"}
            for headers in (bearer(token), {}):
                response = await api.client.request(method, path.format(**values), headers=headers)
                if not path.startswith("/v1/"):
                    # A console page: the same 422 naming the parameter, as a page.
                    assert response.status_code == 422, (method, path, response.text[:200])
                    assert response.headers["content-type"].startswith("text/html")
                    assert f"<code>{malformed}</code>" in response.text, (method, path)
                    continue
                if method == "HEAD":  # the answer to a HEAD has headers only
                    assert response.status_code == 422, (method, path)
                    assert response.headers["content-type"].startswith("application/problem")
                    continue
                problem = assert_problem(response, 422, field=malformed)
                assert "UUID" in problem["detail"], (method, path, problem)


async def test_a_malformed_number_in_a_path_is_422_naming_the_parameter(api: Api) -> None:
    token = await api.token(Role.moderator)
    response = await api.client.get("/v1/incidents/not-a-number", headers=bearer(token))
    problem = assert_problem(response, 422, field="incident_id")
    assert "whole number" in problem["detail"]


async def test_a_path_of_no_route_is_still_404(api: Api) -> None:
    response = await api.client.get("/v1/reports/not-a-uuid/nothing-here")
    assert assert_problem(response, 404)["code"] == "not_found"


async def test_null_island_is_refused_naming_the_location(api: Api) -> None:
    token = await api.device_token()
    body = observer_report(location={"lat": 0, "lon": 0, "accuracy_m": 25})
    problem = assert_problem(await api.submit(token, body), 422, field="$.location")
    assert "GPS" in problem["detail"]
    # A real place on the equator or the prime meridian is fine.
    for lat, lon in ((0.0, 9.5), (51.48, 0.0)):
        place = observer_report(location={"lat": lat, "lon": lon, "accuracy_m": 25})
        assert (await api.submit(token, place)).status_code == 201


def test_bulk_import_refuses_null_island_and_explains_control_characters() -> None:
    null_island = observer_report(location={"lat": 0.0, "lon": 0.0})
    control = observer_report(narrative="bell\x07")
    lines = [msgspec.json.encode(body) + b"\n" for body in (null_island, control)]
    validated = validate_chunk(1, lines)
    assert not validated.staged.lines
    reasons = {rejected.line: rejected.reason for rejected in validated.rejected}
    assert "`$.location`" in reasons[1], reasons
    assert "GPS" in reasons[1], reasons
    assert "without control characters" in reasons[2], reasons
    assert "regex" not in reasons[2], reasons


@pytest.mark.parametrize(
    ("role", "body", "kind"),
    [
        (Role.officer, observer_report, "an observer_report"),
        (Role.observer, officer_note, "an officer_note"),
    ],
)
async def test_a_refused_kind_is_named_with_its_article(
    api: Api, conn: asyncpg.Connection, role: Role, body: Any, kind: str
) -> None:
    response = await api.submit(await api.token(role), body())
    problem = assert_problem(response, 403)
    assert problem["detail"] == f"the {role} role may not submit {kind}"
