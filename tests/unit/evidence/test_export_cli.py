"""``plainsight evidence export``: its arguments and where the bundle goes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from api.cli import build_parser
from api.evidence_export import bundle_path, run_evidence_export

REPORT = uuid.UUID("01939b6e-0000-7000-8000-000000000017")


def test_the_default_is_a_tar_named_after_the_report_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert bundle_path(None, REPORT) == tmp_path / f"evidence-{REPORT}.tar"


def test_an_existing_directory_gets_the_default_name_inside(tmp_path: Path) -> None:
    assert bundle_path(tmp_path, REPORT) == tmp_path / f"evidence-{REPORT}.tar"


def test_any_other_path_is_the_bundle_itself(tmp_path: Path) -> None:
    assert bundle_path(tmp_path / "case-17.tar", REPORT) == tmp_path / "case-17.tar"
    assert bundle_path(tmp_path / "new" / "x", REPORT) == tmp_path / "new" / "x"


def test_the_command_parses_report_and_out() -> None:
    args = build_parser().parse_args(["evidence", "export", str(REPORT), "--out", "b.tar"])
    assert args.handler is run_evidence_export
    assert args.report_id == str(REPORT)
    assert args.out == Path("b.tar")


@pytest.mark.parametrize(
    "argv", [["evidence"], ["evidence", "export"], ["evidence", "import", str(REPORT)]]
)
def test_incomplete_or_unknown_actions_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
