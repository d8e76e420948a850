"""The per-IP rate limit, shared by every worker (SQLite counters) or every node (Redis)."""

from __future__ import annotations

import time

from flask import Flask, current_app
from flask_limiter import Limiter

from moderation.config import Settings
from moderation.web import ratelimit
from moderation.web.client import client_ip

# Flask-Limiter's own headers would put a Retry-After on every response, 201s included, and would
# overwrite the flood check's precise one; we set Retry-After on our 429s ourselves instead.
limiter = Limiter(key_func=lambda: client_ip(), headers_enabled=False, strategy="fixed-window")


def retry_after_seconds() -> int:
    """Seconds until the breached limit's window ends (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))


def post_rate() -> str:
    """The configured ``[guard] rate_limit`` (read per request, so tests and reloads see changes)."""
    settings: Settings = current_app.extensions["moderation.settings"]
    return settings.guard.rate_limit


def init_limiter(app: Flask, settings: Settings) -> None:
    """Point the limiter at Redis when configured, else at a counter file every worker shares."""
    uri = settings.redis.url or ratelimit.storage_uri(settings.data_path / "ratelimits.sqlite3")
    app.config["RATELIMIT_STORAGE_URI"] = uri
    app.config["RATELIMIT_KEY_PREFIX"] = "moderation"
    limiter.init_app(app)
