"""Operations endpoints (contract "Operations") and the public codebook (contract "Reports")."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import asyncpg
import httpx
import msgspec
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from api.tasks.stats_folding import fold_once
from schemas.auth import Role
from schemas.settings import Settings
from storage.db.pool import SingleConnectionDatabase, connect
from storage.incidents.grouping import DEFAULT_GROUPING
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report
from tests.support.live_server import live_server

CONTRACT_PATHS = {
    "/v1/devices": "post",
    "/v1/sessions": "post",
    "/v1/reports": "post",
    "/v1/reports/{report_id}": "get",
    "/v1/receipts/public-key": "get",
    "/v1/codebook": "get",
}


# --- probes --------------------------------------------------------------------------------


async def test_healthz_is_200_without_auth(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_readyz_is_200_when_migrated(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


@pytest.fixture
async def unmigrated_client(
    fresh_database: object, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose database exists but has no migrations applied."""
    make_database = cast(Callable[[], Awaitable[str]], fresh_database)
    conn = await connect(await make_database())
    try:
        app = create_app(settings, database=SingleConnectionDatabase(conn))
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
        ):
            yield client
    finally:
        await conn.close()


async def test_readyz_is_503_when_migrations_are_pending(
    unmigrated_client: httpx.AsyncClient,
) -> None:
    response = await unmigrated_client.get("/readyz")
    problem = assert_problem(response, 503)
    assert problem["code"] == "migrations_pending"
    assert response.headers["Retry-After"] == "5"
    healthz = await unmigrated_client.get("/healthz")
    assert healthz.status_code == 200


async def test_readyz_is_503_when_a_repeatable_file_is_not_applied(api: Api) -> None:
    # As after deploying a changed function file without migrating (rolled back afterwards).
    await api.conn.execute(
        "update schema_repeatables set checksum = 'stale' where name = 'fold_statistics'"
    )
    response = await api.client.get("/readyz")
    problem = assert_problem(response, 503)
    assert problem["code"] == "migrations_pending"
    assert "fold_statistics" in problem["detail"]
    assert response.headers["Retry-After"] == "5"

    await api.conn.execute("delete from schema_repeatables where name = 'h3_parent'")
    problem = assert_problem(await api.client.get("/readyz"), 503)
    assert "h3_parent" in problem["detail"]


# --- metrics -------------------------------------------------------------------------------


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match is None:
            continue
        sample = dict(re.findall(r'(\w+)="([^"]*)"', match[1]))
        if all(sample.get(key) == value for key, value in labels.items()):
            total += float(match[2])
    return total


METRICS_TOKEN = "metrics-" + "3f9a" * 10  # the operator's setting, 48 characters


@pytest.fixture
async def scraper(
    settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> AsyncIterator[Api]:
    """The service with PLAINSIGHT_METRICS_TOKEN set."""
    app = create_app(
        msgspec.structs.replace(settings, metrics_token=METRICS_TOKEN),
        database=SingleConnectionDatabase(conn),
        photo_workers=photo_workers,
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)


async def scrape(api: Api) -> str:
    response = await api.client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_are_not_served_without_a_token_setting(api: Api) -> None:
    for headers in ({}, bearer(METRICS_TOKEN), bearer(await api.device_token())):
        response = await api.client.get("/metrics", headers=headers)
        assert assert_problem(response, 404)["code"] == "not_found"
        assert "# TYPE" not in response.text


async def test_metrics_need_the_configured_token(scraper: Api) -> None:
    device = await scraper.device_token()
    wrong: tuple[dict[str, str], ...] = (
        {},
        bearer(METRICS_TOKEN[:-1]),
        bearer(METRICS_TOKEN + "x"),
        bearer(device),  # an API token is not the scraper's
        {"Authorization": f"Basic {METRICS_TOKEN}"},
    )
    for headers in wrong:
        response = await scraper.client.get("/metrics", headers=headers)
        problem = assert_problem(response, 401)
        assert problem["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "# TYPE" not in response.text
    response = await scraper.client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


async def test_metrics_count_requests(scraper: Api) -> None:
    before = metric_total(await scrape(scraper), "plainsight_requests_total")
    for _ in range(3):
        assert (await scraper.client.get("/healthz")).status_code == 200
    text = await scrape(scraper)
    assert "# TYPE plainsight_requests_total counter" in text
    assert metric_total(text, "plainsight_requests_total") >= before + 3
    assert metric_total(text, "plainsight_requests_total", path="/healthz") >= 3


async def test_metrics_group_paths_and_hold_no_ids_or_tokens(scraper: Api) -> None:
    token = await scraper.device_token()
    created = await scraper.submit(token, observer_report())
    report_id = created.json()["id"]
    await scraper.client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    await scraper.client.get(f"/v1/reports/{uuid.uuid4()}", headers=bearer(token))
    text = await scrape(scraper)
    assert report_id not in text
    assert token not in text
    assert "40.7191" not in text


async def test_refusals_are_counted_under_the_status_sent(scraper: Api) -> None:
    """401 and 403 from the authentication middleware, a 401 from the login handler and a 422
    are each counted as what the client got, and none as a 500."""
    researcher = await scraper.token(Role.researcher)
    observer = await scraper.device_token()
    requests: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/v1/reports", {}, 401),
        ("GET", "/v1/reports", {"headers": bearer("not-a-token")}, 401),
        ("GET", "/v1/reports", {"headers": bearer(researcher)}, 403),
        ("POST", "/v1/sessions", {"json": {"email": "no@example.org", "password": "x"}}, 401),
        ("POST", "/v1/reports", {"headers": bearer(observer), "json": {"kind": "nope"}}, 422),
    ]
    expected: dict[tuple[str, str, str], float] = {}
    for method, path, _, status in requests:
        key = (method, path, str(status))
        expected[key] = expected.get(key, 0) + 1
    paths = {path for _, path, _, _ in requests}
    before = await scrape(scraper)
    for method, path, kwargs, status in requests:
        response = await scraper.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
    after = await scrape(scraper)

    def count(text: str, method: str, path: str, status: str) -> float:
        return metric_total(
            text, "plainsight_requests_total", method=method, path=path, status_code=status
        )

    for (method, path, code), times in expected.items():
        assert count(after, method, path, code) - count(before, method, path, code) == times
    for path in paths:
        for method in ("GET", "POST"):
            assert count(after, method, path, "500") == count(before, method, path, "500")


async def test_metrics_carry_no_timestamps(scraper: Api) -> None:
    """No ``*_created`` series: they would tell when each kind of request first happened."""
    await scraper.client.get("/v1/reports", headers=bearer("not-a-token"))
    text = await scrape(scraper)
    assert "_created" not in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            # name{labels} value, and no third field (an exposition timestamp)
            assert len(re.sub(r"\{.*\}", "", line).split()) == 2, line


# --- OpenAPI -------------------------------------------------------------------------------


@pytest.fixture
async def openapi(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = document["components"]["schemas"][name]
    return schema


async def test_openapi_is_version_3_1(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1")
    assert openapi["info"]["title"]


async def test_openapi_lists_the_contract_paths(openapi: dict[str, Any]) -> None:
    for path, method in CONTRACT_PATHS.items():
        assert method in openapi["paths"].get(path, {}), path


async def test_openapi_documents_report_body_with_kind_discriminator(
    openapi: dict[str, Any],
) -> None:
    operation = openapi["paths"]["/v1/reports"]["post"]
    schema = resolve(openapi, operation["requestBody"]["content"]["application/json"]["schema"])
    assert schema["discriminator"]["propertyName"] == "kind"
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {"observer_report", "officer_note"}
    officer = resolve(openapi, {"$ref": mapping["officer_note"]})
    assert "officer" in officer["required"]
    observer = resolve(openapi, {"$ref": mapping["observer_report"]})
    assert "officer" not in observer["properties"]
    location = resolve(openapi, observer["properties"]["location"])
    assert {"lat", "lon"} <= set(location["required"])


async def test_openapi_documents_problem_responses(openapi: dict[str, Any]) -> None:
    responses = openapi["paths"]["/v1/reports"]["post"]["responses"]
    assert {"201", "409", "422"} <= set(responses)
    assert "application/problem+json" in responses["422"]["content"]


async def test_openapi_declares_bearer_auth(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


# --- codebook ------------------------------------------------------------------------------


async def codebook(api: Api, **params: str) -> dict[str, Any]:
    response = await api.client.get("/v1/codebook", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def field(book: dict[str, Any], path: str) -> dict[str, Any]:
    specs: list[dict[str, Any]] = [spec for spec in book["fields"] if spec["path"] == path]
    assert len(specs) == 1, path
    return specs[0]


def values(book: dict[str, Any], path: str) -> list[str]:
    return [value["value"] for value in field(book, path)["values"]]


async def test_codebook_is_public_english_by_default(api: Api) -> None:
    book = await codebook(api)
    assert book["lang"] == "en"
    assert {"en", "es"} <= set(book["languages"])
    assert book["tag_field"] == "kind"
    assert [kind["value"] for kind in book["kinds"]] == ["observer_report", "officer_note"]


async def test_codebook_lists_the_contract_vocabularies(api: Api) -> None:
    book = await codebook(api)
    assert values(book, "agents.masked") == ["all", "some", "none", "unknown"]
    assert set(values(book, "agents.attire")) == {
        "plainclothes",
        "uniform",
        "mixed",
        "tactical",
        "unknown",
    }
    for path in ("verbal", "badge_shown", "insignia_visible"):
        assert set(values(book, f"identification.{path}")) == {"yes", "no", "unclear"}
    contract_agencies = {"ICE", "CBP", "HSI", "FBI", "DEA", "USMS", "ATF", "local_police"}
    assert contract_agencies | {"other", "unknown"} <= set(values(book, "agents.agencies_claimed"))
    assert field(book, "officer.command")["kinds"] == ["officer_note"]
    assert field(book, "officer.command")["required"] is True


async def test_codebook_describes_the_stored_view_without_coordinates(api: Api) -> None:
    book = await codebook(api)
    view_paths = {spec["path"] for spec in book["view_fields"]}
    assert {"id", "status", "received_at", "location.h3_cell"} <= view_paths
    assert not view_paths & {"location.lat", "location.lon"}


async def test_codebook_in_spanish_has_spanish_labels(api: Api) -> None:
    english = await codebook(api, lang="en")
    spanish = await codebook(api, lang="es")
    assert spanish["lang"] == "es"
    assert [s["path"] for s in spanish["fields"]] == [s["path"] for s in english["fields"]]
    assert values(spanish, "agents.masked") == values(english, "agents.masked")
    assert field(spanish, "agents.masked")["label"] != field(english, "agents.masked")["label"]
    assert spanish["kinds"][0]["label"] != english["kinds"][0]["label"]
    spanish_text = " ".join(
        value["label"] for spec in spanish["fields"] for value in spec["values"]
    )
    assert re.search(r"[áéíóúñ¿]", spanish_text)
    for spec in spanish["fields"]:
        assert spec["label"]


@pytest.mark.parametrize("lang", ["xx", "EN", "fr", ""])
async def test_codebook_unknown_language_is_422_naming_lang(api: Api, lang: str) -> None:
    response = await api.client.get("/v1/codebook", params={"lang": lang})
    assert_problem(response, 422, field="lang")


async def test_every_codebook_value_is_accepted_by_the_api(api: Api) -> None:
    book = await codebook(api)
    token = await api.device_token()
    for masked in values(book, "agents.masked"):
        response = await api.submit(token, observer_report(agents={"masked": masked}))
        assert response.status_code == 201, response.text
    for agency in values(book, "agents.agencies_suspected"):
        body = observer_report(agents={"agencies_suspected": [agency]})
        response = await api.submit(token, body)
        assert response.status_code == 201, response.text


async def test_codebook_ignores_a_stale_token(api: Api) -> None:
    response = await api.client.get("/v1/codebook", headers=bearer("psd_stale"))
    assert response.status_code == 200, response.text


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, name
    return float(match[1])


async def test_metrics_show_how_far_the_folder_lags(scraper: Api) -> None:
    token = await scraper.device_token()
    text = await scrape(scraper)
    assert gauge(text, "plainsight_fold_pending_reports") == 0
    assert gauge(text, "plainsight_fold_lag_seconds") == 0
    for _ in range(2):
        response = await scraper.submit(token, observer_report(), fold=False)
        assert response.status_code == 201
    await scraper.conn.execute(
        "update reports set fold_pending_since = fold_pending_since - interval '3 seconds'"
    )
    text = await scrape(scraper)
    assert gauge(text, "plainsight_fold_pending_reports") == 2
    assert gauge(text, "plainsight_fold_lag_seconds") >= 3
    folded_before = gauge(text, "plainsight_folded_reports_total")
    assert await fold_once(SingleConnectionDatabase(scraper.conn), DEFAULT_GROUPING, "UTC")
    text = await scrape(scraper)
    assert gauge(text, "plainsight_fold_pending_reports") == 0
    assert gauge(text, "plainsight_fold_lag_seconds") == 0
    assert gauge(text, "plainsight_folded_reports_total") == folded_before + 2
