"""The methods of a download as a JSON document and as `key: value` lines."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.stats import Methods


def methods_json(meta: Methods) -> bytes:
    """The same object the JSON export carries as `meta`."""
    return msgspec.json.encode(meta)


def methods_lines(meta: Methods) -> list[str]:
    """Flattened as the CSV's leading lines are, without the `# `: `filters.unit: incident`."""
    return [f"{key}: {value}" for key, value in _flatten(msgspec.to_builtins(meta))]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        items: list[tuple[str, str]] = []
        for key, inner in value.items():
            items.extend(_flatten(inner, f"{prefix}{key}."))
        return items
    if isinstance(value, list):
        return [(prefix.rstrip("."), ",".join(str(v) for v in value))]
    return [(prefix.rstrip("."), "" if value is None else str(value).replace("\n", " "))]
