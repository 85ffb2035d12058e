"""The codebook: complete, bilingual, and in step with what the schema actually accepts.

The field paths and enum values are collected here from ``msgspec.json.schema`` — a walk
independent of the codebook's own — so a field added to the Structs without a label fails.
"""

from __future__ import annotations

import enum
import inspect
import json
from typing import Any

import msgspec
import pytest

import schemas.codes
from schemas.codebook import Codebook, FieldSpec, build_codebook
from schemas.labels import FIELD_LABELS, VALUE_LABELS
from schemas.report import ReportIn, ReportView
from tests.unit.schemas.test_report_schema import decode, officer_payload, rejection, with_value

LANGS = ["en", "es"]


def _schema_fields(schema_type: Any) -> dict[str, set[str] | None]:
    """Every property path in the JSON schema, with its enum values if it has any.

    Paths are merged over the union's members, so ``kind`` collects every tag.
    """
    schema = msgspec.json.schema(schema_type)
    definitions = schema["$defs"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def options(node: dict[str, Any]) -> list[dict[str, Any]]:
        node = resolve(node)
        if "anyOf" in node:
            return [resolve(option) for option in node["anyOf"] if option.get("type") != "null"]
        return [node]

    found: dict[str, set[str] | None] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, prop in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            values = found.get(path)
            for option in options(prop):
                target = resolve(option["items"]) if option.get("type") == "array" else option
                if "enum" in target:
                    values = (values or set()) | {str(value) for value in target["enum"]}
                if option.get("type") == "object":
                    walk(option, f"{path}.")
            found[path] = values

    for member in options(schema):
        walk(member, "")
    return found


SUBMITTED = _schema_fields(ReportIn)
STORED = _schema_fields(ReportView)


def _all_specs(codebook: Codebook) -> dict[str, FieldSpec]:
    return {spec.path: spec for spec in (*codebook.fields, *codebook.view_fields)}


def _code_enums() -> list[type[enum.StrEnum]]:
    return [
        value
        for _, value in inspect.getmembers(schemas.codes, inspect.isclass)
        if issubclass(value, enum.StrEnum) and value is not enum.StrEnum
    ]


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "", "EN", "es-MX", "english"])
def test_unknown_language_is_a_value_error(lang: str) -> None:
    with pytest.raises(ValueError, match="language"):
        build_codebook(lang)


@pytest.mark.parametrize("lang", LANGS)
def test_codebook_reports_its_language(lang: str) -> None:
    codebook = build_codebook(lang)

    assert codebook.lang == lang
    assert set(codebook.languages) == {"en", "es"}


# --- anti-drift: completeness against an independent walk of the schema --------------------


def test_independent_schema_walk_found_the_contract_fields() -> None:
    # Guards the walker itself: if it silently found nothing, the tests below would pass vacuously.
    assert {"client_id", "kind", "agents.masked", "identification.verbal"} <= set(SUBMITTED)
    assert {"officer.command", "location.lat"} <= set(SUBMITTED)
    assert {"location.h3_cell", "status", "received_at", "id"} <= set(STORED)
    assert "location.lat" not in STORED
    assert SUBMITTED["agents.masked"] == {"all", "some", "none", "unknown"}
    assert SUBMITTED["kind"] == {"observer_report", "officer_note"}


@pytest.mark.parametrize("lang", LANGS)
def test_every_submitted_field_is_in_the_codebook_with_a_label(lang: str) -> None:
    specs = {spec.path: spec for spec in build_codebook(lang).fields}

    assert set(specs) == set(SUBMITTED)
    for path, spec in specs.items():
        assert spec.label.strip(), path
        assert spec.description.strip(), path


@pytest.mark.parametrize("lang", LANGS)
def test_every_stored_field_is_in_the_codebook_with_a_label(lang: str) -> None:
    specs = _all_specs(build_codebook(lang))

    assert set(STORED) <= set(specs)
    for path in STORED:
        assert specs[path].label.strip(), path


@pytest.mark.parametrize("lang", LANGS)
def test_every_enum_value_in_the_schema_is_in_the_codebook_with_a_label(lang: str) -> None:
    specs = _all_specs(build_codebook(lang))

    for path, values in {**SUBMITTED, **STORED}.items():
        if values is None:
            continue
        listed = {value.value: value for value in specs[path].values}
        assert set(listed) == values, path
        for value in listed.values():
            assert value.label.strip(), (path, value.value)
            assert value.description.strip(), (path, value.value)


@pytest.mark.parametrize("code_enum", _code_enums(), ids=lambda cls: cls.__name__)
def test_every_code_value_has_english_and_spanish_labels(code_enum: type[enum.StrEnum]) -> None:
    labels = VALUE_LABELS[code_enum]

    assert set(labels) == {member.value for member in code_enum}
    for value, translations in labels.items():
        for lang in LANGS:
            text = translations.get(lang)
            assert text.label.strip(), (code_enum.__name__, value, lang)
            assert text.description.strip(), (code_enum.__name__, value, lang)


def test_field_labels_have_no_orphans() -> None:
    # A label for a field that no longer exists means a rename lost its translation.
    assert set(FIELD_LABELS) == set(SUBMITTED) | set(STORED)


def test_every_field_label_exists_in_both_languages() -> None:
    for path, translations in FIELD_LABELS.items():
        for lang in LANGS:
            text = translations.get(lang)
            assert text.label.strip(), (path, lang)
            assert text.description.strip(), (path, lang)


# --- Spanish is a translation, not a copy ---------------------------------------------------


def test_spanish_samples_from_the_brief() -> None:
    spanish = _all_specs(build_codebook("es"))

    assert spanish["agents.masked"].label == "Enmascarados"
    assert spanish["identification.verbal"].description == (
        "¿Los agentes se identificaron verbalmente?"
    )


def test_spanish_field_texts_differ_from_english() -> None:
    english = _all_specs(build_codebook("en"))
    spanish = _all_specs(build_codebook("es"))

    for path, spec in english.items():
        assert spanish[path].label != spec.label, path
        assert spanish[path].description != spec.description, path


def test_spanish_value_labels_mostly_differ_from_english() -> None:
    # Acronyms (ICE, FBI…) and "No" are the same word in both languages; little else should be.
    same = [
        (code_enum.__name__, value)
        for code_enum, labels in VALUE_LABELS.items()
        for value, translations in labels.items()
        if translations.en.label == translations.es.label
    ]
    total = sum(len(labels) for labels in VALUE_LABELS.values())

    assert all(value in {"no"} or value.isupper() for _, value in same), same
    assert len(same) < total / 3


def test_spanish_descriptions_use_spanish_punctuation_for_questions() -> None:
    questions = [spec for spec in build_codebook("es").fields if spec.description.endswith("?")]

    assert questions
    for spec in questions:
        assert spec.description.startswith("¿"), spec.path


# --- structure ------------------------------------------------------------------------------


def test_kinds_and_tag_field_match_the_contract() -> None:
    codebook = build_codebook("en")

    assert codebook.tag_field == "kind"
    assert [kind.value for kind in codebook.kinds] == ["observer_report", "officer_note"]
    kind = _all_specs(codebook)["kind"]
    assert kind.required
    assert [value.value for value in kind.values] == ["observer_report", "officer_note"]


def test_officer_fields_belong_to_officer_notes_only() -> None:
    for spec in build_codebook("en").fields:
        if spec.path == "officer" or spec.path.startswith("officer."):
            assert spec.kinds == ("officer_note",), spec.path
        else:
            assert set(spec.kinds) == {"observer_report", "officer_note"}, spec.path


def test_required_fields_follow_the_brief() -> None:
    specs = _all_specs(build_codebook("en"))

    for path in ["client_id", "kind", "occurred_at", "location", "agents", "identification"]:
        assert specs[path].required, path
    for path in ["identification.verbal", "identification.badge_shown", "officer.command"]:
        assert specs[path].required, path
    for path in [
        "narrative",
        "outcome",
        "misidentification",
        "occurred_at_uncertainty_min",
        "officer.incident_reference",
        "officer.officers_injured",
        "identification.names_or_badge_numbers_given",
    ]:
        assert not specs[path].required, path


@pytest.mark.parametrize(
    ("path", "minimum", "maximum"),
    [
        ("agents.count", 1, 500),
        ("location.lat", -90, 90),
        ("location.lon", -180, 180),
        ("location.accuracy_m", 0, 50_000),
        ("occurred_at_uncertainty_min", 0, 1440),
        ("outcome.people_detained", 0, 500),
        ("outcome.injuries", 0, 500),
        ("officer.officers_injured", 0, 100),
    ],
)
def test_numeric_bounds_are_listed(path: str, minimum: float, maximum: float) -> None:
    spec = _all_specs(build_codebook("en"))[path]

    assert spec.type in ("integer", "number")
    assert (spec.minimum, spec.maximum) == (minimum, maximum)


@pytest.mark.parametrize(
    ("path", "max_length"),
    [
        ("narrative", 4000),
        ("location.description", 200),
        ("officer.command", 120),
        ("officer.incident_reference", 64),
    ],
)
def test_text_bounds_are_listed(path: str, max_length: int) -> None:
    spec = _all_specs(build_codebook("en"))[path]

    assert spec.type == "string"
    assert spec.min_length == 1
    assert spec.max_length == max_length


@pytest.mark.parametrize(
    "path", ["agents.agencies_claimed", "agents.agencies_suspected", "misidentification"]
)
def test_code_lists_are_bounded_and_unique(path: str) -> None:
    spec = _all_specs(build_codebook("en"))[path]

    assert spec.type == "array"
    assert spec.item_type == "enum"
    assert spec.max_items == 10
    assert spec.unique_items
    assert spec.values


def test_contract_enum_values_are_listed_in_order() -> None:
    specs = _all_specs(build_codebook("en"))

    def values(path: str) -> list[str]:
        return [value.value for value in specs[path].values]

    assert values("agents.masked") == ["all", "some", "none", "unknown"]
    assert values("agents.attire") == ["plainclothes", "uniform", "mixed", "tactical", "unknown"]
    assert values("identification.verbal") == ["yes", "no", "unclear"]
    assert values("officer.prior_notification") == ["yes", "no", "unknown"]
    assert values("status") == ["pending", "verified", "unverified", "rejected", "withdrawn"]
    contract_agencies = ["ICE", "CBP", "HSI", "FBI", "DEA", "USMS", "ATF", "local_police"]
    assert {*contract_agencies, "other", "unknown"} <= set(values("agents.agencies_claimed"))


def test_occurred_at_is_documented_as_timezone_aware() -> None:
    spec = _all_specs(build_codebook("en"))["occurred_at"]

    assert spec.type == "datetime"
    assert spec.timezone_required


def test_view_fields_are_only_what_storage_adds() -> None:
    paths = {spec.path for spec in build_codebook("en").view_fields}

    assert paths == {"id", "status", "received_at", "device_id", "location.h3_cell"}


def test_parents_are_listed_before_their_children() -> None:
    paths = [spec.path for spec in build_codebook("en").fields]

    for index, path in enumerate(paths):
        if "." in path:
            assert path.rsplit(".", 1)[0] in paths[:index], path


@pytest.mark.parametrize("lang", LANGS)
def test_codebook_round_trips_through_json(lang: str) -> None:
    codebook = build_codebook(lang)

    encoded = msgspec.json.encode(codebook)

    assert msgspec.json.decode(encoded, type=Codebook) == codebook
    assert json.loads(encoded)["fields"][0]["path"] == "kind"


# --- the codebook describes what validation enforces ----------------------------------------


# One test per kind of bound rather than one per field: parametrizing over the codebook would
# build it at collection time, and a missing label would then break the whole module.


def test_listed_numeric_bounds_are_the_enforced_ones() -> None:
    specs = [s for s in build_codebook("en").fields if s.type in ("integer", "number")]
    assert len(specs) >= 8

    for spec in specs:
        assert spec.minimum is not None, spec.path
        assert spec.maximum is not None, f"{spec.path}: every number must be bounded"
        step = 1 if spec.type == "integer" else 0.001
        for edge in (spec.minimum, spec.maximum):
            decode(with_value(officer_payload(), spec.path, edge))
        for outside in (spec.minimum - step, spec.maximum + step):
            assert spec.path in rejection(with_value(officer_payload(), spec.path, outside))


def test_listed_text_bounds_are_the_enforced_ones() -> None:
    specs = [s for s in build_codebook("en").fields if s.type == "string"]
    assert len(specs) >= 4

    for spec in specs:
        assert spec.max_length is not None, f"{spec.path}: every string must be bounded"
        decode(with_value(officer_payload(), spec.path, "A" * spec.max_length))
        too_long = with_value(officer_payload(), spec.path, "A" * (spec.max_length + 1))
        assert spec.path in rejection(too_long)


def test_every_array_is_bounded() -> None:
    for spec in build_codebook("en").fields:
        if spec.type == "array":
            assert spec.max_items is not None, spec.path
