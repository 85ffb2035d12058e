"""A report's fields as a moderator reads them: every field, in the codebook's order, named
and valued by the codebook's labels (the same words as ``GET /v1/codebook``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import NamedTuple

import msgspec

from api.web.codebook_labels import labels
from api.web.i18n import Translator
from schemas.report import ReportView


class Row(NamedTuple):
    path: str
    label: str
    value: str


class Section(NamedTuple):
    path: str | None  # None: the report's own top-level fields
    title: str | None
    rows: list[Row]


def when(moment: datetime | None) -> str:
    """A time as moderators compare them: UTC, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_id(value: uuid.UUID | str) -> str:
    """The last group of a UUID (random in a UUIDv7; the first is its time): enough to tell
    a handful of reports apart on a page."""
    return str(value).rsplit("-", 1)[-1]


# The stored record's own fields lead: which report, its status, when and whence it came.
RECORD_FIRST = ("id", "status", "received_at", "device_id")


def report_sections(report: ReportView, t: Translator) -> list[Section]:
    paths = [*RECORD_FIRST, *(p for p in labels(t.language) if p not in RECORD_FIRST)]
    order = {path: index for index, path in enumerate(paths)}
    top: list[Row] = []
    groups: list[Section] = []
    for name, value in _fields(report):
        if isinstance(value, msgspec.Struct):
            rows = [_row(f"{name}.{sub}", item, t) for sub, item in _fields(value)]
            groups.append(Section(name, _label(name, t), _ordered(rows, order)))
        else:
            top.append(_row(name, value, t))
    return [Section(None, None, _ordered(top, order)), *groups]


def _fields(struct: msgspec.Struct) -> list[tuple[str, object]]:
    return [(name, getattr(struct, name)) for name in struct.__struct_fields__]


def _ordered(rows: list[Row], order: dict[str, int]) -> list[Row]:
    return sorted(rows, key=lambda row: order.get(row.path, len(order)))


def _label(path: str, t: Translator) -> str:
    try:
        return t.label(path)
    except KeyError:  # a field the codebook does not describe (yet): its name
        return path


def _row(path: str, value: object, t: Translator) -> Row:
    return Row(path, _label(path, t), _value(path, value, t))


def _value(path: str, value: object, t: Translator) -> str:
    if value is None:
        return t("moderation.not_reported")
    if isinstance(value, bool):
        return t("common.yes") if value else t("common.no")
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Enum):
        return _coded(path, str(value.value), t)
    if isinstance(value, str):
        return _coded(path, value, t)
    if isinstance(value, Sequence):
        items = [_value(path, item, t) for item in value]
        return ", ".join(items) if items else t("common.none")
    return str(value)


def _coded(path: str, value: str, t: Translator) -> str:
    try:
        return t.label(path, value)
    except KeyError:
        return value
