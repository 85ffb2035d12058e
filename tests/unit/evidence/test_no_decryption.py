"""The service can seal but never open: no module it ships decrypts with age or handles an age
identity (secret key). A guard over the source, so a later change that would need a secret key
on the server shows up in review."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("api", "schemas", "storage")
FORBIDDEN = re.compile(r"\bdecrypt(_io|_file)?\b|\bIdentity\b|passphrase")


def test_no_shipped_module_decrypts_or_holds_an_identity() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in SHIPPED
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FORBIDDEN.search(line) and "pyrage" in path.read_text()
    ]
    assert offending == []


def test_the_guard_sees_what_it_looks_for() -> None:
    assert FORBIDDEN.search("from pyrage import decrypt")
    assert FORBIDDEN.search("x25519.Identity.from_str(secret)")
    assert not FORBIDDEN.search("pyrage.encrypt_io(reader, out, recipients)")
