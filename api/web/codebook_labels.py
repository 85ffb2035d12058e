"""Codebook labels for the console, read from the same codebook the API serves
(``GET /v1/codebook``), so a field or value is never named two ways."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple

from schemas.codebook import build_codebook


class FieldLabels(NamedTuple):
    label: str
    values: Mapping[str, str]


@functools.cache
def labels(lang: str) -> Mapping[str, FieldLabels]:
    """Field path (``agents.masked``, ``status``, ``kind``, ``review_reason``) → its labels."""
    book = build_codebook(lang)
    table: dict[str, FieldLabels] = {}
    for spec in (*book.fields, *book.view_fields):
        table[spec.path] = FieldLabels(spec.label, {v.value: v.label for v in spec.values})
    kind = table.get(book.tag_field)
    table[book.tag_field] = FieldLabels(
        kind.label if kind else book.tag_field, {v.value: v.label for v in book.kinds}
    )
    table["review_reason"] = FieldLabels("", {v.value: v.label for v in book.review_reasons})
    return table


def label_for(path: str, value: str | None, lang: str) -> str:
    """The label of a field (``value`` None) or of one of its values; the raw value when the
    codebook has none (a value from an older version of the codebook, say)."""
    field = labels(lang).get(path)
    if field is None:
        raise KeyError(f"the codebook has no field {path!r}")
    if value is None:
        return field.label
    return field.values.get(value, value)
