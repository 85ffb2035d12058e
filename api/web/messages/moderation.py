"""Words of the console's moderation pages (keys ``moderation.*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {}
