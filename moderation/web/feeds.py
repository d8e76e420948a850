"""Blueprint ``feeds``: Atom 1.0 feeds of approved comments, per site and per thread.

Replies carry ``thr:in-reply-to`` (RFC 4685). Both feeds answer conditional GETs (ETag and
Last-Modified), so feed readers polling every few minutes cost almost nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from moderation.domain.inputs import xml_safe
from moderation.models import Comment
from moderation.services.threads import iso, latest_approved
from moderation.web import current
from moderation.web.schemas import check_uri

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

ATOM = "http://www.w3.org/2005/Atom"
THR = "http://purl.org/syndication/thread/1.0"
ET.register_namespace("", ATOM)
ET.register_namespace("thr", THR)
FEED_SIZE = 50


def _tag(comment_or_feed: str) -> str:
    host = urlsplit(current.settings().server.public_url).hostname or "localhost"
    return f"tag:{host},2026:{comment_or_feed}"


def _sub(
    parent: ET.Element, name: str, text: str | None = None, ns: str = ATOM, **attrs: str
) -> ET.Element:
    # Every value passes through `xml_safe`: rows stored before the input rules may hold characters
    # XML 1.0 cannot carry, and one of them would make the whole feed unreadable.
    element = ET.SubElement(parent, f"{{{ns}}}{name}", {k: xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


def self_url(query: str = "") -> str:
    """The feed's own address under ``[server] public_url``: never the request's Host header,
    which any client sets (and a cache would keep)."""
    base = current.settings().server.public_url.rstrip("/")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def build_feed(
    title: str, feed_id: str, self_url: str, page_url: str, comments: Sequence[Comment]
) -> bytes:
    """The Atom document for `comments` (newest first)."""
    settings = current.settings()
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", title)
    _sub(feed, "id", _tag(feed_id))
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    _sub(feed, "updated", iso(_updated(comments[0])) if comments else "1970-01-01T00:00:00Z")
    _sub(feed, "generator", "moderation")
    for comment in comments:
        site = settings.sites[comment.thread.site]
        permalink = f"{site.page_url(comment.thread.uri)}#comment-{comment.id}"
        entry = _sub(feed, "entry")
        _sub(
            entry,
            "title",
            f"Comment by {comment.author or 'Anonymous'} on {comment.thread.title or comment.thread.uri}",
        )
        _sub(entry, "id", _tag(f"comment-{comment.id}"))
        _sub(entry, "link", rel="alternate", href=permalink, type="text/html")
        _sub(entry, "published", iso(comment.created_at))
        _sub(entry, "updated", iso(_updated(comment)))
        author = _sub(entry, "author")
        _sub(author, "name", comment.author or "Anonymous")
        if comment.website:
            _sub(author, "uri", comment.website)
        _sub(entry, "content", comment.html, type="html")
        if comment.parent_id:
            _sub(
                entry,
                "in-reply-to",
                ns=THR,
                ref=_tag(f"comment-{comment.parent_id}"),
                href=f"{site.page_url(comment.thread.uri)}#comment-{comment.parent_id}",
            )
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _updated(comment: Comment) -> datetime:
    return comment.modified_at or comment.approved_at or comment.created_at


def _respond(document: bytes, comments: Sequence[Comment]) -> Response:
    response = Response(document, mimetype="application/atom+xml")
    response.set_etag(hashlib.sha256(document).hexdigest()[:32])
    if comments:
        response.last_modified = max(_updated(c) for c in comments)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response.make_conditional(request)


def _site_or_404(site: str) -> None:
    if site not in current.settings().sites:
        abort(404)


@bp.get("/<site>/comments.atom")
def site_feed(site: str) -> Response:
    """The site's latest approved comments."""
    _site_or_404(site)
    comments = latest_approved(current.session(), site)
    conf = current.settings().sites[site]
    document = build_feed(
        f"Comments on {conf.title or conf.url}", f"site-{site}", self_url(), conf.url, comments
    )
    return _respond(document, comments)


@bp.get("/<site>/thread.atom")
def thread_feed(site: str) -> Response:
    """One thread's approved comments."""
    _site_or_404(site)
    uri = request.args.get("uri", "")
    if check_uri(uri):
        abort(400, description=f"uri: {check_uri(uri)}")
    comments = latest_approved(current.session(), site, uri)
    conf = current.settings().sites[site]
    title = comments[0].thread.title if comments and comments[0].thread.title else uri
    document = build_feed(
        f"Comments on {title}",
        f"thread-{site}-{uri}",
        self_url("uri=" + quote(uri, safe="/")),
        conf.page_url(uri),
        comments,
    )
    return _respond(document, comments)
