"""The guarded connection under every outbound request: `Fetcher`'s GETs (`moderation.net.fetcher`, whose
docstring gives the threat model) and `Poster`'s POSTs (`moderation.services.sending`).

* the errors a fetch or a post raises (`FetchError` and its subclasses);
* the URLs we may request (`parse_url`: http and https only, no credentials);
* the address policy (`is_public_address`) and DNS resolution (`system_resolver`);
* the connection pinned to the checked address (`PinnedBackend`) under one deadline for the whole
  request (`Deadline`), and httpcore's exceptions turned into ours (`transport_errors`).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import certifi
import httpcore
import httpx

__all__ = [
    "BadScheme",
    "BadUrl",
    "BlockedAddress",
    "FetchError",
    "FetchFailed",
    "HostRateLimited",
    "NotHtml",
    "Timeout",
    "TooLarge",
    "TooManyRedirects",
    "is_public_address",
    "system_resolver",
]

Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """A fetch gave no usable page; `reason` says why in words a moderator can read."""

    code = "fetch_error"

    def __init__(self, reason: str, *, url: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url


class BadUrl(FetchError):
    """The URL is malformed, has no host, or carries credentials."""

    code = "bad_url"


class BadScheme(BadUrl):
    """The URL is not http or https (ftp:, file:, gopher:, javascript: ...)."""

    code = "bad_scheme"


class BlockedAddress(FetchError):
    """The host is, or resolves to, a non-public address, or its port is not allowed."""

    code = "blocked_address"


class TooManyRedirects(FetchError):
    """The redirect chain is longer than the fetcher follows."""

    code = "too_many_redirects"


class TooLarge(FetchError):
    """The body is larger than the cap (only when the fetcher refuses oversized pages)."""

    code = "too_large"


class Timeout(FetchError):
    """A connect or read took too long, or the whole fetch ran past its deadline."""

    code = "timeout"


class NotHtml(FetchError):
    """The answer is not an HTML page, so there is nothing to parse for links."""

    code = "not_html"


class HostRateLimited(FetchError):
    """We fetched from this host too often lately; try again after `retry_after` seconds."""

    code = "host_rate_limited"

    def __init__(self, reason: str, *, url: str = "", retry_after: float) -> None:
        super().__init__(reason, url=url)
        self.retry_after = retry_after


class FetchFailed(FetchError):
    """DNS, connection, TLS or HTTP protocol failure."""

    code = "fetch_failed"


# Refused whatever this Python's `ipaddress` tables say (they changed between 3.11 patch
# releases); `is_global` then covers the rest of the IANA special-purpose registries.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        *("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"),
        *("172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4"),
        *("240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(ip: str) -> bool:
    """True when `ip` is a global unicast address that a fetch may connect to.

    Refuses private, loopback, link-local (169.254.169.254, the cloud metadata service),
    shared (100.64/10), unique-local (fc00::/7), multicast, unspecified and reserved addresses,
    and IPv6 forms that embed such an IPv4 address (IPv4-mapped, NAT64, 6to4). Not an IP: False.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    embedded = _embedded_ipv4(addr)
    if embedded is not None:
        return is_public_address(str(embedded))
    if any(addr in net for net in _BLOCKED_NETWORKS):
        return False
    return addr.is_global and not (addr.is_multicast or addr.is_reserved)


def _embedded_ipv4(addr: _IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (::ffff:a.b.c.d, NAT64, 6to4), else None."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return None
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr.ipv4_mapped or addr.sixtofour


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class Deadline:
    """One wall-clock budget for a whole fetch, redirects included.

    Per-read timeouts alone do not bound a fetch: a server that sends one byte just before each
    timeout keeps us forever. So every socket operation is given at most the time that is left.
    """

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def clamp(self, limit: float | None) -> float:
        """`limit` cut down to the time left; raise `Timeout` once none is left."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise Timeout("the fetch ran past its deadline")
        return left if limit is None else min(limit, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read, write and TLS handshake respects the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read what has arrived, waiting no longer than the timeout or the deadline."""
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send `buffer`, waiting no longer than the timeout or the deadline."""
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        """Close the socket."""
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Handshake (SNI and certificate check against `server_hostname`, the URL's host)."""
        tls = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        """Pass through (httpcore asks for the ``ssl_object`` to see the negotiated protocol)."""
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the address checked for this hop, never to what the host resolves to now."""

    def __init__(self, host: str, address: str, deadline: Deadline) -> None:
        self._host = host
        self._address = address
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Open a TCP connection to the pinned address (the pool asks for the URL's host)."""
        if host != self._host:  # a pool serves one origin; anything else would be a bug here
            raise httpcore.ConnectError(f"refusing to connect to unchecked host {host!r}")
        limit = self._deadline.clamp(timeout)
        stream = self._inner.connect_tcp(self._address, port, limit, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Never: fetches go over TCP to a checked address only."""
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        """Wait (httpcore only sleeps between connect retries, and we ask for none)."""
        time.sleep(seconds)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Certificate checks against certifi's roots, as httpx does; built once (it takes ~50 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


@contextmanager
def transport_errors() -> Iterator[None]:
    """Turn httpcore's exceptions into ours, so callers handle one tree."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise Timeout(f"timed out ({type(exc).__name__})") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc


def parse_url(url: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Parse (and resolve against `base`, for a Location) a URL we may fetch."""
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BadUrl(f"not a valid URL: {url!r}") from exc
    if parsed.scheme not in DEFAULT_PORTS:
        raise BadScheme(f"only http and https URLs are fetched, not {parsed.scheme or 'none'}:")
    if not parsed.raw_host:
        raise BadUrl(f"the URL has no host: {url!r}")
    if parsed.userinfo:
        raise BadUrl("URLs with credentials are not fetched")
    return parsed.copy_with(fragment=None)


def core_url(url: httpx.URL) -> httpcore.URL:
    """The URL for httpcore. The host stays the name (for SNI); the backend does the pinning."""
    scheme, host, target = url.raw_scheme, url.raw_host, url.raw_path
    return httpcore.URL(scheme=scheme, host=host, port=url.port, target=target)


@contextmanager
def pinned_stream(
    method: str,
    url: httpx.URL,
    address: str,
    deadline: Deadline,
    headers: list[tuple[bytes, bytes]],
    extensions: dict[str, Any],
    *,
    content: bytes | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[httpcore.Response]:
    """One request to `url` over a new connection to `address` (already checked), streamed. A new
    pool per request: a connection is never reused for another request's checked address."""
    backend = PinnedBackend(url.raw_host.decode("ascii"), address, deadline)
    pool = httpcore.ConnectionPool(
        ssl_context=ssl_context or default_ssl_context(), network_backend=backend, retries=0
    )
    with (
        pool,
        pool.stream(
            method, core_url(url), headers=headers, content=content, extensions=extensions
        ) as response,
    ):
        yield response


def host_header(url: httpx.URL) -> bytes:
    """The Host header's value for `url` (the port only when it is not the scheme's default)."""
    host = url.raw_host
    if b":" in host:  # an IPv6 literal
        host = b"[" + host + b"]"
    if url.port is None or url.port == DEFAULT_PORTS[url.scheme]:
        return host
    return host + b":%d" % url.port
