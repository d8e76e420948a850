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
from dataclasses import replace
from datetime import timedelta
from typing import Any

from flask import Blueprint, g, request
from limits import RateLimitItem, parse
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.wrappers import Response

from moderation import markup
from moderation.domain import inputs
from moderation.domain.states import CommentStatus
from moderation.errors import Forbidden, InvalidInput, TokenInvalid
from moderation.models import Reader
from moderation.runtime import cache as thread_cache
from moderation.runtime import metrics
from moderation.runtime.process import one_submission_at_a_time
from moderation.services import comments as comment_service
from moderation.services import readers as reader_service
from moderation.services import subscriptions as subscription_service
from moderation.services import threads as thread_service
from moderation.services import votes as vote_service
from moderation.services.moderation import get_comment
from moderation.web import current, schemas
from moderation.web import subscriptions as subscription_pages
from moderation.web.client import client_ip
from moderation.web.guards import RateLimitExceeded, rate_limited, rate_limits, seconds_left

bp = Blueprint("widget", __name__, url_prefix="/api/v1")

CORS_HEADERS = "Content-Type, X-Edit-Token, X-Reader, If-None-Match, Authorization"
EXPOSED_HEADERS = "ETag, Retry-After, Location"


def _request_origin() -> str:
    """This request's own origin: a page this service served (the demo) calling it from the
    address it was opened at. Browsers send an ``Origin`` equal to it only from such pages."""
    return request.host_url.rstrip("/")


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
    if origin.rstrip("/") not in {o.rstrip("/") for o in allowed} | {
        _own_origin(),
        _request_origin(),
    }:
        raise Forbidden(
            f"origin {origin} may not use site {site!r}: add it to [sites.{site}] origins"
            " in the service's config",
            fields={"origin": origin},
        )
    g.cors_origin = origin


@bp.before_request
def _preflight() -> Response | None:
    """Answer CORS preflights for any origin that some site allows; the real request is checked
    against its own site."""
    if request.method != "OPTIONS":
        return None
    # Every origin gets its preflight: the request itself is then checked against its site, and
    # an origin that may not use it reads the 403 that says why (nothing else).
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
    if not origin and response.status_code >= 400:
        origin = request.headers.get("Origin")  # any page may read why it was refused
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
    """One page of a page's approved comments (top-level ones in `sort` order, each with its
    replies), with the cursor of the next page; ETag and 304, cached per thread version."""
    site, uri = schemas.parse_thread_query(request.args, current.settings().sites)
    check_origin(site)
    page = schemas.parse_page_query(request.args)
    etag, body = cached_thread(site, uri, page)
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


_turns = thread_cache.Turns()  # builders of thread pages, one per key at a time (this process)


def cached_thread(
    site: str, uri: str, page: thread_service.PageRequest | None = None
) -> tuple[str, bytes]:
    """A page of the thread's JSON and its ETag, built once per thread version and page (see
    `moderation.runtime.cache`); the fast path serves the same bytes under the same key."""
    page = page or thread_service.PageRequest()
    session, ctx = current.session(), current.context()
    thread = comment_service.find_thread(session, site, uri)  # one lookup for the key and the JSON
    key = thread_service.cache_key(ctx, site, thread, page) if thread else None
    cache = current.cache()
    hit = cache.get(key) if key else None
    if hit is not None:
        metrics.CACHE.labels("shared", "hit").inc()
        head, _, cached = hit.partition(b"\n")
        return head.decode(), cached
    metrics.CACHE.labels("shared", "miss").inc()
    if not key:  # no thread yet: nothing to share
        return _built(thread_service.thread_page(session, ctx, site, uri, page, thread))
    with _turns.turn(key):  # one build per version and page in this process (`cache.Turns`)
        hit = cache.get(key)
        if hit is not None:  # built by the reader that had the turn before
            head, _, cached = hit.partition(b"\n")
            return head.decode(), cached
        etag, body = _built(thread_service.thread_page(session, ctx, site, uri, page, thread))
        cache.set(key, etag.encode() + b"\n" + body)
    return etag, body


def _built(data: dict[str, object]) -> tuple[str, bytes]:
    """The ETag and bytes of a thread page's JSON."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()[:32], body


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
    reader = signed_in_reader(new.site)
    if reader is not None:  # the identity's name and (verified) address, not what was typed
        verified = reader.email_verified and bool(reader.email)
        new = replace(
            new,
            author=reader.name,
            email=reader.email if verified else "",
            reader_id=reader.id,
            email_verified=verified,
        )
    elif current.settings().sites[new.site].identity == "required":
        raise reader_service.SignInRequired("sign in to comment on this site")
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
    if reader is not None:  # a signed-in reader keeps the right, with their token
        window = timedelta(days=ctx.settings.comments.signed_in_edit_days)
    body = {
        "comment": thread_service.public_comment(ctx, comment, new.site, reader),
        "edit_token": comment_service.edit_token(ctx, comment),
        "edit_until": thread_service.iso(comment.created_at + window),
    }
    # Published now (201), or waiting, also when it is spam (202): a spammer is never told which.
    return json_response(body, 201 if comment.status is CommentStatus.approved else 202)


def bearer() -> str | None:
    """The ``Authorization: Bearer`` reader token, if the request carries one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def signed_in_reader(site: str | None) -> Reader | None:
    """The signed-in reader of this request (None without a Bearer token), its token checked for
    `site` (None: its own site, after the origin check for that site). Raises
    `ReaderTokenInvalid` (401) and `ReaderBlocked` (403)."""
    token = bearer()
    if token is None:
        return None
    ctx = current.context()
    if site is None:
        site = reader_service.token_site(ctx, token)
        check_origin(site)
    return reader_service.reader_for_token(current.session(), ctx, token, site)


@bp.get("/me")
def me() -> Response:
    """The signed-in reader: ``{provider, name, email_verified, avatar, profile}``."""
    reader = signed_in_reader(None)
    if reader is None:
        raise reader_service.ReaderTokenInvalid("send the reader token as Authorization: Bearer")
    _any_site_origin()
    return json_response(reader_service.profile(reader))


def _any_site_origin() -> None:
    """Let a page of any configured site (or this service) read the answer; another origin is
    refused. For answers that belong to no one site (the reader's own profile, a preview)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    known = {o.rstrip("/") for s in current.settings().sites.values() for o in s.origins}
    if origin.rstrip("/") not in known | {_own_origin(), _request_origin()}:
        raise Forbidden("this origin may not use this service")
    g.cors_origin = origin


@bp.post("/me/logout")
def logout() -> Response:
    """Sign out everywhere: every token of this reader stops working (204). Needs the token in
    the Authorization header, which no cross-site form can send."""
    reader = signed_in_reader(None)
    if reader is None:
        raise reader_service.ReaderTokenInvalid("send the reader token as Authorization: Bearer")
    with current.write() as tx:
        reader_service.logout(tx, current.context(), reader.id)
    return Response(status=204)


def _comment_reader(comment_id: int) -> int | None:
    """The signed-in reader editing or deleting a comment (their id): with a Bearer token, for a
    signed-in reader's comment or when no edit token is sent. None: the edit token decides."""
    if bearer() is None:
        return None
    comment = get_comment(current.session(), comment_id)
    if comment.reader_id is None and request.headers.get("X-Edit-Token"):
        return None
    reader = signed_in_reader(comment.thread.site)
    return reader.id if reader is not None else None


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
    reader_id = _comment_reader(comment_id)
    token = None if reader_id is not None else _edit_token(comment_id)
    text = schemas.parse_edit(json_body(), current.settings().comments)
    _check_comment_origin(comment_id)
    ctx = current.context()
    draft = comment_service.prepare_edit(
        current.session(), ctx, comment_id, token, text, reader_id=reader_id
    )
    with current.write() as tx:
        comment = comment_service.store_edit(tx, ctx, draft)
        answer = thread_service.public_comment(ctx, comment)
    return json_response(answer)


@bp.delete("/comments/<int:comment_id>")
def delete_comment(comment_id: int) -> Response:
    """Delete one's own comment within the edit window (a signed-in reader's within ``[comments]
    signed_in_edit_days``, with their Bearer token)."""
    reader_id = _comment_reader(comment_id)
    token = None if reader_id is not None else _edit_token(comment_id)
    _check_comment_origin(comment_id)
    with current.write() as tx:
        comment_service.delete_own_comment(
            tx, current.context(), comment_id, token, reader_id=reader_id
        )
    return Response(status=204)


def reader_id() -> str:
    """The ``X-Reader`` header: the opaque reader id the widget keeps (checked by the service)."""
    return request.headers.get("X-Reader", "")


@bp.post("/comments/<int:comment_id>/vote")
@rate_limited
def vote(comment_id: int) -> Response:
    """A reader's vote on a published comment: ``{"value": 1 | -1 | 0}`` with ``X-Reader``;
    answers ``{likes, dislikes?, mine}``."""
    data = json_body()
    _check_comment_origin(comment_id)
    value = data.get("value")
    if type(value) is not int:
        raise InvalidInput("bad vote", fields={"value": "1, -1 or 0"})
    ctx = current.context()
    with current.write() as tx:
        answer = vote_service.vote(tx, ctx, comment_id, reader_id(), value, client_ip())
    return json_response(answer)


@bp.post("/likes")
@rate_limited
def like_page() -> Response:
    """A reader's like of a page: ``{site, uri, "like": true | false}`` (true when left out)
    with ``X-Reader``; answers ``{likes, mine}``."""
    data = json_body()
    site, uri = schemas.parse_thread_query(data, current.settings().sites)
    check_origin(site)
    liked = data.get("like", True)
    if not isinstance(liked, bool):
        raise InvalidInput("bad like", fields={"like": "true or false"})
    ctx = current.context()
    with current.write() as tx:
        answer = vote_service.like_page(tx, ctx, site, uri, reader_id(), liked, client_ip())
    return json_response(answer)


@bp.post("/preview")
@rate_limited
def preview() -> Response:
    """``{"text"}`` to ``{"html"}``: the very Markdown renderer and sanitizer that posting uses.
    Any origin that some site allows may ask (it stores nothing)."""
    data = json_body()
    _any_site_origin()
    text = schemas.parse_edit(data, current.settings().comments)
    return json_response({"html": markup.render(text)})


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
