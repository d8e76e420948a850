"""Who is asking: the client's address behind configured trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from flask import Request, request

from moderation.web import current

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """Trusted proxies as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(addr: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(req: Request | None = None, networks: Sequence[Network] | None = None) -> str:
    """The client's IP: the peer, unless the peer is a trusted proxy; then the right-most
    ``X-Forwarded-For`` hop that is not itself a trusted proxy. Headers from anyone else are
    ignored, so a client cannot choose its own rate-limit key."""
    req = req or request
    if networks is None:
        networks = current.parts().trusted_proxies
    # No peer address (a unix socket, a bare WSGI call) must still be limited: one shared key.
    peer = req.remote_addr or "unknown"
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in req.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer
