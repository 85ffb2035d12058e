"""The OpenAPI 3.1 document rendered as OpenAPI 3.0.3, for generators that read 3.0 only.

A pure function over the 3.1 dict: the same operations and schemas, with the 3.1 (JSON Schema
2020-12) spellings that 3.0 lacks rewritten: ``null`` in a type list or a union becomes
``nullable: true``, ``const`` a one-value ``enum``, ``examples`` ``example``, binary content
keywords ``format: binary``, numeric ``exclusiveMinimum``/``exclusiveMaximum`` the boolean
forms. Keywords 3.0 has no equivalent for are dropped (they only narrow what is valid).
"""

from __future__ import annotations

import copy
from typing import Any

OPENAPI_30 = "3.0.3"
# JSON Schema 2020-12 keywords OpenAPI 3.0's schema object does not have.
_DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "$dynamicAnchor",
        "$dynamicRef",
        "contains",
        "minContains",
        "maxContains",
        "dependentRequired",
        "dependentSchemas",
        "if",
        "then",
        "else",
        "patternProperties",
        "prefixItems",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA = ("items", "not")


class NotOpenAPI31(ValueError):
    """The input is not an OpenAPI 3.1 document."""


def openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (OpenAPI 3.1) as OpenAPI 3.0.3; ``document`` itself is left untouched."""
    version = document.get("openapi") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("3.1."):
        raise NotOpenAPI31(f"expected an OpenAPI 3.1 document, got openapi={version!r}")
    converted = copy.deepcopy(document)
    converted["openapi"] = OPENAPI_30
    for key in ("jsonSchemaDialect", "webhooks"):
        converted.pop(key, None)
    info = converted.get("info", {})
    info.pop("summary", None)
    info.get("license", {}).pop("identifier", None)
    components = converted.get("components", {})
    components.pop("pathItems", None)
    components["schemas"] = {
        name: schema_30(schema) for name, schema in components.get("schemas", {}).items()
    }
    _convert_schemas_in(converted.get("paths", {}))
    for key in ("parameters", "responses", "requestBodies", "headers"):
        _convert_schemas_in(components.get(key, {}))
    return converted


def _convert_schemas_in(node: Any) -> None:
    """Every ``schema`` of a parameter, header or media type below ``node``, converted."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                node[key] = schema_30(value)
            elif key not in ("example", "examples"):
                # Examples are data: a body field called "schema" is not one.
                _convert_schemas_in(value)
    elif isinstance(node, list):
        for item in node:
            _convert_schemas_in(item)


def schema_30(schema: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema 2020-12 schema as an OpenAPI 3.0 schema object."""
    if not isinstance(schema, dict):
        raise TypeError(f"a schema is an object, not {type(schema).__name__}")
    result = {key: value for key, value in schema.items() if key not in _DROPPED}
    for key in _SUBSCHEMA:
        if isinstance(result.get(key), dict):
            result[key] = schema_30(result[key])
    if isinstance(result.get("additionalProperties"), dict):
        result["additionalProperties"] = schema_30(result["additionalProperties"])
    if isinstance(result.get("properties"), dict):
        result["properties"] = {
            name: schema_30(value) for name, value in result["properties"].items()
        }
    for key in _SUBSCHEMA_LISTS:
        if key in result:
            result[key] = [schema_30(item) for item in result[key]]
    if result.get("required") == []:
        del result["required"]  # 3.0 wants at least one name in the list
    _const(result)
    _examples(result)
    _exclusive_bounds(result)
    _binary(result)
    _null_in_enum(result)
    _type_list(result)
    return _null_in_union(result)


def _const(schema: dict[str, Any]) -> None:
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]


def _examples(schema: dict[str, Any]) -> None:
    examples = schema.pop("examples", None)
    if isinstance(examples, list) and examples and "example" not in schema:
        schema["example"] = examples[0]


def _exclusive_bounds(schema: dict[str, Any]) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        if isinstance(value, bool) or value is None:
            continue
        # The tighter of the two bounds, when both are given.
        schema[exclusive] = True
        if bound in schema and _tighter(bound, schema[bound], value):
            schema[exclusive] = False
        else:
            schema[bound] = value


def _tighter(bound: str, inclusive: float, exclusive: float) -> bool:
    return inclusive > exclusive if bound == "minimum" else inclusive < exclusive


def _binary(schema: dict[str, Any]) -> None:
    media_type = schema.pop("contentMediaType", None)
    encoding = schema.pop("contentEncoding", None)
    if encoding == "base64":
        schema["type"], schema["format"] = "string", "byte"
    elif media_type is not None or encoding is not None:
        schema["type"], schema["format"] = "string", "binary"


def _null_in_enum(schema: dict[str, Any]) -> None:
    enum = schema.get("enum")
    if isinstance(enum, list) and None in enum:
        schema["enum"] = [value for value in enum if value is not None]
        schema["nullable"] = True
        if not schema["enum"]:
            del schema["enum"]


def _type_list(schema: dict[str, Any]) -> None:
    types = schema.get("type")
    if not isinstance(types, list):
        if types == "null":
            del schema["type"]
            schema["nullable"] = True
        return
    if "null" in types:
        schema["nullable"] = True
    rest = [name for name in types if name != "null"]
    if len(rest) == 1:
        schema["type"] = rest[0]
    else:
        del schema["type"]
        if rest:
            # Several non-null types: 3.0 says it as a union of one-type schemas.
            schema["anyOf"] = [{"type": name} for name in rest]


def _is_null(schema: dict[str, Any]) -> bool:
    # After conversion a lone {"type": "null"} is {"nullable": True}.
    return schema == {"nullable": True}


def _null_in_union(schema: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if not isinstance(variants, list) or not any(_is_null(v) for v in variants):
            continue
        rest = [variant for variant in variants if not _is_null(variant)]
        schema["nullable"] = True
        if len(rest) != 1:
            if rest:
                schema[key] = rest
            else:
                del schema[key]
            continue
        del schema[key]
        (only,) = rest
        if "$ref" in only:
            # A $ref's siblings are ignored in 3.0: nullable goes beside an allOf.
            schema["allOf"] = [only]
        else:
            schema = {**only, **schema}
    return schema
