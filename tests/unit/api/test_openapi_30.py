"""The 3.1 → 3.0.3 rendering of the OpenAPI document, on small cases (the served document
itself is validated and fed to the generators in tests/integration/api)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from api.openapi_30 import NotOpenAPI31, openapi_30, schema_30

ITEM_REF = {"$ref": "#/components/schemas/Item"}


def document(**schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1", "summary": "3.1 only"},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": {
            "/items/{id}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": ITEM_REF}},
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Item": {"type": "object"}, **schemas}},
    }


@pytest.mark.parametrize(
    ("schema_31", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        ({"type": "null"}, {"nullable": True}),
        (
            {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "default": None},
            {"type": "integer", "minimum": 1, "nullable": True, "default": None},
        ),
        (
            {"oneOf": [ITEM_REF, {"type": "null"}], "description": "or none"},
            {"allOf": [ITEM_REF], "nullable": True, "description": "or none"},
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
        ),
        (
            {"enum": ["a", "b", None], "type": ["null", "string"]},
            {"enum": ["a", "b"], "type": "string", "nullable": True},
        ),
        ({"const": "observer_report"}, {"enum": ["observer_report"]}),
        ({"type": "string", "examples": ["x", "y"]}, {"type": "string", "example": "x"}),
        (
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        ),
        (
            {"type": "number", "exclusiveMaximum": 10, "maximum": 5},
            {"type": "number", "maximum": 5, "exclusiveMaximum": False},
        ),
        (
            {"type": "string", "contentMediaType": "image/jpeg"},
            {"type": "string", "format": "binary"},
        ),
        (
            {"type": "string", "contentEncoding": "base64"},
            {"type": "string", "format": "byte"},
        ),
        (
            {"type": ["object", "array", "null"], "additionalProperties": {}},
            {
                "anyOf": [{"type": "object"}, {"type": "array"}],
                "nullable": True,
                "additionalProperties": {},
            },
        ),
        (
            {"type": "object", "required": [], "properties": {"a": {"type": ["null", "string"]}}},
            {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
        ),
        (
            {"type": "array", "items": {"const": 1}, "prefixItems": [{"type": "integer"}]},
            {"type": "array", "items": {"enum": [1]}},
        ),
    ],
)
def test_schema_keywords_are_rewritten(schema_31: dict[str, Any], expected: dict[str, Any]) -> None:
    assert schema_30(schema_31) == expected


def test_nested_schemas_are_rewritten_everywhere() -> None:
    nested = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": ["string", "null"]}},
            "map": {"type": "object", "additionalProperties": {"const": True}},
            "either": {"allOf": [{"type": ["integer", "null"]}]},
        },
    }
    converted = openapi_30(document(Nested=nested))
    schema = converted["components"]["schemas"]["Nested"]["properties"]
    assert schema["tags"]["items"] == {"type": "string", "nullable": True}
    assert schema["map"]["additionalProperties"] == {"enum": [True]}
    assert schema["either"]["allOf"] == [{"type": "integer", "nullable": True}]
    parameter = converted["paths"]["/items/{id}"]["get"]["parameters"][0]["schema"]
    assert parameter == {
        "type": "integer",
        "nullable": True,
        "minimum": 0,
        "exclusiveMinimum": True,
    }


def test_examples_are_data_not_schemas() -> None:
    source = document()
    example = {"schema": {"type": ["string", "null"], "const": 1}}
    media = source["paths"]["/items/{id}"]["get"]["responses"]["200"]["content"]
    media["application/json"]["examples"] = {"one": {"value": example}}
    media["application/json"]["example"] = example
    converted = openapi_30(source)
    media = converted["paths"]["/items/{id}"]["get"]["responses"]["200"]["content"]
    assert media["application/json"]["examples"] == {"one": {"value": example}}
    assert media["application/json"]["example"] == example


def test_the_result_is_a_valid_openapi_30_document_and_the_input_is_untouched() -> None:
    source = document(
        Maybe={"anyOf": [ITEM_REF, {"type": "null"}]},
        Tag={"const": "x", "examples": ["x"]},
    )
    before = copy.deepcopy(source)
    converted = openapi_30(source)
    assert source == before
    assert converted["openapi"] == "3.0.3"
    assert "jsonSchemaDialect" not in converted
    assert "summary" not in converted["info"]
    validate(converted)  # raises on an invalid 3.0 document
    # Without the conversion the same document is not valid 3.0.
    with pytest.raises(OpenAPIValidationError):
        validate({**source, "openapi": "3.0.3"})


@pytest.mark.parametrize(
    "bad",
    [
        {"openapi": "3.0.3", "info": {}, "paths": {}},
        {"openapi": "2.0"},
        {"swagger": "2.0"},
        {"openapi": 3.1},
        {},
    ],
)
def test_anything_but_a_31_document_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(NotOpenAPI31, match=r"expected an OpenAPI 3\.1 document"):
        openapi_30(bad)


def test_a_schema_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TypeError, match="a schema is an object, not list"):
        schema_30({"type": "object", "properties": {"a": ["string"]}})
