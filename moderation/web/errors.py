"""Errors become responses here, and only here: JSON for the APIs, the protocol's own format for
linkbacks (their blueprints register their own handlers), plain pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from moderation.errors import (
    DatabaseBusy,
    Duplicate,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    ModerationError,
    NotFound,
    RateLimited,
)
from moderation.services.comments import EditLimitReached
from moderation.services.readers import (
    ProviderUnavailable,
    ReaderTokenInvalid,
    SignInFailed,
    SignInRequired,
)
from moderation.web.guards import RateLimitExceeded

log = logging.getLogger(__name__)

STATUS = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Duplicate: 409,
    InvalidTransition: 409,
    EditLimitReached: 409,
    RateLimited: 429,
    DatabaseBusy: 503,
    ReaderTokenInvalid: 401,
    SignInRequired: 401,
    SignInFailed: 400,
    ProviderUnavailable: 502,
}


def status_of(exc: ModerationError) -> int:
    """The HTTP status for a domain error (the most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def json_error(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> Response:
    """``{"error": {"code", "message", "fields"?}}`` with `status`. The access log's line for the
    request names the same reason (`g.error_reason`)."""
    g.error_reason = f"{code}: {message}" + (
        " (" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + ")" if fields else ""
    )
    body: dict[str, object] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    return response


def wants_json() -> bool:
    """Whether this request is answered in JSON (the APIs and anything that is not a page)."""
    return request.path.startswith("/api/") or request.path in ("/healthz",)


def handle_moderation_error(exc: ModerationError) -> Response:
    """A domain error as JSON."""
    response = json_error(status_of(exc), exc.code, exc.message, exc.fields)
    if isinstance(exc, RateLimited | DatabaseBusy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_http_error(exc: HTTPException) -> Response | HTTPException:
    """Werkzeug's errors (404, 405, 413, 429, …) as JSON under the APIs."""
    if not wants_json():
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    response = json_error(exc.code or 500, code, exc.description or exc.name)
    if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    if isinstance(exc, RateLimitExceeded):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_unexpected(exc: Exception) -> Response:
    """Anything else is our bug: log it with its traceback, answer a plain 500."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    if wants_json():
        return json_error(500, "internal_error", "something went wrong on our side")
    return Response("Internal server error", status=500, mimetype="text/plain")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app`."""
    app.register_error_handler(ModerationError, handle_moderation_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
