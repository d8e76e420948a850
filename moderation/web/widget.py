"""Blueprint ``widget`` (``/api/v1``): the JSON API the embedded widget talks to.

CORS is per site: a request carrying an ``Origin`` must come from one of that site's configured
origins (or from this service itself, whose demo page embeds the widget). Writes accept only
``application/json``, which a plain HTML form cannot send, so a cross-site form cannot post.
"""

from __future__ import annotations

import functools
import hashlib
import json
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

from flask import Blueprint, g, request
from limits import RateLimitItem, parse
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.wrappers import Response

from moderation.domain import inputs
from moderation.domain.states import CommentStatus
from moderation.errors import Forbidden, TokenInvalid
from moderation.runtime.process import one_submission_at_a_time
from moderation.services import comments as comment_service
from moderation.services import subscriptions as subscription_service
from moderation.services import threads as thread_service
from moderation.services.moderation import get_comment
from moderation.web import current, schemas
from moderation.web import subscriptions as subscription_pages
from moderation.web.client import client_ip
from moderation.web.guards import RateLimitExceeded, rate_limited, rate_limits, seconds_left

bp = Blueprint("widget", __name__, url_prefix="/api/v1")

CORS_HEADERS = "Content-Type, X-Edit-Token, If-None-Match"
EXPOSED_HEADERS = "ETag, Retry-After, Location"


def _own_origin() -> str:
    url = current.settings().server.public_url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_origin(site: str) -> None:
    """Refuse a browser request from an origin that `site` did not allow."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed = current.settings().sites[site].origins
    if origin.rstrip("/") not in {o.rstrip("/") for o in allowed} | {_own_origin()}:
        raise Forbidden("this origin may not use the comments of this site")
    g.cors_origin = origin


@bp.before_request
def _preflight() -> Response | None:
    """Answer CORS preflights for any origin that some site allows; the real request is checked
    against its own site."""
    if request.method != "OPTIONS":
        return None
    origin = request.headers.get("Origin", "").rstrip("/")
    known = {o.rstrip("/") for s in current.settings().sites.values() for o in s.origins}
    if origin not in known | {_own_origin()}:
        raise Forbidden("this origin may not use this service")
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE"
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Vary"] = "Origin"
    return response


@bp.after_request
def _cors(response: Response) -> Response:
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.vary.add("Origin")
    return response


def json_body() -> dict[str, Any]:
    """The request's JSON object; only ``application/json`` is accepted for writes."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the comment as application/json")
    # Not request.get_json(): its decoder's RecursionError on absurd nesting would be a 500.
    return schemas.require_object(inputs.parse_json(request.get_data(cache=False)))


def json_response(data: Any, status: int = 200) -> Response:
    """Compact JSON bytes."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json")


@bp.get("/threads/comments")
def thread() -> Response:
    """The approved comments of a page, as a tree; ETag and 304."""
    site, uri = schemas.parse_thread_query(request.args, current.settings().sites)
    check_origin(site)
    etag, body = cached_thread(site, uri)
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def cached_thread(site: str, uri: str) -> tuple[str, bytes]:
    """The thread's JSON and its ETag, built once per thread version (see `moderation.runtime.cache`)."""
    session, ctx = current.session(), current.context()
    thread = comment_service.find_thread(session, site, uri)  # one lookup for the key and the JSON
    key = thread_service.cache_key(ctx, site, thread) if thread else None
    cache = current.cache()
    hit = cache.get(key) if key else None
    if hit is not None:
        head, _, cached = hit.partition(b"\n")
        return head.decode(), cached
    data = thread_service.public_thread(session, ctx, site, uri, thread)
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    if key:
        cache.set(key, etag.encode() + b"\n" + body)
    return etag, body


@bp.get("/counts")
def counts() -> Response:
    """Approved-comment counts for many pages at once."""
    site, uris = schemas.parse_counts_query(request.args, current.settings().sites)
    check_origin(site)
    return json_response(
        {"counts": thread_service.counts(current.session(), current.context(), site, uris)}
    )


@bp.post("/comments")
@rate_limited
def post_comment() -> Response:
    """A reader's new comment: 201 when published at once, 202 when it waits (or is spam)."""
    with _submission_turn():
        return _post_comment()


def _submission_turn() -> AbstractContextManager[None]:
    """On SQLite a process's submissions take turns (`one_submission_at_a_time`): every write
    waits for its one write lock anyway. PostgreSQL has no such lock, and interleaved submissions
    overlap their round trips to it."""
    return one_submission_at_a_time() if current.database().dialect == "sqlite" else nullcontext()


def _post_comment() -> Response:
    data = json_body()
    if isinstance(data.get("site"), str) and data["site"] in current.settings().sites:
        check_origin(data["site"])  # a foreign origin learns nothing about field rules
    new = schemas.parse_new_comment(
        data, dict(current.settings().sites), current.settings().comments
    )
    client = comment_service.ClientInfo(
        ip=client_ip(),
        user_agent=request.headers.get("User-Agent", "")[:512],
        referrer=request.headers.get("Referer", "")[:1024],
    )
    ctx = current.context()
    draft = comment_service.prepare_comment(current.session(), ctx, new, client)
    with current.write() as tx:
        comment = comment_service.store_comment(tx, ctx, draft)
    window = timedelta(seconds=ctx.settings.comments.edit_window_seconds)
    body = {
        "comment": thread_service.public_comment(ctx, comment, new.site),
        "edit_token": comment_service.edit_token(ctx, comment),
        "edit_until": thread_service.iso(comment.created_at + window),
    }
    # Published now (201), or waiting, also when it is spam (202): a spammer is never told which.
    return json_response(body, 201 if comment.status is CommentStatus.approved else 202)


def _edit_token(comment_id: int) -> str:
    """The X-Edit-Token header, checked before anything reveals whether the comment exists."""
    token = request.headers.get("X-Edit-Token", "")
    if not token:
        raise TokenInvalid("send the comment's edit token in X-Edit-Token")
    comment_service.check_edit_token(current.context(), comment_id, token)
    return token


def _check_comment_origin(comment_id: int) -> None:
    check_origin(get_comment(current.session(), comment_id).thread.site)


@functools.lru_cache(maxsize=8)
def _parsed_rate(text: str) -> RateLimitItem:
    return parse(text)


def count_edit() -> None:
    """Count a PATCH against ``[guard] edit_rate_limit`` for its client IP (the counters of the
    POST rate limit, `web.guards`); over the limit raise `RateLimitExceeded`: a 429 with
    Retry-After. Every edit is scored and stored, so one token must not drive a loop of them."""
    limit = _parsed_rate(current.settings().guard.edit_rate_limit)
    key = ("moderation-edit", client_ip(), request.endpoint or "")
    if not rate_limits().hit(limit, *key):
        raise RateLimitExceeded(limit, seconds_left(limit, *key))


@bp.patch("/comments/<int:comment_id>")
def edit_comment(comment_id: int) -> Response:
    """Change the text of one's own comment within the edit window, at most ``[comments]
    max_edits`` times, and at most ``[guard] edit_rate_limit`` edits per client IP."""
    count_edit()
    token = _edit_token(comment_id)
    text = schemas.parse_edit(json_body(), current.settings().comments)
    _check_comment_origin(comment_id)
    ctx = current.context()
    draft = comment_service.prepare_edit(current.session(), ctx, comment_id, token, text)
    with current.write() as tx:
        comment = comment_service.store_edit(tx, ctx, draft)
        answer = thread_service.public_comment(ctx, comment)
    return json_response(answer)


@bp.delete("/comments/<int:comment_id>")
def delete_comment(comment_id: int) -> Response:
    """Delete one's own comment within the edit window."""
    token = _edit_token(comment_id)
    _check_comment_origin(comment_id)
    with current.write() as tx:
        comment_service.delete_own_comment(tx, current.context(), comment_id, token)
    return Response(status=204)


@bp.post("/subscriptions")
def subscribe() -> Response:
    """Subscribe an address to a page's new comments without commenting: always 202 with the same
    body, whether a confirmation was mailed, the address is subscribed already, or the request
    was over ``[notify] confirmations_per_address_per_day`` / ``confirmations_per_ip_per_hour``
    (then nothing is mailed). A malformed request is a 400 naming its fields."""
    data = json_body()
    if isinstance(data.get("site"), str) and data["site"] in current.settings().sites:
        check_origin(data["site"])  # a foreign origin learns nothing about field rules
    site, uri, address = subscription_pages.parse_subscription(data, current.settings())
    if subscription_pages.may_mail(address):
        ctx = current.context()
        with current.write() as tx:
            subscription_service.request_subscription(tx, ctx, site, uri, address)
    return json_response(subscription_pages.ACCEPTED, 202)
