"""The client address and scheme behind a trusted reverse proxy (``PLAINSIGHT_TRUSTED_PROXIES``).

uvicorn's ProxyHeadersMiddleware does the work: when the TCP peer is a trusted proxy, the
scope's ``client`` becomes the right-most ``X-Forwarded-For`` entry that is not itself a
trusted proxy, and ``scheme`` the ``X-Forwarded-Proto`` value. From any other peer both
headers are ignored, so a client cannot name its own address to escape a per-address limit.
It runs here, inside the app, rather than as uvicorn's ``proxy_headers`` option (``serve``
turns that off), so the tests' server and production apply the same list.

What uvicorn would accept but the limits cannot use is undone: a forwarded "address" that is
not an IP address (garbage, ``unknown``, a name) leaves the proxy's own address as the client,
which every such request then shares: held to one limit, never a way around it. A scheme other
than http or https leaves the connection's own. The address is only ever hashed
(api.middleware.limiter), never logged.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any, Final, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from schemas.trusted_proxies import Network, trusted_hosts

# Where the connection's own (client, scheme) wait while uvicorn's middleware runs.
_PEER: Final = "plainsight.peer"
HTTP_SCHEMES: Final = frozenset({"http", "https"})
# An IPv6 address with an IPv4 tail and a zone id; anything longer is not an address.
_LONGEST_ADDRESS: Final = 64


def forwarded_headers(networks: tuple[Network, ...]) -> Callable[[ASGIApp], ASGIApp]:
    """A middleware factory for Litestar's ``middleware=[...]``; put it first."""
    hosts = trusted_hosts(networks)

    def factory(app: ASGIApp) -> ASGIApp:
        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            raw = cast(dict[str, Any], scope)
            peer, scheme = raw.pop(_PEER)
            client = raw.get("client")
            if client is not peer and not _is_address(client):
                raw["client"] = peer
            if raw.get("scheme") not in HTTP_SCHEMES:
                raw["scheme"] = scheme
            await app(scope, receive, send)

        proxy = ProxyHeadersMiddleware(cast(Any, checked), trusted_hosts=hosts)

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            cast(dict[str, Any], scope)[_PEER] = (scope.get("client"), scope.get("scheme"))
            await proxy(cast(Any, scope), cast(Any, receive), cast(Any, send))

        return middleware

    return factory


def _is_address(client: object) -> bool:
    if not isinstance(client, tuple) or not client or not isinstance(client[0], str):
        return False
    return len(client[0]) <= _LONGEST_ADDRESS and _parses(client[0])


# Parsing costs ~4 us; the same few clients come back again and again.
@functools.lru_cache(maxsize=4096)
def _parses(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
