"""A fake Akismet that speaks real HTTP on 127.0.0.1, for tests of everything that calls Akismet.

It serves the four 1.1 operations the `akismet` package uses (``POST /1.1/verify-key``,
``/1.1/comment-check``, ``/1.1/submit-spam``, ``/1.1/submit-ham``; the package never uses the old
key-prefixed host form) and records every request. Point ``[akismet] endpoint`` at
`FakeAkismet.url`.

Behaviour is chosen with `FakeAkismet.mode`:

* ``"normal"``: answers like Akismet. Spam when the content contains ``viagra-test-123`` or the
  author is ``viagra-test-123`` / ``akismet-guaranteed-spam`` (or the e-mail
  ``akismet-guaranteed-spam@…``); ham for ``user_role=administrator`` and everything else. A wrong
  ``api_key`` gets ``invalid``.
* ``"discard"``: spam verdicts come with ``X-akismet-pro-tip: discard``.
* ``"invalid"``: every operation answers ``invalid`` (a revoked key).
* ``"error500"``, ``"nonsense"``, ``"huge"`` (a 1 MB body): broken answers.
* ``"hang"``: waits `hang_seconds` before answering (cut short by `stop`, so no thread outlives it).

`extra_headers` are added to comment-check answers (``X-akismet-guid``, ``X-akismet-error``, …).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

FAKE_KEY = "fake-akismet-key"
SPAM_TRIGGERS = ("viagra-test-123", "akismet-guaranteed-spam")
SUBMIT_ANSWER = "Thanks for making the web a better place."
MODES = ("normal", "discard", "invalid", "error500", "nonsense", "huge", "hang")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: path, form (last value wins), headers (lower-case names)."""

    path: str
    form: dict[str, str]
    pairs: list[tuple[str, str]]
    headers: dict[str, str]


class FakeAkismet:
    """A threaded HTTP server on 127.0.0.1 with Akismet's answers; use as a context manager."""

    def __init__(self, key: str = FAKE_KEY, hang_seconds: float = 3.0) -> None:
        self.key = key
        self.hang_seconds = hang_seconds
        self.extra_headers: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self._mode = "normal"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        # A short poll interval keeps `stop` (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The endpoint base, as ``[akismet] endpoint`` expects it."""
        return f"http://127.0.0.1:{self.port}/1.1/"

    @property
    def mode(self) -> str:
        """How the fake answers; one of `MODES`."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; pick one of {MODES}")
        self._mode = value

    def requests_to(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests for one operation, e.g. ``"comment-check"``."""
        return [r for r in self.requests if r.path == f"/1.1/{operation}"]

    def start(self) -> FakeAkismet:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging handlers, stop serving and close the socket."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAkismet:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def record(self, request: RecordedRequest) -> None:
        """Keep a request for assertions (called by the handler threads)."""
        with self._lock:
            self.requests.append(request)

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """Status, body and headers for one request, by the current mode."""
        if self._mode == "hang":
            self._stopping.wait(self.hang_seconds)
        broken = {"error500": (500, "Internal Server Error"), "nonsense": (200, "maybe?")}
        if self._mode in broken:
            return (*broken[self._mode], {})
        if self._mode == "huge":
            return 200, "x" * 1_000_000, {}
        if path == "/1.1/verify-key":
            valid = form.get("key") == self.key and self._mode != "invalid"
            return 200, "valid" if valid else "invalid", {}
        if self._mode == "invalid" or form.get("api_key") != self.key:
            return 200, "invalid", {"X-akismet-debug-help": "We could not verify your API key."}
        if path == "/1.1/comment-check":
            return self._check(form)
        if path in ("/1.1/submit-spam", "/1.1/submit-ham"):
            return 200, SUBMIT_ANSWER, {}
        return 404, "Not Found", {}

    def _check(self, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        if not form.get("user_ip"):
            return 200, "Missing required field: user_ip.", {"X-akismet-debug-help": "user_ip"}
        headers = {"X-akismet-guid": "fake-guid", **self.extra_headers}
        if not _is_spam(form):
            return 200, "false", headers
        if self._mode == "discard":
            headers["X-akismet-pro-tip"] = "discard"
        return 200, "true", headers


def _is_spam(form: dict[str, str]) -> bool:
    if form.get("user_role") == "administrator":
        return False
    author = form.get("comment_author", "")
    email_user = form.get("comment_author_email", "").partition("@")[0]
    content = form.get("comment_content", "")
    return author in SPAM_TRIGGERS or email_user in SPAM_TRIGGERS or SPAM_TRIGGERS[0] in content


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a test fires many calls at once, and a
    # dropped SYN is retried only after a second: far past a test's short client timeout.
    request_queue_size = 128
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def handle(self) -> None:
        """Serve the connection; a client that hung up (timeout, size cap) is not an error here."""
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_POST(self) -> None:
        """Record the request, then answer it the way the fake's mode says."""
        fake: FakeAkismet = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        pairs = parse_qsl(raw, keep_blank_values=True)
        form = dict(pairs)
        headers = {name.lower(): value for name, value in self.headers.items()}
        fake.record(RecordedRequest(self.path, form, pairs, headers))
        status, body, headers = fake.answer(self.path, form)
        self._send(status, body, headers)

    def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in {"Content-Type": "text/plain; charset=utf-8", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_akismet() -> Iterator[FakeAkismet]:
    """A started `FakeAkismet`, stopped after the test."""
    with FakeAkismet() as fake:
        yield fake
