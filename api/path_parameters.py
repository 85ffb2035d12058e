"""Which path parameter of a request failed to parse.

Litestar's router answers a path whose shape matches a route but whose parameter does not parse
(``/v1/reports/not-a-uuid``) with a bare 404, as if nothing were there. The contract says bad
input is a 422 naming the field, so the error handler asks this module which parameter it was.
"""

from __future__ import annotations

import uuid
from typing import Any

EXPECTED = {uuid.UUID: "a UUID such as 018f3c1e-7a4b-7c2d-9e1f-2a3b4c5d6e7f", int: "a whole number"}


def malformed_path_parameter(routes: list[Any], path: str) -> tuple[str, str] | None:
    """(name, what it must be) of the first parameter that does not parse, in the first route
    whose literal segments all match ``path``; None when no route has that shape."""
    segments = path.strip("/").split("/")
    for route in routes:
        components = getattr(route, "path_components", None)
        if components is None or len(components) != len(segments):
            continue
        malformed = _malformed(components, segments)
        if malformed:
            return malformed
    return None


def _malformed(components: list[Any], segments: list[str]) -> tuple[str, str] | None:
    found = None
    for component, segment in zip(components, segments, strict=True):
        if isinstance(component, str):
            if component != segment:
                return None
        elif component.parser is not None and found is None:
            try:
                component.parser(segment)
            except ValueError:
                expected = EXPECTED.get(component.type, f"a valid {component.type.__name__}")
                found = (str(component.name), expected)
    return found
