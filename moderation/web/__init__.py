"""Flask glue only: parse, call a service, shape the response. One blueprint per audience."""

from __future__ import annotations

from flask import Flask

from moderation.web import email_links, feeds, public, widget
from moderation.web.errors import register_error_handlers


def register_web(app: Flask) -> None:
    """Register the blueprints and the error handlers."""
    app.register_blueprint(public.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(email_links.bp)  # /moderate/act/<token>: a POST form with CSRF
    register_error_handlers(app)
