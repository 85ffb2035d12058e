"""The JSON log handler: what third-party libraries log reaches the output without a client
address; what our own loggers log is written as given."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from api.logs import JsonFormatter, PrivacyFilter


@pytest.fixture
def written() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PrivacyFilter())
    return handler, stream


def emit(
    written: tuple[logging.Handler, io.StringIO],
    name: str,
    msg: str,
    *args: object,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Log one record through the handler; the lines it wrote."""
    handler, stream = written
    start = stream.tell()
    record = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args or None, None)
    for key, value in fields.items():
        setattr(record, key, value)
    handler.handle(record)
    return [json.loads(line) for line in stream.getvalue()[start:].splitlines()]


def test_uvicorn_access_style_lines_are_dropped(
    written: tuple[logging.Handler, io.StringIO],
) -> None:
    lines = emit(
        written, "uvicorn.error", '%s - "WebSocket %s" %d', "10.1.2.3:5555", "/x?lat=1", 403
    )
    assert lines == []
    assert (
        emit(written, "uvicorn.access", '%s - "%s %s HTTP/%s" %d', "a", "GET", "/", "1.1", 2) == []
    )


@pytest.mark.parametrize(
    ("address", "port"),
    [("10.1.2.3", ":5555"), ("[2001:db8::7]", ":443"), ("::ffff:192.0.2.9", ""), ("::1", "")],
)
def test_addresses_in_library_messages_are_blanked(
    written: tuple[logging.Handler, io.StringIO], address: str, port: str
) -> None:
    [line] = emit(written, "h11", "peer %s went away at 20:00:52", address + port)
    assert line["message"] == "peer [address] went away at 20:00:52"


def test_addresses_in_library_tracebacks_are_blanked(
    written: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, stream = written
    try:
        raise ConnectionResetError("reset by 198.51.100.23:40001")
    except ConnectionResetError:
        logging.getLogger("asyncio").addHandler(handler)
        try:
            logging.getLogger("asyncio").exception("lost")
        finally:
            logging.getLogger("asyncio").removeHandler(handler)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert "198.51.100.23" not in stream.getvalue()
    assert "reset by [address]" in line["exception"]


def test_our_own_lines_and_the_bind_announcement_are_kept(
    written: tuple[logging.Handler, io.StringIO],
) -> None:
    [ours] = emit(written, "storage.db.embedded", "embedded postgresql stopped", pid=4242)
    assert ours["message"] == "embedded postgresql stopped"
    assert ours["pid"] == 4242
    [bind] = emit(
        written,
        "uvicorn.error",
        "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
        "http",
        "127.0.0.1",
        8000,
        color_message="\x1b[1m...\x1b[0m",
    )
    assert bind["message"] == "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"
    assert "color_message" not in bind


def test_the_advice_to_install_a_websocket_library_is_dropped(
    written: tuple[logging.Handler, io.StringIO],
) -> None:
    advice = "No supported WebSocket library detected. Please use pip install 'uvicorn[standard]'"
    assert emit(written, "uvicorn.error", advice) == []
    assert emit(written, "uvicorn.error", "Unsupported upgrade request.")[0]["level"] == "warning"
