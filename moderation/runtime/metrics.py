"""Prometheus metrics: what the service counts, and how every process's counts reach one scrape.

Counters and histograms live here, one module-level object each, so any layer can count without
being handed a registry. Their labels are bounded by construction: route templates (never paths),
site ids from the config, enum values, a handful of outcomes. No URI, address or e-mail is ever a
label, so the number of series cannot grow with traffic.

Several processes serve one instance (Granian's workers and the job consumer), so under
``moderation serve`` the values live in prometheus_client's multiprocess mode: every process writes
its own memory-mapped files in one directory (`use_directory`), and a scrape adds them up
(`render`). Outside it (tests, a bare WSGI app) the values are this process's own.

What is a state rather than an event (the outbox backlog, dead letters, the consumer's heartbeat) is
read at scrape time by the web layer (`moderation.web.metrics.StateCollector`), so every worker
answers the same and nothing has to be kept in step. This module imports neither Flask nor
SQLAlchemy: the scorers count here too.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request latencies: most reads take a millisecond or less, posts tens of milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Akismet answers in tens to hundreds of milliseconds; its timeout is a few seconds.
CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: This process's metrics; in multiprocess mode a scrape reads every process's files instead.
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "moderation_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "moderation_http_request_duration_seconds",
    "Time from the request reaching the app to its answer, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SUBMISSIONS = Counter(
    "moderation_submissions",
    "Comments and linkbacks stored, by site, kind, the scorer's verdict and the first status.",
    ["site", "kind", "verdict", "status"],
    registry=REGISTRY,
)
AKISMET_CALLS = Counter(
    "moderation_akismet_calls",
    "Calls to Akismet by method and outcome (ham, spam, discard, ok, recheck, unavailable, "
    "invalid_key or paused).",
    ["method", "outcome"],
    registry=REGISTRY,
)
AKISMET_SECONDS = Histogram(
    "moderation_akismet_call_duration_seconds",
    "How long Akismet took to answer (or to fail), by method.",
    ["method"],
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
ACTIONS = Counter(
    "moderation_moderation_actions",
    "Status changes, by action and by who acted (moderator, email-link, api-token, author, system).",
    ["action", "actor"],
    registry=REGISTRY,
)
MAILS = Counter(
    "moderation_mails",
    "Mails handed to the SMTP server (sent), refused for good (refused, the address is then "
    "suppressed), failed for now (failed, retried later) or not sent to a suppressed address.",
    ["outcome"],
    registry=REGISTRY,
)
VERIFICATIONS = Counter(
    "moderation_linkback_verifications",
    "Checks of a linkback's source page, by kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
CACHE = Counter(
    "moderation_cache_lookups",
    "Lookups of built thread answers: the fast path's in-process answers (layer=answers) and the "
    "shared cache (layer=shared), by result.",
    ["layer", "result"],
    registry=REGISTRY,
)

# Actor labels are "moderator:<e-mail>", "email-link:<address>", "token:<name>", ...: only the
# kind before the colon becomes a label.
ACTOR_KINDS = frozenset({"moderator", "email-link", "token", "api-token", "author", "system"})


def actor_kind(label: str) -> str:
    """The bounded kind of an audit actor label (``moderator:ann@example.org`` -> ``moderator``)."""
    kind = label.partition(":")[0]
    return kind if kind in ACTOR_KINDS else "other"


# --- where the values live -------------------------------------------------------------------------


def directory(data_path: Path) -> Path:
    """Where `moderation serve` and its job consumer keep their metric files."""
    return data_path / "metrics"


def use_directory(path: Path, *, clear: bool) -> None:
    """Keep this process's values (and its children's, which inherit the environment) in `path`,
    for `render` to add up. `clear` first removes the files of processes that are gone: counters
    start again with the server, which Prometheus' ``rate()`` reads as a restart, while a job
    consumer started on its own keeps counting. Call before any metric is used in this process."""
    path.mkdir(parents=True, exist_ok=True)
    if clear:
        for file in path.glob("*.db"):
            pid = file.stem.rpartition("_")[2]
            if not (pid.isdigit() and _alive(int(pid))):
                file.unlink(missing_ok=True)
    os.environ[ENVIRONMENT] = str(path)
    # prometheus_client picks the value class when it is first imported; a process that imported
    # it before the directory was known switches now (no metric child exists yet to move).
    values.ValueClass = values.MultiProcessValue()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def multiprocess_directory() -> str | None:
    """The directory of the multiprocess files, when this process uses one."""
    path = os.environ.get(ENVIRONMENT)
    return path if path and os.path.isdir(path) else None


def render(*state: Collector) -> bytes:
    """The text exposition of every metric: this instance's processes, plus `state` collectors
    that read what they report when asked."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_directory()
    if path is not None:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(REGISTRY)
    for collector in state:
        registry.register(collector)
    return generate_latest(registry)


class Batched:
    """Counts and timings kept in plain numbers, added to their metrics at most once a `every`
    seconds, for the fast path, whose reads cost a few tens of microseconds: a counter or
    histogram of the multiprocess mode costs 1.5 to 2 µs a call (a lock, a pid check, a write to
    its memory map), a tally here a tenth of that. What is waiting reaches the metrics on the
    next request after `every` seconds, before a scrape in this process (`flush_all`), and at
    exit; a scrape served by another worker sees it at most `every` seconds late."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.due = 0.0
        self.lock = threading.Lock()
        self.counts: dict[Any, int] = {}
        # per histogram child: one count per bucket, then the sum
        self.timings: dict[Any, list[float]] = {}
        _BATCHES.add(self)

    def add(self, counted: Any, timed: Any, seconds: float, now: float) -> None:
        """Count one for the counter child `counted`, observe `seconds` on the histogram child
        `timed`; flush when due (`now`: ``time.perf_counter()``)."""
        bounds = timed._upper_bounds
        with self.lock:
            self.counts[counted] = self.counts.get(counted, 0) + 1
            slots = self.timings.get(timed)
            if slots is None:
                slots = self.timings[timed] = [0.0] * (len(bounds) + 1)
            slots[bisect.bisect_left(bounds, seconds)] += 1
            slots[-1] += seconds
        if now >= self.due:
            self.flush(now)

    def count(self, counted: Any) -> None:
        """Count one for the counter child `counted` (reaches it with the next flush)."""
        with self.lock:
            self.counts[counted] = self.counts.get(counted, 0) + 1

    def flush(self, now: float | None = None) -> None:
        """Add what is waiting to the metrics."""
        with self.lock:
            counts, self.counts = self.counts, {}
            timings, self.timings = self.timings, {}
            self.due = (time.perf_counter() if now is None else now) + self.every
        for child, amount in counts.items():
            child.inc(amount)
        for child, slots in timings.items():  # as Histogram.observe would have, in one go
            for index, observed in enumerate(slots[:-1]):
                if observed:
                    child._buckets[index].inc(observed)
            child._sum.inc(slots[-1])


_BATCHES: weakref.WeakSet[Batched] = weakref.WeakSet()


def flush_all() -> None:
    """Add every batch's waiting counts to the metrics (before this process serves a scrape)."""
    for batch in list(_BATCHES):
        batch.flush()


atexit.register(flush_all)


def count_after_commit(session: Any, count: Callable[[], object]) -> None:
    """Run `count` once the write of `session` has committed (right away outside a write), so a
    rolled-back change is never counted."""
    hooks = getattr(session, "after_commit_hooks", None)
    if hooks is None:
        count()
    else:
        hooks.append(count)
