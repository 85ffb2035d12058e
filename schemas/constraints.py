"""Reusable ``Annotated[..., Meta(...)]`` aliases for the wire schema.

Every bound lives here so the Structs, the JSON schema and the codebook all read the same numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from msgspec import Meta

# C0 control characters and DEL. PostgreSQL text/jsonb refuse NUL outright, and the others only
# serve to break CSV exports and log lines. `(?!\n)$` stops Python's `$` from matching before a
# trailing newline; in ECMA regex (OpenAPI) it is a no-op.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*(?!\n)$"
# Free text may keep tabs and line breaks.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

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
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/#:-]*$",
    ),
]

H3Cell = Annotated[str, Meta(pattern=r"^[0-9a-f]{15}$")]
"""An H3 cell index in its 15-hex-digit string form."""

UNIQUE_ITEMS: Final = {"uniqueItems": True}
"""Marks a list whose items must be distinct; enforced in ``__post_init__`` (msgspec cannot)."""
