"""The one hardened fetcher for every outbound page fetch (linkback sources, endpoint discovery).

A linkback makes us fetch a URL that a stranger chose. Done naively that is a server-side request
forgery hole (reach 127.0.0.1, the LAN, the cloud metadata service) and a denial-of-service lever
(PROTOCOLS.md §3.6, WM-S2 to WM-S7). So every fetch made through `Fetcher`:

* allows http and https only, and refuses ``user:password@`` URLs (we never send credentials);
* resolves the host once, refuses it unless every address is public (`is_public_address`), and
  pins the connection to the checked address. httpcore gets a network backend that connects to
  that IP whatever host it asks for, so no second DNS lookup can answer differently (DNS
  rebinding). The URL keeps the hostname, so the Host header, TLS SNI and the certificate check
  all use the name;
* follows redirects itself (at most 5), and checks the scheme, port and address again on every hop;
* bounds each connect and read by a timeout and the whole fetch by one deadline. The deadline is
  enforced in the socket wrapper, so a server that drips a byte at a time is still cut off;
* caps the body (after any gzip decoding) and stops reading past the cap;
* returns HTML only, decoded with the declared charset, else a ``<meta>`` charset, else UTF-8;
* limits fetches per host per minute, names the service in its User-Agent and never sends cookies.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from moderation import __version__
from moderation.config import FetchSettings
from moderation.net.guarded import (
    DEFAULT_PORTS,
    BlockedAddress,
    Deadline,
    FetchError,
    FetchFailed,
    HostRateLimited,
    NotHtml,
    Resolver,
    TooLarge,
    TooManyRedirects,
    default_ssl_context,
    host_header,
    is_public_address,
    parse_url,
    pinned_stream,
    system_resolver,
    transport_errors,
)

__all__ = ["FetchResult", "Fetcher"]

DEFAULT_USER_AGENT = f"moderation/{__version__} (linkback verification)"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


@dataclass(frozen=True)
class FetchResult:
    """An HTML page, or any answer with a 4xx/5xx status (its text is empty unless it is HTML)."""

    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers  # case-insensitive; `get_list("link")` for Webmention discovery
    content_type: str  # the media type alone, lower-case: "text/html"
    encoding: str  # the codec `text` was decoded with
    text: str
    truncated: bool  # the body was longer than max_bytes; `text` holds the first max_bytes
    redirects: tuple[str, ...]  # the URLs that answered with a redirect, in order


class _HostBuckets:
    """One token bucket per host: `per_minute` fetches a minute, in bursts of at most that many."""

    _MAX_HOSTS = 10_000

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        if per_minute < 1:
            raise ValueError("per_host_per_minute must be at least 1")
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # host -> (tokens, when counted)
        self._lock = threading.Lock()  # one Fetcher serves every worker thread

    def take(self, host: str) -> float:
        """Spend one token of `host`; return 0, or how many seconds until one is free."""
        with self._lock:
            now = self._clock()
            tokens = self._tokens(host, now)
            if tokens < 1:
                return (1 - tokens) / self._rate
            self._buckets[host] = (tokens - 1, now)
            if len(self._buckets) > self._MAX_HOSTS:
                self._forget_full(now)
            return 0.0

    def _tokens(self, host: str, now: float) -> float:
        tokens, then = self._buckets.get(host, (self._capacity, now))
        return min(self._capacity, tokens + (now - then) * self._rate)

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as no bucket: drop those so memory stays bounded.
        for host in [h for h in self._buckets if self._tokens(h, now) >= self._capacity]:
            del self._buckets[host]


class Fetcher:
    """Fetches untrusted URLs safely; build one per process and share it between threads.

    ``settings.timeout`` is the deadline for a whole fetch, redirects included; `connect_timeout`
    and `read_timeout` (default: the same) bound each connect and each read within it.
    ``settings.max_bytes`` caps the body: by default the first `max_bytes` are returned with
    ``truncated=True``; with ``refuse_oversize=True`` a longer body raises `TooLarge`.
    ``settings.allow_private`` turns the address check off; only tests should do that.
    `resolver` and `clock` are injectable for tests. `clock` drives the per-host rate limit only:
    timeouts and the deadline are real time, because sockets wait in real time.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_redirects: int = 5,
        per_host_per_minute: int = 30,
        refuse_oversize: bool = False,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        allowed_ports: Collection[int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._user_agent = user_agent.encode("ascii")
        self._resolver = resolver or system_resolver
        self._buckets = _HostBuckets(per_host_per_minute, clock)
        self._max_redirects = max_redirects
        self._refuse_oversize = refuse_oversize
        self._connect_timeout = connect_timeout or settings.timeout
        self._read_timeout = read_timeout or settings.timeout
        self._ports = None if allowed_ports is None else frozenset(allowed_ports)
        self._ssl = ssl_context or default_ssl_context()

    def fetch(self, url: str) -> FetchResult:
        """GET `url`, following up to `max_redirects` redirects, and return the HTML page.

        A 4xx or 5xx answer is returned with its status, not raised: linkback verification must
        tell a 410 (gone: delete the mention) from a 404. Anything else that stops the fetch
        raises a `FetchError` subclass whose `url` is the hop that failed.
        """
        deadline = Deadline(self._settings.timeout)
        target = parse_url(url)
        redirects: list[str] = []
        while True:
            try:
                answer = self._hop(target, deadline, redirects)
            except FetchError as exc:
                exc.url = exc.url or str(target)
                raise
            if isinstance(answer, FetchResult):
                return answer
            redirects.append(str(target))
            if len(redirects) > self._max_redirects:
                raise TooManyRedirects(f"more than {self._max_redirects} redirects", url=url)
            target = answer

    def _hop(
        self, target: httpx.URL, deadline: Deadline, redirects: list[str]
    ) -> FetchResult | httpx.URL:
        """One request: the page, or the URL it redirects to."""
        address = self._pin(target)
        with transport_errors(), self._open(target, address, deadline) as response:
            headers = httpx.Headers(response.headers)
            location = headers.get("location")
            if response.status in REDIRECT_STATUSES and location:
                return parse_url(location, base=target)
            return self._page(target, response, headers, redirects)

    @contextmanager
    def _open(
        self, url: httpx.URL, address: str, deadline: Deadline
    ) -> Iterator[httpcore.Response]:
        """Send the GET to `address` over a new connection and stream the answer."""
        headers, extensions = self._headers(url), self._extensions()
        with pinned_stream(
            "GET", url, address, deadline, headers, extensions, ssl_context=self._ssl
        ) as response:
            yield response

    def _pin(self, url: httpx.URL) -> str:
        """Check this hop's URL and host, and return the one address to connect to."""
        port = url.port or DEFAULT_PORTS[url.scheme]
        if self._ports is not None and port not in self._ports:
            raise BlockedAddress(f"port {port} is not allowed")
        host = url.raw_host.decode("ascii")
        wait = self._buckets.take(host)
        if wait:
            raise HostRateLimited(f"too many fetches from {host}", retry_after=wait)
        addresses = self._addresses(host, port)
        refused = [a for a in addresses if not is_public_address(a)]
        # Every answer must be public, not just the first: a mixed answer is a rebinding attempt.
        if refused and not self._settings.allow_private:
            raise BlockedAddress(f"{host} has a non-public address: {refused[0]}")
        return addresses[0]

    def addresses_of(self, url: str) -> list[str]:
        """The addresses `url`'s host resolves to, through this fetcher's resolver; empty when it
        does not resolve (TB-D2 compares a pinging server's IP with them)."""
        try:
            parsed = parse_url(url)
            return self._addresses(parsed.host, parsed.port or DEFAULT_PORTS[parsed.scheme])
        except FetchError:
            return []

    def _addresses(self, host: str, port: int) -> list[str]:
        """Resolve `host` once (an IP literal is not looked up)."""
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            addresses = list(dict.fromkeys(self._resolver(host, port)))
        except OSError as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise FetchFailed(f"{host} has no address")
        return addresses

    def _headers(self, url: httpx.URL) -> list[tuple[bytes, bytes]]:
        # No Cookie and no Authorization, ever: each hop starts from these headers only.
        return [
            (b"Host", host_header(url)),
            (b"User-Agent", self._user_agent),
            (b"Accept", ACCEPT),
            (b"Accept-Encoding", b"gzip"),
            (b"Connection", b"close"),
        ]

    def _extensions(self) -> dict[str, Any]:
        connect, read = self._connect_timeout, self._read_timeout
        return {"timeout": {"connect": connect, "read": read, "write": read, "pool": connect}}

    def _page(
        self,
        url: httpx.URL,
        response: httpcore.Response,
        headers: httpx.Headers,
        redirects: list[str],
    ) -> FetchResult:
        """Check the content type, then read and decode the body."""
        media_type, charset = _content_type(headers.get("content-type", ""))
        is_html = media_type in HTML_TYPES
        if not is_html and response.status < 400:
            raise NotHtml(f"not an HTML page: {media_type or 'no content type'}")
        body, truncated = self._read(response, headers) if is_html else (b"", False)
        text, encoding = _decode(body, charset)
        return FetchResult(
            url=str(url),
            status=response.status,
            headers=headers,
            content_type=media_type,
            encoding=encoding,
            text=text,
            truncated=truncated,
            redirects=tuple(redirects),
        )

    def _read(self, response: httpcore.Response, headers: httpx.Headers) -> tuple[bytes, bool]:
        """Read at most max_bytes of (decoded) body; stop reading as soon as the cap is passed."""
        limit = self._settings.max_bytes
        if self._refuse_oversize and _content_length(headers) > limit:
            raise TooLarge(f"the page is larger than {limit} bytes")
        decoder = _BodyDecoder(headers.get("content-encoding", ""))
        body, raw = bytearray(), 0
        for chunk in response.iter_stream():
            raw += len(chunk)
            # The decoder never yields more than we still want, so a gzip bomb stays a small one.
            body += decoder.feed(chunk, limit + 1 - len(body))
            if len(body) > limit or raw > limit or decoder.done:
                break
        truncated = len(body) > limit or raw > limit
        if truncated and self._refuse_oversize:
            raise TooLarge(f"the page is larger than {limit} bytes")
        return bytes(body[:limit]), truncated


def _content_type(value: str) -> tuple[str, str | None]:
    """The media type (lower-case) and the charset parameter of a Content-Type header."""
    media_type, _, params = value.partition(";")
    match = re.search(r"""charset\s*=\s*["']?([^"';\s]+)""", params, re.IGNORECASE)
    return media_type.strip().lower(), match.group(1) if match else None


def _content_length(headers: httpx.Headers) -> int:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else -1


class _BodyDecoder:
    """Undo a gzip/deflate Content-Encoding without ever producing more than asked for."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchFailed(f"unsupported content encoding {encoding!r}")
        identity = encoding in ("", "identity")
        # wbits 32+15: accept a gzip or a zlib header, whichever the server sent.
        self._zlib = None if identity else zlib.decompressobj(32 + zlib.MAX_WBITS)

    @property
    def done(self) -> bool:
        """The compressed stream has ended (trailing bytes are ignored, not accumulated)."""
        return self._zlib is not None and self._zlib.eof

    def feed(self, chunk: bytes, max_length: int) -> bytes:
        """Decoded bytes of `chunk`, at most `max_length` of them when compressed."""
        if self._zlib is None:
            return chunk
        try:
            return self._zlib.decompress(chunk, max_length)
        except zlib.error as exc:
            raise FetchFailed(f"corrupt compressed body: {exc}") from exc


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Matches <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def _decode(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode as browsers do: a BOM, else the header's charset, else a meta charset, else UTF-8."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, "replace"), name
    match = _META_CHARSET.search(body[:1024])  # browsers look for it in the first 1024 bytes
    meta = match.group(1).decode("ascii") if match else None
    for label in (declared, meta):
        codec = _codec(label)
        if codec:
            return body.decode(codec, "replace"), codec
    return body.decode("utf-8", "replace"), "utf-8"


def _codec(label: str | None) -> str | None:
    """The Python text codec for a charset label; None for unknown or non-text ones and UTF-7.

    UTF-7 is refused as browsers refuse it: it smuggles ``<script>`` past ASCII-minded filters.
    """
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip())
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib…: not a charset
        return None
    return None if info.name == "utf-7" else info.name
