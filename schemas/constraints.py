"""Reusable ``Annotated[..., Meta(...)]`` aliases for the wire schema.

Every bound lives here so the Structs, the JSON schema and the codebook all read the same numbers.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime
from typing import Annotated, Final

from msgspec import Meta

# C0 control characters and DEL. PostgreSQL text/jsonb refuse NUL outright, and the others only
# serve to break CSV exports and log lines. `(?!\n)$` stops Python's `$` from matching before a
# trailing newline; in ECMA regex (OpenAPI) it is a no-op.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*(?!\n)$"
# Free text may keep tabs and line breaks.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_INCIDENT_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9 ._/#:-]*$"
_H3_CELL = r"^[0-9a-f]{15}$"
EMAIL_PATTERN: Final = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"

MAX_AGENTS: Final = 500
MAX_PEOPLE: Final = 500
MAX_OFFICERS_INJURED: Final = 100
MAX_CODES_PER_LIST: Final = 10
MAX_NARRATIVE_CHARS: Final = 4000
MAX_PLACE_DESCRIPTION_CHARS: Final = 200
MAX_COMMAND_CHARS: Final = 120
MAX_INCIDENT_REFERENCE_CHARS: Final = 64
MAX_ACCURACY_M: Final = 50_000
MAX_UNCERTAINTY_MIN: Final = 24 * 60

AwareDatetime = Annotated[datetime, Meta(tz=True)]
"""A datetime with an explicit UTC offset; a naive one is rejected, not guessed."""

Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
AccuracyMetres = Annotated[float, Meta(ge=0, le=MAX_ACCURACY_M)]
UncertaintyMinutes = Annotated[int, Meta(ge=0, le=MAX_UNCERTAINTY_MIN)]

AgentCount = Annotated[int, Meta(ge=1, le=MAX_AGENTS)]
"""Agents seen: a report is about at least one."""
PeopleCount = Annotated[int, Meta(ge=0, le=MAX_PEOPLE)]
OfficerCount = Annotated[int, Meta(ge=0, le=MAX_OFFICERS_INJURED)]

PlaceDescription = Annotated[
    str, Meta(min_length=1, max_length=MAX_PLACE_DESCRIPTION_CHARS, pattern=_SINGLE_LINE)
]
Narrative = Annotated[str, Meta(min_length=1, max_length=MAX_NARRATIVE_CHARS, pattern=_MULTI_LINE)]
CommandName = Annotated[str, Meta(min_length=1, max_length=MAX_COMMAND_CHARS, pattern=_SINGLE_LINE)]
"""An officer's unit or precinct."""
IncidentReference = Annotated[
    str,
    # A case or event number, not prose: keeps names out of the one extra text field officers get.
    Meta(
        min_length=1,
        max_length=MAX_INCIDENT_REFERENCE_CHARS,
        pattern=_INCIDENT_REFERENCE,
    ),
]

H3Cell = Annotated[str, Meta(pattern=_H3_CELL)]
"""An H3 cell index in its 15-hex-digit string form."""

UNIQUE_ITEMS: Final = {"uniqueItems": True}
"""Marks a list whose items must be distinct; enforced in ``__post_init__`` (msgspec cannot)."""

# What each pattern allows, in words: an error message names the rule, not the regex.
PATTERN_WORDS: Final = {
    _SINGLE_LINE: "one line of text without control characters (no line breaks, tabs, NUL or DEL)",
    _MULTI_LINE: "text without control characters (line breaks and tabs are allowed; NUL, DEL "
    "and other control characters are not)",
    _INCIDENT_REFERENCE: "a case number: letters, digits, spaces and . _ / # : - only, "
    "starting with a letter or digit",
    _H3_CELL: "an H3 cell index: 15 lowercase hexadecimal digits",
    EMAIL_PATTERN: "an e-mail address (one @, no spaces or control characters)",
}
# msgspec quotes the pattern as Python's repr() does.
_PATTERN_MESSAGE = re.compile(
    r"^Expected `str` matching regex ('.*'|\".*\")( - at `[^`]*`)?$", re.DOTALL
)


def in_words(message: str) -> str:
    """A msgspec validation message with a regular expression replaced by what it allows."""
    match = _PATTERN_MESSAGE.match(message)
    if match is None:
        return message
    try:
        pattern = ast.literal_eval(match[1])
    except (ValueError, SyntaxError):
        pattern = None
    allowed = PATTERN_WORDS.get(pattern, "text in the format this field takes")
    return f"Expected {allowed}{match[2] or ''}"
