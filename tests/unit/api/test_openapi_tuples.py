"""The empty branch Litestar writes for a variadic tuple's items is dropped, and nothing else."""

from __future__ import annotations

from typing import Any

from api.openapi_tuples import drop_empty_union_branches

CODE = {"$ref": "#/components/schemas/MisidentificationType"}


def test_a_tuple_of_codes_becomes_a_list_of_codes() -> None:
    schema: dict[str, Any] = {"type": "array", "items": {"oneOf": [CODE, {}]}}
    drop_empty_union_branches(schema)
    assert schema == {"type": "array", "items": CODE}


def test_nested_unions_keep_their_other_branches() -> None:
    schema: dict[str, Any] = {
        "properties": {"a": {"anyOf": [{"type": "string"}, {}, {"type": "null"}]}}
    }
    drop_empty_union_branches(schema)
    assert schema == {"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}


def test_unions_without_an_empty_branch_are_untouched() -> None:
    schema: dict[str, Any] = {"oneOf": [CODE, {"type": "null"}], "description": "x"}
    before = {"oneOf": [CODE, {"type": "null"}], "description": "x"}
    drop_empty_union_branches([schema])
    assert schema == before
    lone: dict[str, Any] = {"oneOf": [{}]}  # the only branch: "anything", left as written
    drop_empty_union_branches(lone)
    assert lone == {"oneOf": [{}]}
