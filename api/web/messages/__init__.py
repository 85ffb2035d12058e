"""The console's words, English and Spanish side by side, one module per area.

Keys are ``area.name``; a test checks that every key has every language with the same
``{placeholders}``, that keys are unique across areas, and that every key a template uses exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from api.web.messages import admin, common, moderation, public, statistics

Message = Mapping[str, str]


def _merge(*areas: Mapping[str, Message]) -> dict[str, Message]:
    merged: dict[str, Message] = {}
    for area in areas:
        for key, message in area.items():
            if key in merged:
                raise ValueError(f"console message {key!r} is defined twice")
            merged[key] = message
    return merged


CATALOGUE: Final[Mapping[str, Message]] = _merge(
    common.MESSAGES,
    moderation.MESSAGES,
    statistics.MESSAGES,
    admin.MESSAGES,
    public.MESSAGES,
)
