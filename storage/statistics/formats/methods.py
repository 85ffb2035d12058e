"""The methods of a download as a JSON document and as `key: value` lines."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.stats import Methods


def methods_json(meta: Methods) -> bytes:
    """The same object the JSON export carries as `meta`."""
    return msgspec.json.encode(meta)


def methods_lines(meta: Methods) -> list[str]:
    """Flattened, one `key: value` each (`filters.unit: incident`): the CSV's leading lines
    (after `# `) and the Stata notes. Booleans are spelled as the CSV rows spell them."""
    return [f"{key}: {value}" for key, value in _flatten(msgspec.to_builtins(meta))]


def plain_value(value: object) -> object:
    """A value as a CSV cell: empty for None, `true`/`false` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        items: list[tuple[str, str]] = []
        for key, inner in value.items():
            items.extend(_flatten(inner, f"{prefix}{key}."))
        return items
    if isinstance(value, list):
        return [(prefix.rstrip("."), ",".join(str(v) for v in value))]
    return [(prefix.rstrip("."), str(plain_value(value)).replace("\n", " "))]
