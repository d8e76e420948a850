"""Sending linkbacks for a published post: a webmention, else a pingback, else a trackback, whichever
each linked page advertises (``moderation linkbacks send URL``).

Sending reuses the fetcher's URL checks, pinned connections and error mapping (the underscored
names) rather than a second copy of that security-critical code; a public `Fetcher.post` would be
the tidier home for it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin

from moderation.config import FetchSettings
from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.errors import InvalidInput
from moderation.net.fetcher import DEFAULT_USER_AGENT, Fetcher
from moderation.net.guarded import (
    DEFAULT_PORTS,
    BlockedAddress,
    Deadline,
    FetchError,
    FetchFailed,
    Resolver,
    host_header,
    is_public_address,
    parse_url,
    pinned_stream,
    system_resolver,
    transport_errors,
)
from moderation.services.verification import h_entry


@dataclass(frozen=True)
class Posted:
    """An endpoint's answer to a POST (the body cut at the poster's cap)."""

    status: int
    content_type: str
    body: bytes


class Poster:
    """POSTs a linkback to an endpoint that someone else's page named, under the fetcher's rules:
    http(s) only, every address public (unless ``allow_private``), the connection pinned to the
    checked address, one deadline, a capped answer, no redirects, no cookies."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        max_bytes: int = 65536,
    ) -> None:
        self._settings = settings
        self._resolver = resolver or system_resolver
        self._user_agent = user_agent.encode("ascii")
        self._max_bytes = max_bytes

    def post(self, url: str, body: bytes, content_type: str) -> Posted:
        """Send `body`; raise a `FetchError` subclass when the endpoint may not or cannot be used."""
        parsed = parse_url(url)
        host = parsed.raw_host.decode("ascii")
        address = self._address(host, parsed.port or DEFAULT_PORTS[parsed.scheme])
        deadline = Deadline(self._settings.timeout)
        headers = [
            (b"Host", host_header(parsed)),
            (b"User-Agent", self._user_agent),
            (b"Content-Type", content_type.encode("ascii")),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
        ]
        timeout = self._settings.timeout
        extensions = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        with (
            transport_errors(),
            pinned_stream(
                "POST", parsed, address, deadline, headers, extensions, content=body
            ) as r,
        ):
            answer = bytearray()
            for chunk in r.iter_stream():
                answer += chunk
                if len(answer) >= self._max_bytes:
                    break
            ctype = dict((k.lower(), v) for k, v in r.headers).get(b"content-type", b"")
        return Posted(r.status, ctype.decode("latin-1"), bytes(answer[: self._max_bytes]))

    def _address(self, host: str, port: int) -> str:
        """The one address to connect to, checked as the fetcher checks a hop."""
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            addresses = []
        try:
            addresses = addresses or list(dict.fromkeys(self._resolver(host, port)))
        except OSError as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise FetchFailed(f"{host} has no address")
        refused = [a for a in addresses if not is_public_address(a)]
        if refused and not self._settings.allow_private:
            raise BlockedAddress(f"{host} has a non-public address: {refused[0]}")
        return addresses[0]


@dataclass(frozen=True)
class Sent:
    """What happened to one link of a post."""

    target: str
    protocol: str | None
    ok: bool
    detail: str

    def line(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.target}  {self.protocol or '-'}  {'ok' if self.ok else 'failed'}: {self.detail}"
        )


def send_linkbacks(fetcher: Fetcher, poster: Poster, post_url: str, limit: int = 50) -> list[Sent]:
    """Tell every page a published post links to, as WordPress does on publish: for each link,
    discover the endpoint (Webmention first, then Pingback, then TrackBack) and send.

    Raises `FetchError` when the post itself cannot be fetched, `InvalidInput` on an error page.
    """
    post = fetcher.fetch(post_url)
    if post.status >= 400:
        raise InvalidInput(f"the post answered HTTP {post.status}")
    page = pages.analyse_page(post.text, post.url)
    return [
        _send_one(fetcher, poster, post.url, page, t) for t in _outgoing(post.text, page)[:limit]
    ]


def _outgoing(html: str, page: pages.Page) -> list[str]:
    """The http(s) links of the post's h-entry content (else of the whole page), each once."""
    links = page.links
    entry = h_entry(html, page.url, "") if "h-entry" in html else None
    if entry is not None and entry.get("html"):
        links = pages.analyse_page(entry["html"], page.url).links
    seen, targets = {pages.normalize_url(page.url)}, []
    for link in links:
        key = pages.normalize_url(link.url)
        if link.tag == "a" and link.url.startswith(("http://", "https://")) and key not in seen:
            seen.add(key)
            targets.append(link.url)
    return targets


def _send_one(fetcher: Fetcher, poster: Poster, source: str, post: pages.Page, target: str) -> Sent:
    try:
        found = fetcher.fetch(target)
    except FetchError as exc:
        return Sent(target, None, False, f"cannot read the target: {exc.reason}")
    except LookupError as exc:  # see check_source: a non-text charset gets through the fetcher
        return Sent(target, None, False, f"cannot read the target: bad charset ({exc})")
    if found.status >= 400:
        return Sent(target, None, False, f"the target answered HTTP {found.status}")
    page = pages.analyse_page(found.text, found.url)
    try:
        endpoint = pages.find_webmention_endpoint(found.headers.get_list("link"), page)
        if endpoint:
            return _webmention(poster, endpoint, source, target)
        endpoint = pages.find_pingback_endpoint(found.headers.get("x-pingback"), found.text)
        if endpoint:  # the spec wants it absolute; resolving a relative one costs nothing
            return _pingback(poster, urljoin(found.url, endpoint), source, target)
        endpoint = pages.find_trackback_ping(found.text, target)
        if endpoint:
            return _trackback(poster, endpoint, source, post, target)
    except FetchError as exc:
        return Sent(target, None, False, f"cannot reach the endpoint: {exc.reason}")
    return Sent(target, None, False, "no linkback endpoint advertised")


def _webmention(poster: Poster, endpoint: str, source: str, target: str) -> Sent:
    body = urlencode({"source": source, "target": target}).encode()
    answer = poster.post(endpoint, body, "application/x-www-form-urlencoded")
    return Sent(
        target, "webmention", 200 <= answer.status < 300, f"HTTP {answer.status} from {endpoint}"
    )


def _pingback(poster: Poster, endpoint: str, source: str, target: str) -> Sent:
    answer = poster.post(endpoint, lb.pingback_request(source, target).encode(), "text/xml")
    if answer.status != 200:
        return Sent(target, "pingback", False, f"HTTP {answer.status} from {endpoint}")
    try:
        code, message = lb.parse_xmlrpc_response(answer.body)
    except lb.LinkbackRefused:
        return Sent(target, "pingback", False, f"not an XML-RPC answer from {endpoint}")
    if code is None:
        return Sent(target, "pingback", True, f"registered at {endpoint}")
    # PB-8: "already registered" is what a sender wanted; WordPress counts it as sent.
    ok = code == lb.FAULT_ALREADY_REGISTERED
    return Sent(target, "pingback", ok, f"fault {code}: {message}")


def _trackback(poster: Poster, endpoint: str, source: str, post: pages.Page, target: str) -> Sent:
    link = pages.find_link(post, target)
    excerpt = pages.excerpt_around(post, link) if link else ""
    fields = {
        "url": source,
        "title": post.title,
        "blog_name": lb.host_of(source),
        "excerpt": pages.truncate(
            excerpt.replace(f"[{pages.ELLIPSIS}]", "").strip(), lb.MAX_EXCERPT_CHARS
        ),
    }
    ctype = "application/x-www-form-urlencoded; charset=utf-8"
    answer = poster.post(endpoint, urlencode(fields).encode(), ctype)
    try:
        ok, message = lb.parse_trackback_response(answer.body)
    except lb.LinkbackRefused:
        return Sent(target, "trackback", False, f"HTTP {answer.status}, not a TrackBack answer")
    return Sent(target, "trackback", ok, message or f"accepted by {endpoint}")
