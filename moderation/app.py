"""The application factory."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from moderation import markup
from moderation.config import Settings
from moderation.domain.inputs import MAX_ID
from moderation.runtime.cache import make_cache
from moderation.runtime.jobs import Jobs
from moderation.runtime.logs import init_access_log
from moderation.services import Context, build_context
from moderation.storage.db import Database
from moderation.web import current, register_web
from moderation.web.client import parse_networks
from moderation.web.fastpath import ReadFastPath
from moderation.web.guards import make_limiter
from moderation.web.sessions import CookieSessions


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: a number larger than the database's integer columns hold is a
    404, as an id that does not exist, instead of reaching a query that PostgreSQL would refuse.
    (Not the converter's `max`: a route that does not match could let another one answer 405.)"""

    def to_python(self, value: str) -> int:
        number: int = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


def create_app(
    settings: Settings, *, database: Database | None = None, context: Context | None = None
) -> Flask:
    """Build the app for `settings`. Tests may pass a `database` and a `context` of their own.

    Nothing here touches the network or migrates the database: start-up works with Akismet, SMTP
    and every linkback source unreachable.
    """
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.url_map.converters["int"] = DatabaseId
    app.jinja_env.filters["sanitized"] = markup.sanitized
    keys = list(settings.server.secret_key)
    app.config.update(
        SECRET_KEY=keys[-1],
        SECRET_KEY_FALLBACKS=keys[:-1],
        MAX_CONTENT_LENGTH=settings.server.max_body_bytes,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server.public_url.startswith("https://"),
        SESSION_COOKIE_NAME="moderation_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.server.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.session_interface = CookieSessions()
    database = database or Database(
        settings.database.url,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        pool_size=settings.database.pool_size,
    )
    jobs = Jobs(settings, database, context or build_context(settings))
    parts = current.Parts(
        database=database,
        context=jobs.ctx,
        jobs=jobs,
        cache=make_cache(settings),
        trusted_proxies=parse_networks(settings.guard.trusted_proxies),
        rate_limits=make_limiter(settings),
    )
    current.install(app, parts)
    if settings.server.access_log:
        init_access_log(app)
    register_web(app)
    app.wsgi_app = ReadFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    return app
