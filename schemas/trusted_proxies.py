"""``PLAINSIGHT_TRUSTED_PROXIES`` as operators write it: comma-separated IP addresses and CIDR
networks, IPv4 or IPv6 (``10.0.0.5, 10.1.0.0/16, fd00::/8``).

Only a peer in this list may name the client in ``X-Forwarded-For`` and the scheme in
``X-Forwarded-Proto`` (api/middleware/forwarded.py). Every entry is checked here, strictly:
uvicorn's middleware, which applies the list, would quietly treat a mistyped entry as a
literal that never matches, and the operator would only see every client share one limit.
"""

from __future__ import annotations

import functools
import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# More entries than any real deployment has proxies; each one is checked per request.
MAX_ENTRIES = 64


@functools.lru_cache(maxsize=8)
def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` → the networks (an address is its /32 or /128)."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"at most {MAX_ENTRIES} entries; got {len(entries)}")
    networks: list[Network] = []
    for entry in entries:
        if entry == "*":
            # uvicorn would believe every peer; that lets any client pick its own address.
            raise ValueError("'*' is not accepted: list the proxies' addresses or networks")
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network ({exc})") from exc
    return tuple(networks)


def trusted_hosts(networks: tuple[Network, ...]) -> list[str]:
    """The list handed to uvicorn's ProxyHeadersMiddleware. An IPv4 entry also admits its
    IPv4-mapped IPv6 form: a server listening on ``::`` sees IPv4 peers as ``::ffff:a.b.c.d``."""
    hosts: list[str] = []
    for network in networks:
        hosts.append(_host(network))
        if isinstance(network, ipaddress.IPv4Network):
            mapped = ipaddress.IPv6Network(
                (f"::ffff:{network.network_address}", 96 + network.prefixlen)
            )
            hosts.append(_host(mapped))
    return hosts


def _host(network: Network) -> str:
    # uvicorn compares single addresses by value and networks by membership.
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)
