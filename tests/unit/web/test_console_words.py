"""The console's words: every key in both languages with the same placeholders, every key a
template uses defined, and the language negotiation of Accept-Language."""

from __future__ import annotations

import re
import string

import pytest

from api.web.i18n import Translator, preferred_language
from api.web.messages import CATALOGUE, _merge
from api.web.templating import TEMPLATES
from schemas.labels import LANGUAGES

# A literal key: t("area.name") or t("area.name", value=...); keys built with ~ are not
# literals (their parts are checked by the pages' tests).
KEY_IN_TEMPLATE = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*[,)]""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_every_language_with_the_same_placeholders() -> None:
    problems = []
    for key, message in CATALOGUE.items():
        if set(message) != set(LANGUAGES):
            problems.append(f"{key}: languages {sorted(message)}")
            continue
        if any(not text.strip() for text in message.values()):
            problems.append(f"{key}: an empty text")
        if _placeholders(message["en"]) != _placeholders(message["es"]):
            problems.append(f"{key}: placeholders differ between languages")
        area = key.split(".")[0]
        if area not in {"common", "moderation", "statistics", "admin", "public"}:
            problems.append(f"{key}: no such area")
    assert not problems, "\n".join(problems)


def test_every_key_a_template_uses_exists() -> None:
    missing = []
    for template in TEMPLATES.rglob("*.html"):
        for key in KEY_IN_TEMPLATE.findall(template.read_text()):
            if key not in CATALOGUE:
                missing.append(f"{template.name}: {key}")
    assert not missing, "\n".join(missing)


def test_a_key_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        _merge({"a.b": {"en": "x", "es": "y"}}, {"a.b": {"en": "x", "es": "y"}})


def test_an_unknown_key_fails_loudly() -> None:
    with pytest.raises(KeyError, match="no console message"):
        Translator("en")("common.no_such_message")


def test_codebook_labels_come_from_the_codebook() -> None:
    spanish = Translator("es")
    assert spanish.label("agents.masked", "all") == "Todos enmascarados"
    assert spanish.label("status", "verified") == "Verificado"
    assert Translator("en").label("status", "an_old_value") == "an_old_value"
    with pytest.raises(KeyError):
        spanish.label("no.such.field")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("es", "es"),
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR, es;q=0.5, en;q=0.4", "es"),
        ("de, fr", "en"),
        ("es;q=0, en;q=0.1", "en"),
        ("es;q=abc, en;q=0.5", "en"),
        ("*", "en"),
        ("ES", "es"),
    ],
)
def test_the_browsers_language_is_negotiated(header: str | None, expected: str) -> None:
    assert preferred_language(header) == expected
