"""Serve an app over a real TCP socket with uvicorn, inside the test's own event loop.

Tests talk to the service through the same HTTP stack as production (uvicorn's parser, real
sockets, real headers) while the app still uses the test's rolled-back connection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import uvicorn
from litestar import Litestar


@asynccontextmanager
async def live_server(app: Litestar, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Yield the base URL of ``app`` served on ``host`` (IPv4 or IPv6) at a free port; stop it
    afterwards."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says it is TCP (protocol 0 cost ~44 ms per kept-alive request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        cast(Any, app),
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raise what stopped the server
                raise RuntimeError("test server stopped before it started")
            await asyncio.sleep(0.001)
        yield f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
