"""Rendering a moderation page: the shared helpers every moderation template uses, and the
notice a post/redirect/get left in the query string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from litestar import Request
from litestar.response import Template

from api.middleware.auth import CONSOLE_OPT, ROLES_OPT, STAFF
from api.web.codebook_labels import labels
from api.web.moderation.media import play_time
from api.web.moderation.redirects import notice_of
from api.web.moderation.report_fields import report_sections, short_id, when
from api.web.templating import render
from schemas.moderation import Source
from storage.reports.store import kind_of

# Every moderation page: the console's cookie session, moderators and admins (as the API).
STAFF_PAGE: Final = {CONSOLE_OPT: True, ROLES_OPT: STAFF}
# The reasons a moderator may choose: the codebook's review reasons, in its order.
REVIEW_REASONS: Final = tuple(labels("en")["review_reason"].values)
# The codebook's kind of report from each source (the kind's label names the source).
KIND_OF_SOURCE: Final = {Source.OBSERVER: "observer_report", Source.OFFICER: "officer_note"}
# The words shown beside a refused form field (the API's own detail follows them).
FIELD_MESSAGES: Final = {
    "status": "moderation.error_status",
    "reason": "moderation.error_reason",
    "incident_id": "moderation.error_incident_id",
    "report_ids": "moderation.error_report_ids",
    "reject_pending": "moderation.error_reject_pending",
}
HELPERS: Final = {
    "when": when,
    "kind_of": kind_of,
    "kind_of_source": KIND_OF_SOURCE,
    "field_messages": FIELD_MESSAGES,
    "short_id": short_id,
    "report_sections": report_sections,
    "review_reasons": REVIEW_REASONS,
    "play_time": play_time,
}


def moderation_page(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> Template:
    notice = notice_of(request.query_params) if request.method == "GET" else None
    return render(
        request,
        template,
        {**HELPERS, "notice": notice, "form_error": None, **context},
        status_code=status_code,
    )
