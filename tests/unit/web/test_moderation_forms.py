"""Moderation forms are read by the JSON API's own request rules; a refusal names the form
field (not the JSON path)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from litestar.datastructures import FormMultiDict

from api.web.moderation.forms import (
    FormError,
    checkbox,
    merge_request,
    review_request,
    split_request,
)
from schemas.codes import ReviewReason
from schemas.moderation import ReviewOutcome


def form(*pairs: tuple[str, str]) -> FormMultiDict:
    return FormMultiDict(list(pairs))


def refused_field(read: Callable[[FormMultiDict], object], data: FormMultiDict) -> str:
    with pytest.raises(FormError) as refused:
        read(data)
    return refused.value.field


def test_a_review_form_is_a_review_request() -> None:
    review = review_request(form(("status", "rejected"), ("reason", "duplicate")))
    assert (review.status, review.reason) == (ReviewOutcome.REJECTED, ReviewReason.DUPLICATE)
    verified = review_request(form(("status", "verified"), ("reason", "")))
    assert (verified.status, verified.reason) == (ReviewOutcome.VERIFIED, None)


@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        ((("status", "rejected"),), "reason"),
        ((("status", "rejected"), ("reason", "  ")), "reason"),
        ((("status", "rejected"), ("reason", "because")), "reason"),
        ((("status", "withdrawn"),), "status"),
        ((("status", "pending"),), "status"),
        ((), "status"),
    ],
)
def test_a_review_the_api_refuses_names_its_field(
    pairs: tuple[tuple[str, str], ...], field: str
) -> None:
    assert refused_field(review_request, form(*pairs)) == field


def test_merge_and_split_forms() -> None:
    assert merge_request(form(("incident_id", " 42 "))).incident_id == 42
    for value in ("", "0", "-1", "4.5", "x", str(2**63)):
        assert refused_field(merge_request, form(("incident_id", value))) == "incident_id"
    chosen = [str(uuid.uuid4()), str(uuid.uuid4())]
    split = split_request(form(*(("report_ids", value) for value in chosen)))
    assert [str(r) for r in split.report_ids] == chosen
    assert refused_field(split_request, form()) == "report_ids"
    assert refused_field(split_request, form(("report_ids", "nope"))) == "report_ids"


@pytest.mark.parametrize(
    ("value", "checked"), [(None, False), ("", False), ("yes", True), ("on", True)]
)
def test_a_checkbox_is_checked_or_not(value: str | None, checked: bool) -> None:
    data = form() if value is None else form(("reject_pending", value))
    assert checkbox(data, "reject_pending") is checked


def test_a_checkbox_with_another_value_is_refused() -> None:
    assert refused_field(
        lambda f: checkbox(f, "reject_pending"), form(("reject_pending", "maybe"))
    ) == ("reject_pending")
