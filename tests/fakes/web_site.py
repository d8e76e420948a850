"""A fake web site on 127.0.0.1 and a guard that keeps tests of outbound fetches off the network.

`FakeSite` is a real HTTP(S) server (stdlib, port 0, one thread per request) whose paths are plain
functions of the request handler; `send` writes an answer. The hostile behaviours a fetcher must
survive are here too: `redirect`, `loop`, `chain`, `drip_body`, `drip_headers`, `silent` and `huge`.

`guard_network` wraps ``socket.connect`` and ``socket.getaddrinfo`` for one test. A connect to
loopback goes through; a connect to one of the fake public addresses in `DIVERTED` is recorded and
sent to 127.0.0.1 on the same port; anything else fails the test before a packet leaves. Lookups are
numeric only, so there is no DNS traffic: names come from a `DNS` fake given to the fetcher. So a
test can say "public.test is 1.2.3.4", let the SSRF guard accept it, and still only ever talk to
its own loopback server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

PUBLIC = "1.2.3.4"  # public.test in `DNS`; connects to it are diverted to loopback
OTHER_PUBLIC = "5.6.7.8"  # other.test
DIVERTED = frozenset({PUBLIC, OTHER_PUBLIC})
MB = 1024 * 1024


@dataclass
class Network:
    """What the code under test tried to reach."""

    connects: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


def guard_network(monkeypatch: pytest.MonkeyPatch) -> Network:
    """Allow loopback only (diverting `DIVERTED` there) and numeric lookups only, for one test."""
    net = Network()
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: tuple) -> None:
        host, port = address[0], address[1]
        net.connects.append((host, port))
        if host in DIVERTED:
            address = ("127.0.0.1", port)
        elif not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"the test tried to connect to {host}")
        real_connect(sock, address)

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0) -> list:
        net.lookups.append(str(host))
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return net


class DNS:
    """A fake resolver for `Fetcher(resolver=...)`; records every question.

    `rebind` makes every answer after the first for a name different (DNS rebinding).
    """

    def __init__(self, zones: dict[str, list[str]]) -> None:
        self.zones = zones
        self.later: dict[str, list[str]] = {}
        self.calls: list[tuple[str, int]] = []

    def rebind(self, host: str, addresses: list[str]) -> None:
        """Answer `addresses` for `host` from its second question on."""
        self.later[host] = addresses

    def __call__(self, host: str, port: int) -> list[str]:
        asked_before = any(h == host for h, _ in self.calls)
        self.calls.append((host, port))
        if asked_before and host in self.later:
            return list(self.later[host])
        if host not in self.zones:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.zones[host])


def default_dns() -> DNS:
    """public.test and other.test (diverted to loopback), and names with non-public answers."""
    return DNS(
        {
            "public.test": [PUBLIC],
            "other.test": [OTHER_PUBLIC],
            "intranet.test": ["192.168.1.10"],
            "mixed.test": [PUBLIC, "10.0.0.1"],
            "empty.test": [],
        }
    )


@dataclass
class Seen:
    """One request the site received."""

    path: str
    headers: Message


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    """Dispatches GETs to the site's routes (HTTP/1.0: one request per connection)."""

    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        site.requests.append(Seen(self.path, self.headers))
        route = site.routes.get(urlsplit(self.path).path, not_found)
        # The fetcher hangs up on purpose past its cap or its deadline.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    @property
    def site(self) -> FakeSite:
        return self.server.site

    def query(self, name: str, default: str = "") -> str:
        """One query-string parameter of the request."""
        return parse_qs(urlsplit(self.path).query).get(name, [default])[0]

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: FakeSite

    def server_bind(self) -> None:
        # Skip HTTPServer's getfqdn(): a reverse DNS lookup nothing here needs.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class FakeSite:
    """A real HTTP (or, given a server context, HTTPS) server on 127.0.0.1, port 0.

    `routes` maps a path (without query) to a function of the `Handler`; unknown paths get a 404.
    Use as a context manager, or call `close`.
    """

    def __init__(self, routes: dict[str, Route] | None = None, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[Seen] = []
        self.sni: list[str] = []  # TLS server names asked for
        self.stopping = threading.Event()
        self.huge_sent, self.huge_done = 0, threading.Event()
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.site = self
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,))
        self.thread.start()

    def url(self, path: str, host: str = "public.test", scheme: str = "http") -> str:
        """The URL of `path` on this site, under `host` (give the fetcher a `DNS` for it)."""
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        """Stop serving; slow handlers notice `stopping` and end too."""
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> FakeSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def send(h: Handler, status: int = 200, body: bytes = b"", ctype: str = "text/html", **headers):
    """Answer with `body`; `headers` use ``_`` for ``-`` (``Content_Encoding="gzip"``)."""
    h.send_response(status)
    if ctype:
        h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(body)


def not_found(h: Handler) -> None:
    send(h, 404, b"<p>nothing here</p>")


def redirect(h: Handler) -> None:
    """``?to=URL``: a 302 to URL, with a cookie the fetcher must not send back."""
    send(h, 302, Location=h.query("to"), Set_Cookie="session=secret; Path=/")


def loop(h: Handler) -> None:
    """``?n=N`` redirects to ``?n=N+1``, forever."""
    send(h, 302, Location=f"{urlsplit(h.path).path}?n={int(h.query('n', '0')) + 1}")


def chain(h: Handler, page: bytes = b"<p>the end of the chain</p>") -> None:
    """``?n=N`` redirects N times, then serves a page."""
    n = int(h.query("n", "0"))
    if n:
        send(h, 301, Location=f"{urlsplit(h.path).path}?n={n - 1}")
    else:
        send(h, body=page)


def drip_body(h: Handler) -> None:
    """Headers at once, then the body a byte every 0.3 s."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    _drip(h, b"<html>")


def drip_headers(h: Handler) -> None:
    """The status line, then the headers a byte every 0.3 s."""
    _drip(h, b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nX-Slow: ")


def _drip(h: Handler, start: bytes) -> None:
    # A byte every 0.3 s: never slow enough for a read timeout, only for a deadline.
    h.wfile.write(start)
    for _ in range(100):
        h.wfile.write(b"a")
        if h.site.stopping.wait(0.3):
            return


def silent(h: Handler) -> None:
    """Says nothing for 2 s, then serves a page."""
    if not h.site.stopping.wait(2):
        send(h, body=b"<p>finally</p>")


def huge(h: Handler) -> None:
    """50 MB of HTML in 64 KB chunks, until done or the client hangs up (``?length=no``: chunked
    by connection close, without a Content-Length). `FakeSite.huge_sent` counts what went out."""
    site, total, chunk = h.site, 50 * MB, b"x" * 65536
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    if h.query("length") != "no":
        h.send_header("Content-Length", str(total))
    h.end_headers()
    try:
        while site.huge_sent < total:
            h.wfile.write(chunk)
            site.huge_sent += len(chunk)
    finally:
        site.huge_done.set()
