"""Litestar documents a variadic tuple (``tuple[X, ...]``, e.g. a stored report's
``misidentification``) as items ``oneOf: [X, {}]``: the empty schema accepts anything, so every
valid X matches both branches and fails ``oneOf``. The served answers then violate their own
documented schema (schemathesis and jsonschema say so). The ``{}`` branch is dropped."""

from __future__ import annotations

from typing import Any


def drop_empty_union_branches(node: Any) -> None:
    """In place, everywhere under ``node``."""
    if isinstance(node, list):
        for item in node:
            drop_empty_union_branches(item)
        return
    if not isinstance(node, dict):
        return
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if isinstance(branches, list) and {} in branches and len(branches) > 1:
            kept = [branch for branch in branches if branch != {}]
            del node[key]
            if len(kept) == 1:
                node.update(kept[0])
            else:
                node[key] = kept
    for value in node.values():
        drop_empty_union_branches(value)
