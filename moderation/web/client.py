"""Who is asking: the client's address behind configured trusted proxies.

Every ``X-Forwarded-For`` hop is validated as an address before it can become a client address
(the rate-limit key, the IP stored with a comment, what Akismet is told): forms proxies write
(``203.0.113.7``, ``203.0.113.7:5678``, ``[2001:db8::1]:80``, ``"[2001:db8::1]"``) become the bare
canonical address, so the port a proxy appends cannot give every connection a key of its own;
anything else is garbage and never a client address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from flask import Request, request

from moderation.web import current

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# How many hops, from the right, are looked at: real chains are a few proxies long, and a header
# of thousands of trusted-looking hops is no reason to parse them all.
MAX_HOPS = 32
# An IPv4 address with a port (what some proxies write), or an IPv6 one in brackets with or
# without a port (RFC 7239's form); a bare IPv6 address is tried as is.
_IPV4_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$")


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """Trusted proxies as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def parse_hop(hop: str) -> Address | None:
    """The address one ``X-Forwarded-For`` entry names, ports and brackets taken off and an
    IPv4-mapped IPv6 address read as IPv4; None for anything else (a name, ``unknown``, an
    obfuscated identifier, a port out of range, junk)."""
    text = hop.strip().strip('"').strip()
    port = None
    match = _IPV4_PORT.match(text) or _BRACKETED.match(text)
    if match:
        text, port = match.group(1), match.group(2)
    if port is not None and not 0 < int(port) < 65536:
        return None
    if "%" in text:  # a zone id names an interface of the proxy, not a client
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_ip(req: Request | None = None, networks: Sequence[Network] | None = None) -> str:
    """The client's IP: the peer, unless the peer is a trusted proxy; then the right-most
    ``X-Forwarded-For`` hop that is not itself a trusted proxy, as a bare address.

    Headers from anyone else are ignored, so a client cannot choose its own rate-limit key. A
    hop that is no address ends the walk with the peer: what a trusted proxy appends is always
    valid, so garbage there means the rest of the header (further left) may be the client's own
    writing. Several headers are one list, in order. When every hop looked at is trusted, the
    left-most of them (a request from inside); past `MAX_HOPS` hops, the peer.
    """
    req = req or request
    if networks is None:
        networks = current.parts().trusted_proxies
    # No peer address (a unix socket, a bare WSGI call) must still be limited: one shared key.
    peer = req.remote_addr or "unknown"
    if not networks or not _trusted(parse_hop(peer), networks):
        return peer
    hops = [h for value in req.headers.getlist("X-Forwarded-For") for h in value.split(",")]
    hops = [h for h in hops if h.strip()]
    left_most: Address | None = None
    for hop in reversed(hops[-MAX_HOPS:]):
        address = parse_hop(hop)
        if address is None:
            return peer
        if not _trusted(address, networks):
            return str(address)
        left_most = address
    if left_most is None or len(hops) > MAX_HOPS:
        return peer
    return str(left_most)
