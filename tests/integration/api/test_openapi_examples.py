"""Every request body and response of the served OpenAPI document has examples, each valid
against its own schema (JSON Schema 2020-12, $refs resolved in the document), and the
request examples do what the document says when sent to the live service."""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

import jsonschema
import msgspec
import pytest

from api.app import create_app
from api.openapi_examples import PROBLEMS
from api.problems import PROBLEM_MEDIA_TYPE
from schemas.auth import Role
from schemas.report import ObserverReportIn, OfficerNoteIn
from storage.errors import DomainError
from storage.reports.receipts import verifies
from tests.integration.api.test_openapi import fetch_document
from tests.support.helpers import Api, bearer

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Media types whose examples describe bytes rather than give a value.
BINARY = re.compile(
    r"^(image|video)/|^application/(offset\+octet-stream|vnd\.apache\.parquet|x-stata-dta)$|^multipart/"
)


def contents(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, media type object) for every request body and response content."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            body = operation.get("requestBody")
            if body is not None:
                for media, content in body["content"].items():
                    found.append((f"{method.upper()} {path} request {media}", content))
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    found.append((f"{method.upper()} {path} {status} {media}", content))
    return found


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # The components ride along in the root, so "#/components/schemas/X" resolves in place.
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def errors_of(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, leaf.absolute_path)) or '$'}: {leaf.message}"
        for error in validator(document, schema).iter_errors(value)
        for leaf in leaves(error)
    ]


def leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """A oneOf/anyOf error names only itself: what each branch found wrong says more."""
    if not error.context:
        return [error]
    return [leaf for branch in error.context for leaf in leaves(branch)]


def example_value(document: dict[str, Any], path: str, method: str, status: str, name: str) -> Any:
    operation = document["paths"][path][method]
    part = operation["requestBody"] if status == "request" else operation["responses"][status]
    media = next(iter(part["content"].values()))
    return copy.deepcopy(media["examples"][name]["value"])


async def test_every_body_and_response_has_valid_examples(api: Api) -> None:
    document = await fetch_document(api)
    found = contents(document)
    assert len(found) > 250, "the document lost most of its bodies and responses"
    missing, invalid, checked = [], [], 0
    for where, content in found:
        examples = content.get("examples")
        if not examples:
            missing.append(where)
            continue
        media = where.rsplit(" ", 1)[-1]
        for name, example in examples.items():
            assert example.get("summary"), f"{where} example {name!r} has no summary"
            if BINARY.search(media):
                assert "value" not in example, where
                assert example.get("description"), where
                continue
            assert "value" in example, f"{where} example {name!r} has no value"
            for error in errors_of(document, content.get("schema", {}), example["value"]):
                invalid.append(f"{where} example {name!r}: {error}")
            checked += 1
    assert missing == [], f"{len(missing)} without examples:\n" + "\n".join(missing)
    assert invalid == [], f"{len(invalid)} invalid examples:\n" + "\n".join(invalid)
    assert checked > 300


async def test_every_id_in_the_examples_is_a_uuid7(api: Api) -> None:
    document = await fetch_document(api)
    text = json.dumps([content["examples"] for _, content in contents(document)])
    ids = set(UUID_TEXT.findall(text))
    assert len(ids) >= 5
    assert {uuid.UUID(text).version for text in ids} == {7}, sorted(ids)


async def test_the_validator_refuses_a_wrong_example(api: Api) -> None:
    """The check above can fail: a mistyped, an unknown and a missing field are each caught."""
    document = await fetch_document(api)
    schema = document["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    report = example_value(document, "/v1/reports", "post", "request", "observer_report")
    assert errors_of(document, schema, report) == []
    wrong_type = {**report, "agents": {**report["agents"], "count": "four"}}
    assert any("agents/count" in e for e in errors_of(document, schema, wrong_type))
    unknown = {**report, "full_name": "Jane Doe"}
    assert errors_of(document, schema, unknown) != []
    missing = {k: v for k, v in report.items() if k != "identification"}
    assert errors_of(document, schema, missing) != []
    not_a_kind = {**report, "kind": "witness_statement"}
    assert errors_of(document, schema, not_a_kind) != []


async def test_report_examples_cover_both_kinds_and_decode_as_the_service_decodes(
    api: Api,
) -> None:
    document = await fetch_document(api)
    examples = document["paths"]["/v1/reports"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert set(examples) == {"observer_report", "officer_note"}
    observer = msgspec.convert(examples["observer_report"]["value"], ObserverReportIn)
    officer = msgspec.convert(examples["officer_note"]["value"], OfficerNoteIn)
    assert officer.officer.command
    assert observer.client_id != officer.client_id


async def test_every_problem_code_has_an_example(api: Api) -> None:
    document = await fetch_document(api)
    shown: set[str] = set()
    for where, content in contents(document):
        if not where.endswith(PROBLEM_MEDIA_TYPE):
            continue
        status = int(where.split(" ")[2])
        for example in content["examples"].values():
            assert example["value"]["status"] == status, where
            assert example["value"]["type"] == f"/problems/{example['value']['code']}"
            shown.add(example["value"]["code"])
    assert {code for _, code, _, _ in PROBLEMS} <= shown


def error_classes(base: type[DomainError]) -> list[type[DomainError]]:
    found = []
    for subclass in base.__subclasses__():
        found += [subclass, *error_classes(subclass)]
    return found


def test_every_error_class_the_service_raises_has_an_example() -> None:
    """A new error class with a new ``code`` needs an example in api/openapi_examples.py, or
    clients learn of the code only when it reaches them (too_many_uploads, the video checks
    and the second-factor refusals once did). ``photo_rejected`` is only a base class."""
    assert create_app is not None  # imported: every route module, so every error class
    raised = {cls.code: cls.status for cls in error_classes(DomainError)}
    documented = {code: status for status, code, _, _ in PROBLEMS}
    missing = {
        code: status
        for code, status in raised.items()
        if documented.get(code) != status and code != "photo_rejected"
    }
    assert missing == {}, f"codes without an example (or with another status): {missing}"


async def test_the_receipt_example_verifies_under_the_example_key(api: Api) -> None:
    document = await fetch_document(api)
    created = example_value(document, "/v1/reports", "post", "201", "example")
    keys = example_value(document, "/v1/receipts/keys", "get", "200", "example")
    receipt = created["receipt"]
    key = next(k for k in keys["keys"] if k["key_id"] == receipt["key_id"])
    signed = {k: receipt[k] for k in ("report_id", "client_id", "payload_sha256", "received_at")}
    assert verifies(key["public_key"], signed, receipt["signature"])
    assert len(receipt["signature"]) == 86  # 64 bytes, base64url without padding
    tampered = {**signed, "payload_sha256": "0" * 64}
    assert not verifies(key["public_key"], tampered, receipt["signature"])


@pytest.mark.parametrize(
    ("name", "role"), [("observer_report", Role.observer), ("officer_note", Role.officer)]
)
async def test_report_examples_are_accepted_by_the_service(api: Api, name: str, role: Role) -> None:
    """POSTed as documented: 201 the first time, 200 on a replay, and both answers valid
    against the documented schemas with the same fields as the documented example."""
    document = await fetch_document(api)
    body = example_value(document, "/v1/reports", "post", "request", name)
    token = await api.token(role)
    responses = document["paths"]["/v1/reports"]["post"]["responses"]
    for status in (201, 200):
        answer = await api.client.post("/v1/reports", json=body, headers=bearer(token))
        assert answer.status_code == status, answer.text
        content = responses[str(status)]["content"]["application/json"]
        assert errors_of(document, content["schema"], answer.json()) == []
        documented = content["examples"]["example"]["value"]
        assert set(answer.json()) == set(documented)
        assert set(answer.json()["receipt"]) == set(documented["receipt"])
        assert answer.json()["client_id"] == body["client_id"]


async def test_a_broken_report_example_gets_the_documented_422(api: Api) -> None:
    document = await fetch_document(api)
    body = example_value(document, "/v1/reports", "post", "request", "observer_report")
    body["agents"]["count"] = "four"
    token = await api.device_token()
    answer = await api.client.post("/v1/reports", json=body, headers=bearer(token))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = answer.json()
    documented = document["paths"]["/v1/reports"]["post"]["responses"]["422"]["content"][
        PROBLEM_MEDIA_TYPE
    ]
    assert errors_of(document, documented["schema"], problem) == []
    example = documented["examples"]["validation_failed"]["value"]
    assert (problem["code"], problem["field"]) == (example["code"], example["field"])


async def test_a_resent_conflicting_report_gets_the_documented_409(api: Api) -> None:
    document = await fetch_document(api)
    body = example_value(document, "/v1/reports", "post", "request", "observer_report")
    token = await api.device_token()
    first = await api.client.post("/v1/reports", json=body, headers=bearer(token))
    assert first.status_code == 201, first.text
    body["narrative"] = "A different account under the same client_id."
    answer = await api.client.post("/v1/reports", json=body, headers=bearer(token))
    assert answer.status_code == 409, answer.text
    example = document["paths"]["/v1/reports"]["post"]["responses"]["409"]["content"][
        PROBLEM_MEDIA_TYPE
    ]["examples"]["conflict"]["value"]
    assert answer.json() == example


async def test_device_registration_answers_as_its_example(api: Api) -> None:
    document = await fetch_document(api)
    documented = document["paths"]["/v1/devices"]["post"]["responses"]["201"]["content"][
        "application/json"
    ]
    answer = await api.client.post("/v1/devices")
    assert answer.status_code == 201, answer.text
    assert errors_of(document, documented["schema"], answer.json()) == []
    example = documented["examples"]["example"]["value"]
    assert set(answer.json()) == set(example)
    assert answer.json()["token"][:4] == example["token"][:4]
    assert uuid.UUID(answer.json()["device_id"])


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/readyz", "/v1/codebook", "/v1/receipts/keys", "/v1/receipts/public-key"],
)
async def test_public_answers_are_valid_and_shaped_as_their_examples(api: Api, path: str) -> None:
    document = await fetch_document(api)
    documented = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    answer = await api.client.get(path)
    assert answer.status_code == 200, answer.text
    assert errors_of(document, documented["schema"], answer.json()) == []
    example = documented["examples"]["example"]["value"]
    assert set(answer.json()) == set(example)
    if path in {"/healthz", "/readyz"}:
        assert answer.json() == example
    if path == "/v1/codebook":
        # The example is the real codebook, its field lists cut short.
        live = answer.json()
        assert live["kinds"] == example["kinds"]
        assert live["fields"][: len(example["fields"])] == example["fields"]


@pytest.mark.parametrize(
    ("method", "path", "documented_path", "status", "token"),
    [
        ("post", "/v1/reports", "/v1/reports", 401, False),
        ("get", f"/v1/reports/{uuid.UUID(int=0)}", "/v1/reports/{report_id}", 404, True),
        ("get", "/v1/reports/not-a-uuid", "/v1/reports/{report_id}", 422, True),
        ("get", "/v1/moderation/queue", "/v1/moderation/queue", 403, True),
        ("get", "/v1/public/stats/identification", "/v1/public/stats/identification", 410, False),
    ],
)
async def test_refusals_carry_a_documented_problem_code(
    api: Api, method: str, path: str, documented_path: str, status: int, token: bool
) -> None:
    document = await fetch_document(api)
    headers = bearer(await api.device_token()) if token else {}
    answer = await api.client.request(method.upper(), path, headers=headers)
    assert answer.status_code == status, answer.text
    documented = document["paths"][documented_path][method]["responses"][str(status)]["content"][
        PROBLEM_MEDIA_TYPE
    ]
    assert errors_of(document, documented["schema"], answer.json()) == []
    codes = {example["value"]["code"] for example in documented["examples"].values()}
    assert answer.json()["code"] in codes, (answer.json(), codes)
