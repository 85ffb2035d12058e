"""The served OpenAPI document: a snapshot (so any change to the contract is a visible diff in
review) plus structural facts checked independently of the snapshot."""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import Api

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")
UPDATE_HINT = "UPDATE_SNAPSHOTS=1 pytest tests/integration/api/test_openapi.py"
VERSION_PLACEHOLDER = "<package version>"

# The paths of the contract's Roles, Reports and Operations sections (parameter names aside).
CONTRACT_OPERATIONS = [
    ("post", "/v1/devices"),
    ("post", "/v1/sessions"),
    ("post", "/v1/accounts"),
    ("post", "/v1/reports"),
    ("get", "/v1/reports/{}"),
    ("get", "/v1/reports"),
    ("delete", "/v1/reports/{}"),
    ("get", "/v1/receipts/public-key"),
    ("get", "/v1/receipts/keys"),
    ("get", "/v1/codebook"),
    ("get", "/healthz"),
    ("get", "/readyz"),
]
# Operations endpoints that are served but are not API operations of the document itself.
# (/metrics too, but only to the operator's token: test_operations.py.)
SERVED_OUTSIDE_THE_DOCUMENT = ["/schema/openapi.json", "/schema/openapi-3.0.json"]


async def fetch_document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/")
    document: dict[str, Any] = response.json()
    return document


def canonical(document: dict[str, Any]) -> str:
    normalised = json.loads(json.dumps(document))
    # The package version differs between a source tree (0.0.0) and an install.
    normalised["info"]["version"] = VERSION_PLACEHOLDER
    return json.dumps(normalised, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"non-local $ref {ref!r}"
    node: Any = document
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"$ref {ref!r} walks into a non-object"
        assert key in node, f"$ref {ref!r} does not resolve (no {key!r})"
        node = node[key]
    return node


def all_refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(all_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(all_refs(item))
    return found


def deref(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = resolve(document, schema["$ref"])
    return schema


async def test_document_matches_snapshot(api: Api) -> None:
    actual = canonical(await fetch_document(api))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
        return
    if not SNAPSHOT.exists():
        pytest.fail(f"{SNAPSHOT.name} is missing; create it with: {UPDATE_HINT}")
    expected = SNAPSHOT.read_text(encoding="utf-8")
    if actual != expected:
        diff = list(
            difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                fromfile=f"{SNAPSHOT.name} (snapshot)",
                tofile="served /schema/openapi.json",
                lineterm="",
                n=2,
            )
        )
        shown = "\n".join(diff[:60]) + (
            f"\n... ({len(diff) - 60} more lines)" if len(diff) > 60 else ""
        )
        pytest.fail(
            "the OpenAPI document changed. If the change is intended, review it and update the "
            f"snapshot with:\n    {UPDATE_HINT}\n{shown}",
            pytrace=False,
        )


async def test_document_is_openapi_3_1(api: Api) -> None:
    document = await fetch_document(api)
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] == "Plainsight API"
    assert document["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
    }


async def test_contract_paths_are_documented(api: Api) -> None:
    document = await fetch_document(api)
    documented = {
        (method, re.sub(r"\{[^}]*\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    missing = [op for op in CONTRACT_OPERATIONS if op not in documented]
    assert missing == [], f"contract operations missing from the document: {missing}"


@pytest.mark.parametrize("path", SERVED_OUTSIDE_THE_DOCUMENT)
async def test_operations_endpoints_are_served_without_auth(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 200, response.text


async def test_report_submission_is_a_tagged_union_on_kind(api: Api) -> None:
    document = await fetch_document(api)
    body = document["paths"]["/v1/reports"]["post"]["requestBody"]
    assert body["required"] is True
    schema = deref(document, body["content"]["application/json"]["schema"])
    variants = schema.get("oneOf") or schema.get("anyOf")
    assert variants, f"POST /v1/reports body is not a union: {schema}"
    assert schema["discriminator"]["propertyName"] == "kind"
    mapping: dict[str, str] = schema["discriminator"]["mapping"]
    assert set(mapping) == {"observer_report", "officer_note"}
    assert sorted(mapping.values()) == sorted(v["$ref"] for v in variants)
    for tag, ref in mapping.items():
        variant = deref(document, {"$ref": ref})
        assert "kind" in variant["required"]
        kind = variant["properties"]["kind"]
        assert kind.get("const", (kind.get("enum") or [None])[0]) == tag
    officer = deref(document, {"$ref": mapping["officer_note"]})
    assert "officer" in officer["properties"]


async def test_photo_upload_documents_one_body_and_names_every_accepted_type(api: Api) -> None:
    """One request body (several make openapi-python-client write a module that does not
    import), whose `file` part and description name every media type the upload accepts."""
    document = await fetch_document(api)
    operation = document["paths"]["/v1/reports/{report_id}/photos"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["multipart/form-data"]
    multipart = body["content"]["multipart/form-data"]
    assert multipart["schema"]["required"] == ["file"]
    accepted = [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "image/heif",
        "video/mp4",
        "video/quicktime",
        "video/webm",
    ]
    part_types = multipart["encoding"]["file"]["contentType"].split(", ")
    assert sorted(part_types) == sorted(accepted)
    for media_type in accepted:
        assert media_type in operation["description"], media_type


async def test_every_operation_documents_the_server_errors(api: Api) -> None:
    """A generated client parses a 500 or a 503 into Problem instead of failing on a status it
    was not told about; a 503 always says when to retry. Only what answers without PostgreSQL
    (liveness, the codebook, tus discovery, a route that is gone) has no 503."""
    document = await fetch_document(api)
    without_503 = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "application/problem+json" in responses["500"]["content"], (method, path)
            if "503" not in responses:
                without_503.append(f"{method.upper()} {path}")
                continue
            retry = responses["503"]["headers"]["Retry-After"]
            assert retry["required"] is True, (method, path)
            examples = responses["503"]["content"]["application/problem+json"]["examples"]
            assert "database_unavailable" in examples, (method, path)
    assert sorted(without_503) == [
        "GET /healthz",
        "GET /v1/codebook",
        "GET /v1/public/stats/identification",
        "OPTIONS /v1/uploads",
    ]


async def test_retry_after_is_required_on_a_429_only_where_every_429_sends_it(api: Api) -> None:
    """rate_limited always says when to retry; too_many_uploads (tus creation) cannot: waiting
    does not end it, finishing or deleting an upload does."""
    document = await fetch_document(api)
    optional = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            answer = operation["responses"].get("429")
            if answer is None:
                continue
            codes = set(answer["content"]["application/problem+json"]["examples"])
            required = answer["headers"]["Retry-After"]["required"]
            assert required is (codes == {"rate_limited"}), (method, path, codes)
            if not required:
                optional.append(f"{method.upper()} {path}")
    assert sorted(optional) == ["POST /v1/reports/{report_id}/uploads", "POST /v1/uploads"]


async def test_every_ref_resolves(api: Api) -> None:
    document = await fetch_document(api)
    refs = all_refs(document)
    assert refs, "the document has no $ref at all"
    for ref in sorted(set(refs)):
        resolve(document, ref)
    # Discriminator mappings hold references too, outside "$ref" keys.
    for schema in document["components"]["schemas"].values():
        for target in schema.get("discriminator", {}).get("mapping", {}).values():
            resolve(document, target)
