"""Durability of file-system entries, shared by every store that writes files."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(path: Path) -> None:
    """Make the entries of ``path`` (a new, renamed or removed file) durable (POSIX): fsync on
    the file alone does not persist its name in the directory."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
