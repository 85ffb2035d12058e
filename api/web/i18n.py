"""The console's languages: which one a request gets, and its words.

Words live in ``api.web.messages`` (one catalogue module per area, English and Spanish side by
side); codebook labels come from ``schemas.labels`` so the console and the API never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from litestar import Request

from api.web.codebook_labels import label_for
from api.web.messages import CATALOGUE
from schemas.labels import LANGUAGES

LANGUAGE_COOKIE: Final = "plainsight_lang"
DEFAULT_LANGUAGE: Final = "en"


def preferred_language(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (RFC 9110 q-values)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties, as the header lists preferences in order.
        q -= position * 1e-6
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def request_language(request: Request[Any, Any, Any], *, use_cookie: bool = True) -> str:
    """``?lang=`` first, then the language cookie (staff pages only: public pages stay
    cacheable by varying on Accept-Language alone), then the browser's Accept-Language."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return str(asked)
    if use_cookie:
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen in LANGUAGES:
            return str(chosen)
    return preferred_language(request.headers.get("accept-language"))


class Translator:
    """``t("key")`` and ``t("key", count=3)`` in templates; ``label(path, value)`` for codebook."""

    def __init__(self, language: str, catalogue: Mapping[str, Mapping[str, str]] = CATALOGUE):
        self.language = language
        self._catalogue = catalogue

    def __call__(self, key: str, **values: object) -> str:
        entry = self._catalogue.get(key)
        if entry is None:
            raise KeyError(f"no console message {key!r}")  # a test checks every template's keys
        text = entry[self.language]
        return text.format(**values) if values else text

    def label(self, path: str, value: str | None = None) -> str:
        return label_for(path, value, self.language)
