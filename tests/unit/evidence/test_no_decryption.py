"""The service can seal but never open: no module it ships decrypts with age or handles an age
identity (secret key). A guard over the source, so a later change that would need a secret key
on the server shows up in review.

One exception, named here: ``plainsight restore`` opens an encrypted backup archive with an
identity file the operator gives on its command line (storage/backup/archive.py), read once
and never stored. Those modules never touch sealed originals (a backup copies them as sealed
files), and the serving process never imports them: checked below in a fresh interpreter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("api", "schemas", "storage")
FORBIDDEN = re.compile(r"\bdecrypt(_io|_file)?\b|\bIdentity\b|passphrase")
# The restore command, and the module opening backup archives for it.
BACKUP_RESTORE = {"api/backup_command.py", "storage/backup/archive.py", "storage/backup/restore.py"}


def test_no_shipped_module_decrypts_or_holds_an_identity() -> None:
    offending = [
        f"{relative}:{number}: {line.strip()}"
        for package in SHIPPED
        for path in sorted((ROOT / package).rglob("*.py"))
        if (relative := path.relative_to(ROOT).as_posix()) not in BACKUP_RESTORE
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FORBIDDEN.search(line) and "pyrage" in path.read_text()
    ]
    assert offending == []


def test_the_exception_is_still_needed_and_opens_only_backups() -> None:
    # A stale exemption would hide a later change to these files: each one must still need it.
    for relative in BACKUP_RESTORE:
        assert FORBIDDEN.search((ROOT / relative).read_text()), relative
    # The archive reader imports nothing of the sealed-originals store (storage/evidence).
    for relative in BACKUP_RESTORE:
        assert "storage.evidence" not in (ROOT / relative).read_text(), relative


def test_the_serving_process_never_loads_the_restore() -> None:
    script = (
        "import json, sys\n"
        "import api.server, api.app, api.cli\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('storage.backup'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []


def test_the_guard_sees_what_it_looks_for() -> None:
    assert FORBIDDEN.search("from pyrage import decrypt")
    assert FORBIDDEN.search("x25519.Identity.from_str(secret)")
    assert not FORBIDDEN.search("pyrage.encrypt_io(reader, out, recipients)")
