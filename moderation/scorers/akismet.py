"""Akismet as a `Scorer`: the one place that builds the `akismet` client and wraps its errors.

The `akismet` package (25.10.x) does what it does well: argument checking, answer parsing, its
exception tree. Three things it cannot do are done by our own HTTP transport underneath it:

* send requests to a configurable endpoint (the package hard-codes ``https://rest.akismet.com``),
* cap the size of an answer (our rule for every outbound call),
* send form fields that are not in `akismet.AkismetArguments` (the honeypot field's value) and
  read the ``X-akismet-*`` headers the package drops. Both travel through a context variable, so
  they belong to the one call in progress on this thread and never leak between concurrent calls.

Every failure becomes `ScorerUnavailable`, so the pipeline holds the submission for review and a job
checks it again later (PROTOCOLS §4.5). Nothing here imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import akismet
import httpx

from moderation import __version__
from moderation.config import AkismetSettings, ConfigError
from moderation.domain.scoring import Signal, Submission, Verdict
from moderation.domain.states import CommentKind
from moderation.errors import ScorerUnavailable
from moderation.runtime import metrics
from moderation.runtime.process import waiting_on_network

log = logging.getLogger(__name__)

USER_AGENT = f"moderation/{__version__} | {akismet.USER_AGENT}"
# Where the package sends every request (`akismet._common._API_URL` plus the API version).
PACKAGE_BASE = "https://rest.akismet.com/1.1/"
MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_HONEYPOT_FIELD = "honeypot"
DEFAULT_BREAKER_SECONDS = 600.0

COMMENT_TYPES: dict[CommentKind, str] = {
    CommentKind.comment: "comment",
    CommentKind.trackback: "trackback",
    CommentKind.pingback: "pingback",
    CommentKind.webmention: "webmention",
}
# Parameters the package adds itself, and the optional ones it accepts as keyword arguments.
_CLIENT_FIELDS = frozenset({"api_key", "blog", "user_ip"})
_PACKAGE_ARGS = frozenset(akismet.AkismetArguments.__optional_keys__)


class ResponseTooLarge(httpx.TransportError):
    """Akismet's answer was longer than `MAX_RESPONSE_BYTES`; no real answer is that large."""


@dataclass
class _Exchange:
    """What one call adds to its request and learns from its response (see the module docstring)."""

    extra_form: tuple[tuple[str, str], ...] = ()
    headers: httpx.Headers | None = None


_EXCHANGE: ContextVar[_Exchange | None] = ContextVar("akismet_exchange", default=None)


def rewrite_url(url: httpx.URL, endpoint: str) -> httpx.URL:
    """Move a URL the package built on `PACKAGE_BASE` onto ``endpoint``, keeping path and query.

    Why: the package has no base-URL option and passes absolute URLs, so
    ``httpx.Client(base_url=...)`` is ignored. Rewriting in the transport is the only way to reach
    an Akismet-compatible service or a local fake through the package's public API. A 1.2 URL
    (usage-limit) maps onto the endpoint's sibling ``1.2/`` when the endpoint ends in ``1.1/``;
    raises `ValueError` when there is no such mapping.
    """
    base = endpoint if endpoint.endswith("/") else endpoint + "/"
    version, _, operation = url.path.lstrip("/").partition("/")
    if version != "1.1":
        if not base.endswith("/1.1/"):
            raise ValueError(f"cannot map {url} onto Akismet endpoint {endpoint}")
        base = base.removesuffix("1.1/") + version + "/"
    target = httpx.URL(base + operation)
    return target.copy_with(query=url.query) if url.query else target


class EndpointTransport(httpx.BaseTransport):
    """An httpx transport that sends the package's requests to our configured endpoint.

    It also appends the current call's extra form fields, records the answer's headers for the
    current call, and refuses answers over `MAX_RESPONSE_BYTES`.
    """

    def __init__(self, endpoint: str, inner: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"[akismet] endpoint must be an absolute http(s) URL, not {endpoint!r}"
            )
        self.endpoint = endpoint
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite, send, and read the answer with a size cap."""
        exchange = _EXCHANGE.get()
        sent = self._rewrite(request, exchange)
        with waiting_on_network():  # other submissions of this process may run meanwhile
            response = self.inner.handle_request(sent)
            body = _read_capped(response, request)
        if exchange is not None:
            exchange.headers = response.headers
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
        )

    def _rewrite(self, request: httpx.Request, exchange: _Exchange | None) -> httpx.Request:
        body = request.read()
        if exchange is not None and exchange.extra_form and request.method == "POST":
            body += (b"&" if body else b"") + urlencode(exchange.extra_form).encode()
        # Host and Content-Length describe the old URL and body; httpx recomputes both. The
        # extensions carry the client's timeout: dropping them would make every call wait forever.
        headers = [
            (k, v) for k, v in request.headers.items() if k not in ("host", "content-length")
        ]
        return httpx.Request(
            request.method,
            rewrite_url(request.url, self.endpoint),
            headers=headers,
            content=body,
            extensions=request.extensions,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.inner.close()


def _read_capped(response: httpx.Response, request: httpx.Request) -> bytes:
    body = bytearray()
    try:
        for chunk in response.stream:  # type: ignore[union-attr]
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise ResponseTooLarge(
                    f"answer longer than {MAX_RESPONSE_BYTES} bytes", request=request
                )
    finally:
        response.close()
    return bytes(body)


def build_akismet_client(settings: AkismetSettings, blog_url: str) -> akismet.SyncClient:
    """Build the `akismet.SyncClient` for one site; the only place that constructs one.

    No network call happens here: `SyncClient()` only stores its config and HTTP client, whereas
    `validated_client()` and ``with SyncClient()`` call verify-key, so the service could not start
    while Akismet is down. Check the key with `verify_key` instead. The explicit `akismet.Config`
    keeps the package from reading ``PYTHON_AKISMET_*`` itself. Raises `ConfigError` for a blog URL
    or endpoint that is not an absolute http(s) URL (the package does not check an explicit config).
    """
    parts = urlsplit(blog_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"Akismet needs the site's full URL with its scheme, not {blog_url!r}")
    http_client = httpx.Client(
        transport=EndpointTransport(settings.endpoint),
        timeout=settings.timeout,  # with our own client the package's 1 s default does not apply
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        follow_redirects=False,
        # Proxy variables would route https://rest.akismet.com around our transport; keep them out.
        trust_env=False,
    )
    return akismet.SyncClient(
        config=akismet.Config(key=settings.key, url=blog_url), http_client=http_client
    )


def close_akismet_client(client: akismet.SyncClient) -> None:
    """Close a client's HTTP connections without verifying its key.

    The package has no ``close()``; its context-manager exit only closes the HTTP client.
    """
    client.__exit__(None, None, None)  # type: ignore[arg-type]


def verify_key(client: akismet.SyncClient) -> bool | None:
    """Ask Akismet whether the client's key and blog URL are valid: True, False, or None if unknown.

    None means Akismet could not be asked (down, slow, nonsense); callers log a warning and carry
    on, because an unreachable Akismet must not block startup or saving the config (AK-R6).
    """
    try:
        return client.verify_key()
    except akismet.AkismetError as exc:
        log.warning("Akismet key check failed: %s", _describe(exc))
        return None


def params_for(
    submission: Submission,
    *,
    honeypot_field_name: str | None = DEFAULT_HONEYPOT_FIELD,
    recheck_reason: str | None = None,
    is_test: bool = False,
) -> dict[str, str]:
    """The exact comment-check parameters for a submission, minus the API key.

    Store this dict with the comment: submit-spam and submit-ham must send the same data as the
    original check (AK-2). Empty optional values are left out; ``user_ip`` and ``blog`` never are.
    """
    params = {
        "blog": submission.site_url,
        "user_ip": submission.ip,
        "user_agent": submission.user_agent,
        "referrer": submission.referrer,
        "permalink": submission.permalink,
        "comment_type": COMMENT_TYPES[submission.kind],
        "comment_author": submission.author,
        "comment_author_email": submission.email,
        # A linkback's "author URL" is the page that links to us.
        "comment_author_url": submission.website or submission.source,
        "comment_content": submission.text,
        "comment_date_gmt": _iso_utc(submission.created),
        "blog_lang": submission.language,
        "blog_charset": "UTF-8",
        "recheck_reason": recheck_reason or "",
        "is_test": "1" if is_test else "",
    }
    params = {k: v for k, v in params.items() if v or k in ("blog", "user_ip")}
    if honeypot_field_name and submission.kind is CommentKind.comment:
        # Akismet wants the honeypot's name and, under that name, what was typed into it.
        params["honeypot_field_name"] = honeypot_field_name
        params[honeypot_field_name] = submission.honeypot
    return params


def _iso_utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:  # naive datetimes in this service are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class AkismetScorer:
    """Scores submissions with Akismet's comment-check and reports moderators' corrections.

    ``client_for(blog_url)`` returns the client for a site (Akismet's ``blog`` is per site). After
    an ``invalid`` answer the scorer stops calling Akismet for that site for ``breaker_seconds``:
    every call would fail the same way until an operator fixes the key, and hammering Akismet with a
    bad key helps nobody (AK-R4). While the breaker is open, calls raise `ScorerUnavailable` at
    once, without any HTTP.
    """

    name = "akismet"
    ham_score = -1.0
    spam_score = 5.0

    def __init__(
        self,
        client_for: Callable[[str], akismet.SyncClient],
        *,
        honeypot_field_name: str | None = DEFAULT_HONEYPOT_FIELD,
        breaker_seconds: float = DEFAULT_BREAKER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        is_test: bool = False,
    ) -> None:
        if honeypot_field_name in _CLIENT_FIELDS | _PACKAGE_ARGS:
            raise ValueError(f"honeypot field name {honeypot_field_name!r} is an Akismet parameter")
        self.client_for = client_for
        self.honeypot_field_name = honeypot_field_name
        self.breaker_seconds = breaker_seconds
        self.clock = clock
        self.is_test = is_test
        self._blocked_until: dict[str, float] = {}
        self._owned: dict[str, akismet.SyncClient] = {}

    @classmethod
    def from_settings(cls, settings: AkismetSettings, **options: Any) -> AkismetScorer:
        """A scorer that builds (once) and reuses one client per site URL from ``settings``."""
        clients: dict[str, akismet.SyncClient] = {}
        lock = threading.Lock()

        def client_for(blog_url: str) -> akismet.SyncClient:
            with lock:
                if blog_url not in clients:
                    clients[blog_url] = build_akismet_client(settings, blog_url)
                return clients[blog_url]

        scorer = cls(client_for, **options)
        scorer._owned = clients
        return scorer

    def close(self) -> None:
        """Close the clients `from_settings` built (no-op for injected ones)."""
        for client in self._owned.values():
            close_akismet_client(client)

    def params_for(
        self, submission: Submission, *, recheck_reason: str | None = None
    ) -> dict[str, str]:
        """`params_for` with this scorer's honeypot field and test flag."""
        return params_for(
            submission,
            honeypot_field_name=self.honeypot_field_name,
            recheck_reason=recheck_reason,
            is_test=self.is_test,
        )

    def score(self, submission: Submission) -> list[Signal]:
        """Run comment-check; raise `ScorerUnavailable` when Akismet gives no usable answer."""
        return self.check(self.params_for(submission))

    def check(self, params: Mapping[str, str]) -> list[Signal]:
        """Run comment-check with stored or prepared params (re-checks add ``recheck_reason``)."""
        result, headers = self._call("comment_check", params)
        _refuse_flagged(headers)
        if result is akismet.CheckResponse.HAM:
            return [Signal(self.name, self.ham_score, "Akismet: ham")]
        if result is akismet.CheckResponse.SPAM:
            return [Signal(self.name, self.spam_score, "Akismet: spam", Verdict.spam)]
        if result is akismet.CheckResponse.DISCARD:
            reason = "Akismet: blatant spam (X-akismet-pro-tip: discard)"
            return [Signal(self.name, self.spam_score, reason, Verdict.discard)]
        raise ScorerUnavailable(f"Akismet gave an unknown answer {result!r}")

    def submit_spam(self, params: Mapping[str, str]) -> None:
        """Tell Akismet a comment it passed is spam; `ScorerUnavailable` lets a job retry."""
        self._call("submit_spam", params)

    def submit_ham(self, params: Mapping[str, str]) -> None:
        """Tell Akismet a comment it called spam is ham; `ScorerUnavailable` lets a job retry."""
        self._call("submit_ham", params)

    def _call(self, method: str, params: Mapping[str, str]) -> tuple[Any, httpx.Headers | None]:
        blog = params.get("blog", "")
        try:
            self._check_breaker(blog)
        except ScorerUnavailable:
            metrics.AKISMET_CALLS.labels(method, "paused").inc()
            raise
        kwargs = {k: v for k, v in params.items() if k in _PACKAGE_ARGS}
        extra = tuple((k, v) for k, v in params.items() if k not in _PACKAGE_ARGS | _CLIENT_FIELDS)
        exchange = _Exchange(extra_form=extra)
        token = _EXCHANGE.set(exchange)
        outcome = "unavailable"
        started = time.perf_counter()
        try:
            client = self.client_for(blog)
            result = getattr(client, method)(params.get("user_ip", ""), **kwargs)
            outcome = result.name.lower() if isinstance(result, akismet.CheckResponse) else "ok"
            if exchange.headers is not None:  # an answer `_refuse_flagged` will not take (§4.3)
                if "x-akismet-error" in exchange.headers:
                    outcome = "unavailable"
                elif "x-akismet-recheck-after" in exchange.headers:
                    outcome = "recheck"
        except akismet.APIKeyError as exc:
            self._blocked_until[blog] = self.clock() + self.breaker_seconds
            log.error("Akismet rejected the API key or blog URL %s; pausing calls", blog)
            outcome = "invalid_key"
            raise ScorerUnavailable(
                f"Akismet says the API key or blog URL is invalid ({blog})"
            ) from exc
        except (akismet.AkismetError, httpx.HTTPError) as exc:
            raise ScorerUnavailable(_describe(exc)) from exc
        finally:
            _EXCHANGE.reset(token)
            metrics.AKISMET_SECONDS.labels(method).observe(time.perf_counter() - started)
            metrics.AKISMET_CALLS.labels(method, outcome).inc()
        return result, exchange.headers

    def _check_breaker(self, blog: str) -> None:
        until = self._blocked_until.get(blog)
        if until is None:
            return
        left = until - self.clock()
        if left > 0:
            raise ScorerUnavailable(
                f"Akismet key or blog URL invalid ({blog}); not calling for another {left:.0f} s"
            )
        del self._blocked_until[blog]


def _refuse_flagged(headers: httpx.Headers | None) -> None:
    """Treat answers that come with an error or a "still deciding" header as no answer (§4.3)."""
    if headers is None:
        return
    if "x-akismet-alert-code" in headers:
        log.warning(
            "Akismet alert %s: %s",
            headers["x-akismet-alert-code"],
            headers.get("x-akismet-alert-msg", ""),
        )
    if error := headers.get("x-akismet-error"):
        raise ScorerUnavailable(f"Akismet reported an error: {error}")
    if after := headers.get("x-akismet-recheck-after"):
        raise ScorerUnavailable(f"Akismet is still deciding; re-check after {after} s")


def _describe(exc: BaseException) -> str:
    """One readable line: the package's message plus the HTTP-level cause, if any."""
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, httpx.HTTPStatusError):
        text += f" ({type(cause).__name__}: {' '.join(str(cause).split())[:200]})"
    return text
