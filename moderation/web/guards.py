"""The per-IP rate limit, shared by every worker (SQLite counters) or every node (Redis)."""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter

from moderation.config import Settings
from moderation.web import ratelimit
from moderation.web.client import client_ip

limiter = Limiter(key_func=lambda: client_ip(), headers_enabled=True, strategy="fixed-window")


def post_rate() -> str:
    """The configured ``[guard] rate_limit`` (read per request, so tests and reloads see changes)."""
    settings: Settings = current_app.extensions["moderation.settings"]
    return settings.guard.rate_limit


def init_limiter(app: Flask, settings: Settings) -> None:
    """Point the limiter at Redis when configured, else at a counter file every worker shares."""
    if settings.redis.url:
        uri = settings.redis.url
    else:
        uri = ratelimit.storage_uri(settings.data_path / "ratelimits.sqlite3")
    app.config["RATELIMIT_STORAGE_URI"] = uri
    app.config["RATELIMIT_KEY_PREFIX"] = "moderation"
    limiter.init_app(app)
