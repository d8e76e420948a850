"""The per-IP rate limit, shared by every worker (SQLite counters) or every node (Redis).

Built on `limits`, the library under Flask-Limiter, used directly: fixed-window counters in a
`limits` storage (`moderation.web.ratelimit`'s SQLite file, or Redis). Flask-Limiter did the same
counting but resolved its limits twice on every request, once in a ``before_request`` hook that
runs for every request and once in the decorator; that bookkeeping cost more than the counter
itself. The service has one kind of limit, per client IP and per endpoint, so the decorator
below is all it needs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from moderation.config import Settings
from moderation.web import current, ratelimit
from moderation.web.client import client_ip

PREFIX = "moderation"
_P = ParamSpec("_P")
_R = TypeVar("_R")


class RateLimitExceeded(TooManyRequests):
    """429: the client IP used up the endpoint's ``[guard] rate_limit``."""

    def __init__(self, limit: RateLimitItem, retry_after: int) -> None:
        super().__init__(str(limit))
        self.retry_after = max(1, retry_after)


def rate_limits() -> FixedWindowRateLimiter:
    """The app's counters (`make_limiter`)."""
    return current.parts().rate_limits


def seconds_left(limit: RateLimitItem, *key: str) -> int:
    """Seconds until the current window of `limit` for `key` ends (at least 1): a Retry-After."""
    reset = rate_limits().get_window_stats(limit, *key).reset_time
    return max(1, int(reset - time.time() + 0.999))


def post_rate() -> RateLimitItem:
    """The configured ``[guard] rate_limit`` (read per request, so tests and reloads see changes)."""
    return _parsed(current.settings().guard.rate_limit)


@functools.lru_cache(maxsize=32)
def _parsed(text: str) -> RateLimitItem:
    return parse(text)


def rate_limited(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Count a POST to `view` against ``[guard] rate_limit`` for its client IP; over the limit,
    raise `RateLimitExceeded` (a 429 with Retry-After) before the view runs. Every endpoint
    counts on its own, as Flask-Limiter's per-route limits did."""

    @functools.wraps(view)
    def limited(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if request.method == "POST":
            limit = post_rate()
            key = (PREFIX, client_ip(), request.endpoint or "")
            if not rate_limits().hit(limit, *key):
                raise RateLimitExceeded(limit, seconds_left(limit, *key))
        return view(*args, **kwargs)

    return limited


def make_limiter(settings: Settings) -> FixedWindowRateLimiter:
    """The counters: in Redis when configured, else in a file every worker shares."""
    uri = settings.redis.url or ratelimit.storage_uri(settings.data_path / "ratelimits.sqlite3")
    return FixedWindowRateLimiter(storage_from_string(uri))
