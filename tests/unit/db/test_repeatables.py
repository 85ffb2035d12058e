"""Repeatable definitions without a database: the shipped files, their order, and the rule that
numbered files after the repeatable files existed define no function, view or trigger."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from storage.db.migrations import load_migrations
from storage.db.repeatables import Repeatable, in_order, load_repeatables, with_dependents
from storage.errors import MigrationError

SHIPPED = load_repeatables()
# The last numbered file written while functions were still defined in numbered files.
LAST_DEFINING_VERSION = 15
DEFINES = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:constraint\s+)?"
    r"(?:function|procedure|(?:materialized\s+)?view|trigger)\b",
    re.IGNORECASE,
)
# What a file named <name>.sql must create: the object of that name.
CREATES = re.compile(
    r"^create\s+or\s+replace\s+(?:function|view)\s+(\w+)|^create\s+trigger\s+(\w+)",
    re.IGNORECASE | re.MULTILINE,
)
ROOT = Path(__file__).resolve().parents[3]


def test_repeatable_files_ship_and_load_in_a_dependency_safe_order() -> None:
    names = [r.name for r in SHIPPED]
    assert {"fold_statistics", "h3_parent", "incident_facts_of", "incident_facts"} <= set(names)
    position = {name: index for index, name in enumerate(names)}
    for repeatable in SHIPPED:
        for required in repeatable.requires:
            assert position[required] < position[repeatable.name], (repeatable.name, required)
    # The view sorts before its function by name; the declared order puts it after.
    assert position["incident_facts_of"] < position["incident_facts"]


@pytest.mark.parametrize("repeatable", SHIPPED, ids=lambda r: r.name)
def test_each_file_creates_exactly_the_object_it_is_named_after(repeatable: Repeatable) -> None:
    created = [function or trigger for function, trigger in CREATES.findall(repeatable.sql)]
    assert created == [repeatable.name]
    if re.search(r"^create\s+trigger", repeatable.sql, re.IGNORECASE | re.MULTILINE):
        # Idempotent: a trigger has no "or replace" on every supported server.
        assert re.search(rf"^drop trigger if exists {repeatable.name} on ", repeatable.sql, re.M)
    assert not re.search(r"\b00\d\d\b", repeatable.sql), "a comment names a numbered file"


def test_numbered_files_after_the_repeatable_ones_define_no_function_view_or_trigger() -> None:
    offending = [
        f"{m.version:04d}_{m.name}.sql"
        for m in load_migrations()
        if m.version > LAST_DEFINING_VERSION and DEFINES.search(m.sql)
    ]
    assert offending == [], (
        "define functions, views and triggers in migrations/repeatable/<name>.sql; "
        "a numbered file may only drop one that is retired"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "create function f() returns int language sql as $$ select 1 $$",
        "CREATE OR REPLACE FUNCTION f() returns int",
        "create  or\n  replace function f()",
        "create view v as select 1",
        "create or replace view v as select 1",
        "create materialized view m as select 1",
        "create trigger t before update on x for each row execute function f()",
        "create constraint trigger t after insert on x",
        "create procedure p() language sql as $$ $$",
    ],
)
def test_the_frozen_file_check_catches_every_way_of_defining(sql: str) -> None:
    assert DEFINES.search(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "drop function ingest_report(uuid)",
        "drop view if exists incident_facts",
        "drop trigger audit_log_no_truncate on audit_log",
        "create table functional (id int)",
        "create index view_idx on t (a)",
    ],
)
def test_the_frozen_file_check_lets_tables_and_drops_through(sql: str) -> None:
    assert not DEFINES.search(sql)


def test_order_follows_requirements_then_names() -> None:
    files = [
        Repeatable("b_view", "-- requires: z_function\ncreate or replace view b_view as select 1"),
        Repeatable("z_function", "select 1"),
        Repeatable("a_plain", "select 1"),
        Repeatable("c_trigger", "-- requires: b_view, z_function\nselect 1"),
    ]
    assert [r.name for r in in_order(files)] == ["a_plain", "z_function", "b_view", "c_trigger"]
    assert with_dependents(in_order(files), {"z_function"}) == {
        "z_function",
        "b_view",
        "c_trigger",
    }
    assert with_dependents(in_order(files), {"a_plain"}) == {"a_plain"}


def test_a_requirement_without_a_file_is_refused() -> None:
    with pytest.raises(MigrationError, match=r"a\.sql requires missing, but no missing\.sql"):
        in_order([Repeatable("a", "-- requires: missing\nselect 1")])


def test_requirements_in_a_cycle_are_refused() -> None:
    files = [
        Repeatable("a", "-- requires: b\nselect 1"),
        Repeatable("b", "-- requires: a\nselect 1"),
        Repeatable("c", "select 1"),
    ]
    with pytest.raises(MigrationError, match=r"cycle: \['a', 'b'\]"):
        in_order(files)
    with pytest.raises(MigrationError, match="requires itself"):
        in_order([Repeatable("a", "-- requires: a\nselect 1")])


def test_checksum_follows_every_byte() -> None:
    one = Repeatable("f", "select 1")
    assert one.checksum == Repeatable("f", "select 1").checksum
    assert one.checksum != Repeatable("f", "select 1 ").checksum


def test_the_package_carries_the_repeatable_files() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    # Packages are discovered: the include patterns must take in the folder's package.
    included = setuptools["packages"]["find"]["include"]
    assert any(fnmatch("migrations.repeatable", pattern) for pattern in included)
    assert "*.sql" in setuptools["package-data"]["migrations.repeatable"]
    on_disk = sorted(p.stem for p in (ROOT / "migrations" / "repeatable").glob("*.sql"))
    assert on_disk == sorted(r.name for r in SHIPPED)
