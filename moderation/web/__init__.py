"""Flask glue only: parse, call a service, shape the response. One blueprint per audience."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from moderation.web import (
    auth,
    dashboard,
    email_links,
    feeds,
    linkbacks,
    metrics,
    moderation_api,
    privacy,
    public,
    reader_auth,
    subscriptions,
    widget,
)
from moderation.web.errors import register_error_handlers

# Every POST is CSRF-checked, except the APIs whose callers cannot carry a session token: the widget
# (JSON only, so a cross-site form cannot post, and CORS-checked per site), bearer-token APIs and
# the linkback protocols (servers, not browsers).
csrf = CSRFProtect()


def register_web(app: Flask) -> None:
    """Register the blueprints, CSRF protection and the error handlers."""
    csrf.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(email_links.bp)  # /moderate/act/<token>: a POST form with CSRF
    auth.init_auth(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(moderation_api.bp)
    app.register_blueprint(linkbacks.bp)  # TrackBack, Pingback, Webmention
    app.register_blueprint(linkbacks.api)  # /api/v1/discovery
    app.register_blueprint(privacy.bp)  # /privacy/: readers' own data requests
    app.register_blueprint(subscriptions.bp)  # /subscriptions/: readers' notification links
    app.register_blueprint(reader_auth.bp)  # /auth/: the popup in which readers sign in
    app.register_blueprint(metrics.bp)  # /metrics: for [metrics] allow addresses or its token
    metrics.init_request_metrics(app)
    csrf.exempt(widget.bp)
    csrf.exempt(moderation_api.bp)
    csrf.exempt(linkbacks.bp)
    csrf.exempt(privacy.bp)  # anonymous; cross-site POSTs refused by Origin/Sec-Fetch-Site
    csrf.exempt(subscriptions.bp)  # the signed link is the credential (RFC 8058 one-click POST)
    csrf.exempt(
        reader_auth.bp
    )  # anonymous popup; cross-site POSTs refused by Sec-Fetch-Site/Origin
    register_error_handlers(app)
