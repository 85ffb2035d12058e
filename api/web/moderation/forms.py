"""The moderation forms, read into the API's own request types: a form is accepted or refused
by exactly the rules the JSON API applies (``ReviewRequest``, ``MergeRequest``,
``SplitRequest``), and a refusal names the form field."""

from __future__ import annotations

import re
from typing import Final, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from api.errors import field_of_validation_error
from schemas.moderation import MergeRequest, ReviewRequest, SplitRequest
from storage.incidents.overrides import InvalidOverride

T = TypeVar("T")
MAX_FIELD: Final = 100  # longer than any status, reason, id or incident number
MAX_CHOSEN: Final = 1000  # SplitRequest's own bound; more is refused by it
# "$.report_ids[3]" → "report_ids": the form field, not the JSON path.
_JSON_PATH: Final = re.compile(r"^\$\.?|\[\d+\]$")
CHECKED: Final = frozenset({"yes", "on", "true", "1"})
UNCHECKED: Final = frozenset({"", "no", "off", "false", "0"})


class FormError(Exception):
    """A form field the request's rules refuse (shown beside the field, 422)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def field_name(path: str) -> str:
    return _JSON_PATH.sub("", path) or path


def _text(form: FormMultiDict, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_FIELD]


def _convert(fields: dict[str, object], request_type: type[T]) -> T:
    try:
        # strict=False: form fields are text ("7" is the incident 7), as query strings are.
        return msgspec.convert(fields, request_type, strict=False)
    except msgspec.ValidationError as exc:
        path, detail = field_of_validation_error(str(exc))
        raise FormError(field_name(path), detail) from exc


def review_request(form: FormMultiDict) -> ReviewRequest:
    """``status`` and ``reason`` (an empty reason is no reason)."""
    fields: dict[str, object] = {"status": _text(form, "status") or ""}
    reason = _text(form, "reason")
    if reason is not None:
        fields["reason"] = reason
    return _convert(fields, ReviewRequest)


def merge_request(form: FormMultiDict) -> MergeRequest:
    return _convert({"incident_id": _text(form, "incident_id") or ""}, MergeRequest)


def split_request(form: FormMultiDict) -> SplitRequest:
    chosen = [str(value)[:MAX_FIELD] for value in form.getall("report_ids", [])]
    return _convert({"report_ids": chosen[: MAX_CHOSEN + 1]}, SplitRequest)


def checkbox(form: FormMultiDict, name: str) -> bool:
    value = form.get(name)
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in CHECKED:
        return True
    if text in UNCHECKED:
        return False
    raise FormError(name, "a checkbox is either checked or not")


def override_error(exc: InvalidOverride) -> FormError:
    """Storage's refusal of a merge or split, named by the form field."""
    return FormError(field_name(exc.field), exc.detail)
