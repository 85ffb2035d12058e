"""Structured JSON logs, one object per line. No IP address and no query string, ever."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

# LogRecord attributes that are not caller-supplied ``extra`` fields.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Server access logs carry the client address: they stay off (we log our own, without it).
    for name in ("uvicorn.access", "granian.access"):
        logging.getLogger(name).disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
