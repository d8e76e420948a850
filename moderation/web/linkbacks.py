"""Blueprint ``linkbacks``: the TrackBack, Pingback and Webmention endpoints (servers, not browsers:
CSRF-exempt), the Webmention status resource, and ``linkback_api``'s discovery endpoint.

Each protocol answers in its own format whatever goes wrong, garbage included: TrackBack's XML
``<response>`` (application errors travel as HTTP 200, as in WordPress), XML-RPC faults (always
HTTP 200, as XML-RPC requires) and Webmention's plain-text 400 and 429. A write that cannot get
the database's write lock in time (`DatabaseBusy`) is a temporary error in each protocol's words,
with a Retry-After: TrackBack's error body with a 503, a generic XML-RPC fault, Webmention's 503.
Only a bug of ours is a 500, and even then in the protocol's format (the status makes the unit of
work roll back).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from moderation.domain import linkbacks as lb
from moderation.errors import (
    DatabaseBusy,
    Duplicate,
    Forbidden,
    ModerationError,
    RateLimited,
    ThreadClosed,
)
from moderation.services import linkbacks as service
from moderation.services.comments import ClientInfo
from moderation.web import current, schemas
from moderation.web.client import client_ip
from moderation.web.errors import handle_http_error, handle_moderation_error
from moderation.web.guards import RateLimitExceeded, rate_limited

log = logging.getLogger(__name__)

bp = Blueprint("linkbacks", __name__)
api = Blueprint("linkback_api", __name__, url_prefix="/api/v1")

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TRACKBACK, PINGBACK, WEBMENTION = (
    "linkbacks.trackback",
    "linkbacks.pingback",
    "linkbacks.webmention",
)
XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def _client() -> ClientInfo:
    return ClientInfo(
        ip=client_ip(),
        user_agent=request.headers.get("User-Agent", "")[:512],
        referrer=request.headers.get("Referer", "")[:1024],
    )


# --- the endpoints ----------------------------------------------------------------------------------


@bp.route("/trackback/<site>/", defaults={"uri": ""}, methods=ANY_METHOD)
@bp.route("/trackback/<site>/<path:uri>", methods=ANY_METHOD)
@rate_limited
def trackback(site: str, uri: str) -> Response:
    """A TrackBack ping (form fields url, title, excerpt, blog_name); POST only (TB-1, TB-13)."""
    if request.method != "POST":
        return _trackback_answer(lb.TRACKBACK_POST_ONLY, 405)
    if request.mimetype == "multipart/form-data":
        fields = request.form.to_dict()
    else:  # read the raw body: the charset is ours to find (TB-14), not Werkzeug's UTF-8
        fields = lb.decode_form(
            request.get_data(cache=False), request.headers.get("Content-Type", "")
        )
    ping = lb.parse_trackback(fields)
    key = request.args.get("key", "")
    ctx = current.context()
    draft = service.prepare_trackback(current.session(), ctx, site, "/" + uri, ping, _client(), key)
    with current.write() as tx:
        service.store_linkback(tx, ctx, draft)
    return _trackback_answer(None)


@bp.route("/pingback", methods=ANY_METHOD)
@rate_limited
def pingback() -> Response:
    """The XML-RPC server for ``pingback.ping(sourceURI, targetURI)``."""
    if request.method != "POST":
        return _text("XML-RPC server accepts POST requests only.", 405)
    source, target = lb.parse_pingback_request(request.get_data(cache=False))
    ctx = current.context()
    draft = service.prepare_pingback(current.session(), ctx, source, target, _client())
    with current.write() as tx:
        service.store_linkback(tx, ctx, draft)
    return _xml(
        lb.xmlrpc_success(f"Pingback from {source} to {target} received; it will be verified.")
    )


@bp.route("/webmention", methods=ANY_METHOD)
@rate_limited
def webmention() -> Response:
    """A webmention (form fields source, target): 202 with a Location to its status (WM-7)."""
    if request.method != "POST":
        return _text("Send a webmention: POST source and target as a form.", 405)
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise lb.LinkbackRefused("send source and target as application/x-www-form-urlencoded")
    source, target = request.form.get("source", ""), request.form.get("target", "")
    ctx = current.context()
    draft = service.prepare_webmention(current.session(), ctx, source, target, _client())
    with current.write() as tx:
        comment = service.store_linkback(tx, ctx, draft)
    location = f"{current.settings().server.public_url.rstrip('/')}/webmention/status/"
    location += service.status_token(current.context(), comment)
    response = _text(f"Accepted: the source will be verified.\nStatus: {location}", 202)
    response.headers["Location"] = location
    return response


@bp.get("/webmention/status/<token>")
def webmention_status(token: str) -> Response:
    """``{status: pending|verified|rejected|deleted, ...}`` of one webmention (WM-14)."""
    return jsonify(service.webmention_status(current.session(), current.context(), token))


@api.get("/discovery")
def discovery() -> Response:
    """What a page must carry for senders to find our endpoints (TB-15): the TrackBack RDF block,
    the pingback and webmention ``<link>`` tags and the HTTP headers."""
    site, uri = schemas.parse_thread_query(request.args, current.settings().sites)
    return jsonify(
        service.page_discovery(current.session(), current.context(), site, uri).as_dict()
    )


# --- answers ----------------------------------------------------------------------------------------


def _xml(body: str, status: int = 200) -> Response:
    return Response(body.encode("utf-8"), status=status, content_type=XML)


def _text(body: str, status: int) -> Response:
    response = Response(body + "\n", status=status, content_type=TEXT)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


def _trackback_answer(error: str | None, status: int = 200) -> Response:
    response = _xml(lb.trackback_response(error), status)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


def _fault_of(exc: ModerationError) -> int:
    """The Pingback fault for a refusal (§2.2)."""
    if isinstance(exc, lb.LinkbackRefused):
        return exc.fault
    if isinstance(exc, Duplicate):
        return lb.FAULT_ALREADY_REGISTERED
    if isinstance(exc, ThreadClosed):
        return lb.FAULT_TARGET_INVALID
    if isinstance(exc, RateLimited | Forbidden):
        return lb.FAULT_ACCESS_DENIED
    return lb.FAULT_GENERIC


def _trackback_message(exc: ModerationError) -> str:
    if isinstance(exc, ThreadClosed):
        return lb.TRACKBACK_CLOSED
    if isinstance(exc, RateLimited):
        return lb.TRACKBACK_TOO_FAST
    return exc.message


@bp.errorhandler(ModerationError)
def _refused(exc: ModerationError) -> Response:
    """A refusal, in the protocol's own words."""
    if request.endpoint == TRACKBACK:
        return _trackback_answer(_trackback_message(exc))
    if request.endpoint == PINGBACK:
        return _xml(lb.xmlrpc_fault(_fault_of(exc), exc.message))
    if request.endpoint == WEBMENTION:
        response = _text(exc.message, 429 if isinstance(exc, RateLimited) else 400)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return handle_moderation_error(exc)


@bp.errorhandler(DatabaseBusy)
def _busy(exc: DatabaseBusy) -> Response:
    """No write lock in time: nothing was stored, and the sender may simply try again. Each
    protocol's temporary error (TrackBack: HTTP errors are "returned as such"; XML-RPC: a fault,
    always HTTP 200; Webmention: 503), each with Retry-After, never the API's JSON."""
    protocol = {TRACKBACK: "trackback", PINGBACK: "pingback", WEBMENTION: "webmention"}.get(
        request.endpoint or "", request.endpoint or "?"
    )
    log.warning(
        "%s answered busy: waited %.2f s for the write lock; Retry-After %d s",
        protocol,
        exc.waited,
        exc.retry_after,
    )
    message = f"the server is busy; try again in {exc.retry_after} seconds"
    if request.endpoint == TRACKBACK:
        response = _trackback_answer(message, 503)
    elif request.endpoint == PINGBACK:
        response = _xml(lb.xmlrpc_fault(lb.FAULT_GENERIC, message))
    elif request.endpoint == WEBMENTION:
        response = _text(message, 503)
    else:
        return handle_moderation_error(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response | HTTPException:
    """HTTP-level refusals (413 too large, 429 rate limited, 400 unreadable) in protocol format."""
    code = exc.code or 400
    message = lb.TRACKBACK_TOO_FAST if code == 429 else exc.description or exc.name
    if request.endpoint == PINGBACK:
        fault = lb.FAULT_ACCESS_DENIED if code == 429 else lb.FAULT_GENERIC
        return _xml(lb.xmlrpc_fault(fault, message if code != 429 else "too many pingbacks"))
    if request.endpoint == TRACKBACK:
        response = _trackback_answer(message, code)
    elif request.endpoint == WEBMENTION:
        response = _text(message, code)
    else:
        return handle_http_error(exc)
    if isinstance(exc, RateLimitExceeded):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.errorhandler(Exception)
def _bug(exc: Exception) -> Response:
    """Our own failure: logged with its traceback, answered in the protocol's format with a 500
    (which also rolls the request's unit of work back)."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    message = "something went wrong on our side"
    if request.endpoint == PINGBACK:
        return _xml(lb.xmlrpc_fault(lb.FAULT_GENERIC, message), 500)
    if request.endpoint == TRACKBACK:
        return _trackback_answer(message, 500)
    return _text(message, 500)
