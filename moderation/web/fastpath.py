"""The read fast path: WSGI middleware that answers the two hottest reads before Flask runs.

Thread reads and comment counts are most of the traffic (every page view asks for one of them). The
thread JSON is built once per thread version by the Flask view (`widget.cached_thread`); this layer
looks up the thread's current version in the shared database (one indexed query), and when the
cache holds that version it sends the bytes itself. Counts are one indexed query. On SQLite it also
keeps both kinds of answer by query string, and serves them again without any query while the
change stamps say nothing was committed since that could change them: the database's, and the
page's (or, for counts, each page's) (`moderation.storage.sqlite`), so that a post or a moderator's
action on one page leaves every other page's kept answer alone. Anything it is not sure about
(a cache miss, an unknown site, a bad parameter, a foreign origin) falls through to Flask, which
builds the answer, handles the error, and fills the cache.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from flask import Flask

from moderation.config import Settings
from moderation.domain import threads
from moderation.errors import InvalidInput
from moderation.runtime import metrics
from moderation.services.threads import thread_cache_key
from moderation.storage.db import as_utc
from moderation.storage.sqlite import TRUST_SECONDS, ChangeStamp, page_slot
from moderation.web import current
from moderation.web.schemas import MAX_URIS, PAGE_KEYS, check_uri, parse_page_query

log = logging.getLogger("moderation.access")
StartResponse = Callable[..., Any]
THREAD_PATH = "/api/v1/threads/comments"
COUNTS_PATH = "/api/v1/counts"
FIND_THREAD = "SELECT id, version, created_at, closed FROM threads WHERE site = ? AND uri = ?"
FIND_COUNTS = "SELECT uri, approved_count FROM threads WHERE site = ? AND uri IN ({})"
MAX_ANSWERS = 512  # thread answers kept by the fast path, per process (bodies: tens of kB each)
MAX_COUNTS = 2048  # counts answers kept (bodies: a few hundred bytes)


@dataclass(frozen=True, slots=True)
class _Stamps:
    """The change stamps an answer depends on, taken before its rows were read."""

    changes: ChangeStamp  # of which database
    database: bytes  # the database's stamp
    slots: tuple[int, ...]  # the slots of its pages (`sqlite.page_slot`) ...
    pages: tuple[bytes, ...]  # ... and their stamps
    until: float  # time.monotonic() past which the stamps alone are not trusted

    @classmethod
    def take(cls, changes: ChangeStamp, slots: tuple[int, ...]) -> _Stamps:
        """The stamps now, for rows about to be read from the pages in `slots`."""
        return cls(
            changes,
            changes.read(),
            slots,
            tuple(changes.read_page(slot) for slot in slots),
            time.monotonic() + TRUST_SECONDS,
        )

    def hold(self, changes: ChangeStamp) -> bool:
        """Whether nothing that could change those rows committed since (see `take`)."""
        if self.changes is not changes or self.database != changes.read():
            return False  # a write that named no pages committed since (or another database)
        if not changes.pages_unchanged(self.slots, self.pages):
            return False  # a write changed one of its pages
        return time.monotonic() < self.until  # trusted for a bounded time (`sqlite`)


@dataclass(frozen=True, slots=True)
class _Answer:
    """An answer made earlier (a cached thread page, or counts), and what it depends on."""

    stamps: _Stamps
    closes_at: datetime | None  # when the thread closes by age (the answer says it is open)
    site: str
    etag: str
    body: bytes


def _keep(answers: dict[str, _Answer], most: int, query_string: str, answer: _Answer) -> None:
    """Keep `answer` for `query_string`, forgetting all the others first when `most` are kept."""
    if len(answers) >= most:
        answers.clear()
    answers[query_string] = answer


@functools.lru_cache(maxsize=4096)
def _parsed_query(query_string: str) -> dict[str, list[str]]:
    """The parsed query string. Every view of a page asks with the same one, so the parse is kept
    (bounded); callers only read the dict."""
    return parse_qs(query_string, keep_blank_values=True)


class ReadFastPath:
    """Serve cached thread reads and counts without entering Flask."""

    def __init__(self, app: Flask, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner
        self.parts = current.parts(app)
        self.settings: Settings = self.parts.context.settings
        # Thread and counts answers by query string, with the change stamps taken before they
        # were read (SQLite only). Plain dict operations: atomic under the GIL.
        self.answers: dict[str, _Answer] = {}
        self.count_answers: dict[str, _Answer] = {}
        # Metric children by (path, status), bound once: labels() costs more than the count.
        self.counted: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.tally = metrics.Batched()
        self.answer_hits = metrics.CACHE.labels("answers", "hit")
        self.shared_hits = metrics.CACHE.labels("shared", "hit")
        own = self.settings.server.public_url.split("/")[:3]
        self.origins = {
            site_id: {o.rstrip("/") for o in site.origins} | {"/".join(own)}
            for site_id, site in self.settings.sites.items()
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer from the fast path when possible, else hand the request to Flask."""
        if environ.get("REQUEST_METHOD") == "GET":
            path = environ.get("PATH_INFO")
            started = time.perf_counter()
            if path == THREAD_PATH:
                answer = self.thread(environ)
            elif path == COUNTS_PATH:
                answer = self.counts(environ)
            else:
                answer = None
            if answer is not None:
                return self.respond(environ, start_response, *answer, started)
        return self.inner(environ, start_response)

    def _query(self, environ: dict[str, Any]) -> tuple[str, dict[str, list[str]]] | None:
        """The site and the parsed query string, when the site is known and the origin allowed."""
        query = _parsed_query(environ.get("QUERY_STRING", ""))
        sites = query.get("site", [])
        if len(sites) != 1 or sites[0] not in self.origins:
            return None
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.rstrip("/") not in self.origins[sites[0]]:
            return None  # Flask answers the 403
        return sites[0], query

    def thread(self, environ: dict[str, Any]) -> tuple[str, bytes] | None:
        """(etag, body) of a cached thread, or None."""
        query_string = environ.get("QUERY_STRING", "")
        database = self.parts.database
        changes = database.changes
        if changes is not None:  # a SQLite file: what was read under these stamps still holds
            known = self._kept(self.answers, query_string, changes, environ)
            if known is not None:
                self.tally.count(self.answer_hits)  # (the metric counts thread answers only)
                return known
        parsed = self._query(environ)
        if parsed is None:
            return None
        site, query = parsed
        uris = query.get("uri", [])
        if len(uris) != 1 or check_uri(uris[0]) or not query.keys() <= PAGE_KEYS:
            return None
        if any(len(values) != 1 for values in query.values()):
            return None
        try:
            page = parse_page_query({k: v[0] for k, v in query.items()})
        except InvalidInput:
            return None  # Flask answers the 400
        if changes is not None:  # before the row is read (see `moderation.storage.sqlite`)
            stamps = _Stamps.take(changes, (page_slot(site, uris[0]),))
        rows = database.raw_rows(FIND_THREAD, (site, uris[0]))
        if not rows:
            return None
        thread_id, version, created_at, closed = rows[0]
        ctx = self.parts.context
        created_at = as_utc(created_at)
        days = ctx.settings.sites[site].close_after_days
        is_open = threads.is_open(ctx.clock(), created_at, bool(closed), days)
        hit = self.parts.cache.get(f"{thread_cache_key(thread_id, version, is_open)}:{page.key()}")
        if hit is None:
            return None  # Flask looks again (and counts the miss), then builds it
        self.tally.count(self.shared_hits)
        head, _, body = hit.partition(b"\n")
        etag = head.decode()
        if changes is not None:
            closes_at = threads.closes_at(created_at, days) if is_open else None
            answer = _Answer(stamps, closes_at, site, etag, body)
            _keep(self.answers, MAX_ANSWERS, query_string, answer)
        return etag, body

    def _kept(
        self,
        answers: dict[str, _Answer],
        query_string: str,
        changes: ChangeStamp,
        environ: dict[str, Any],
    ) -> tuple[str, bytes] | None:
        """(etag, body) of an answer kept for this query string that still holds, or None (also
        when the origin is foreign: Flask then answers the 403)."""
        known = answers.get(query_string)
        if known is None or not self._still_holds(known, changes):
            return None
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.rstrip("/") not in self.origins[known.site]:
            return None
        return known.etag, known.body

    def _still_holds(self, known: _Answer, changes: ChangeStamp) -> bool:
        """Whether an answer made earlier is still the one the database and the clock give."""
        if not known.stamps.hold(changes):
            return False
        if known.closes_at is not None:
            return bool(
                self.parts.context.clock() <= known.closes_at
            )  # the answer says the thread is open
        return True

    def counts(self, environ: dict[str, Any]) -> tuple[str, bytes] | None:
        """(no etag, body) for a well-formed counts query, or None."""
        query_string = environ.get("QUERY_STRING", "")
        database = self.parts.database
        changes = database.changes
        if changes is not None:
            known = self._kept(self.count_answers, query_string, changes, environ)
            if known is not None:
                return known
        parsed = self._query(environ)
        if parsed is None:
            return None
        site, query = parsed
        uris = list(dict.fromkeys(query.get("uri", [])))
        if not uris or len(query.get("uri", [])) > MAX_URIS or any(check_uri(u) for u in uris):
            return None
        if set(query) != {"site", "uri"}:
            return None
        if changes is not None:  # before the rows are read; a page without a thread counts too
            stamps = _Stamps.take(changes, tuple(page_slot(site, uri) for uri in uris))
        sql = FIND_COUNTS.format(", ".join("?" * len(uris)))
        found = dict(database.raw_rows(sql, (site, *uris)))
        body = json.dumps(
            {"counts": {u: found.get(u, 0) for u in uris}}, separators=(",", ":")
        ).encode()
        if changes is not None:
            _keep(
                self.count_answers, MAX_COUNTS, query_string, _Answer(stamps, None, site, "", body)
            )
        return "", body

    def respond(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        etag: str,
        body: bytes,
        started: float,
    ) -> list[bytes]:
        """Send `body` (or 304), with the same headers the Flask views send."""
        headers = [("Content-Type", "application/json"), ("Vary", "Origin")]
        if environ.get("HTTP_ORIGIN"):
            headers.append(("Access-Control-Allow-Origin", environ["HTTP_ORIGIN"]))
            headers.append(("Access-Control-Expose-Headers", "ETag, Retry-After, Location"))
        status = "200 OK"
        if etag:
            headers += [("ETag", f'"{etag}"'), ("Cache-Control", "no-cache")]
            if f'"{etag}"' in environ.get("HTTP_IF_NONE_MATCH", ""):
                status, body = "304 Not Modified", b""
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        path = environ["PATH_INFO"]
        pair = self.counted.get((path, status))
        if pair is None:  # the path is one of the two routes the fast path answers
            pair = self.counted[(path, status)] = (
                metrics.REQUESTS.labels(path, "GET", status[:3]),
                metrics.REQUEST_SECONDS.labels(path),
            )
        now = time.perf_counter()
        self.tally.add(pair[0], pair[1], now - started, now)
        if self.settings.server.access_log:
            log.info(
                "%s %s %s",
                "GET",
                environ["PATH_INFO"],
                status[:3],
                extra={
                    "fields": {
                        "method": "GET",
                        "path": environ["PATH_INFO"],
                        "status": int(status[:3]),
                        "fast": True,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )
        return [body]
