"""What pages show: approved threads as trees, and comment counts."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, load_only

from moderation.domain.linkbacks import trackback_url
from moderation.domain.states import CommentStatus
from moderation.errors import InvalidInput, TokenInvalid
from moderation.models import Comment, Reader, Thread
from moderation.services import Context
from moderation.services.comments import find_thread, site_settings, thread_open
from moderation.services.readers import readers_by_id
from moderation.services.tokens import ping_key

PublicComment = dict[str, Any]


def iso(when: datetime | None) -> str | None:
    """RFC 3339 UTC with a ``Z``, as the API and feeds print times."""
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def avatar_url(ctx: Context, comment: Comment, site_id: str) -> str:
    """An avatar that reveals nothing: an identicon keyed by a salted hash, or Gravatar if the site
    turned it on (Gravatar needs the plain MD5 of the e-mail, so it is opt-in)."""
    site = ctx.settings.sites.get(site_id)
    email = comment.email.strip().lower()
    if site is not None and site.gravatar and email:
        digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
        return f"https://www.gravatar.com/avatar/{digest}?d=identicon&s=96"
    seed = email or comment.author or comment.ip or str(comment.id)
    digest = _avatar_digest(ctx.settings.server.secret_key[-1], seed)
    return f"{ctx.settings.server.public_url.rstrip('/')}/avatar/{digest}.svg"


@functools.lru_cache(maxsize=16384)
def _avatar_digest(key: str, seed: str) -> str:
    """The identicon's keyed hash, kept: a thread's JSON is rebuilt after every change, with the
    same few authors (an HMAC is a sixth of building a comment's public view)."""
    return hmac.new(key.encode(), b"avatar:" + seed.encode(), hashlib.sha256).hexdigest()[:20]


def public_comment(
    ctx: Context, comment: Comment, site_id: str | None = None, reader: Reader | None = None
) -> PublicComment:
    """C, the public view of a comment: never e-mail, IP, user agent or spam data. `likes` (and
    `dislikes` under ``votes = "up-down"``) unless the site turned votes off. A signed-in
    reader's comment carries ``"verified": true`` and, given its `reader`, the identity's avatar
    and profile link (``profile``)."""
    site_id = site_id or comment.thread.site
    data: PublicComment = {
        "id": comment.id,
        "parent": comment.parent_id,
        "kind": comment.kind.value,
        "author": comment.author,
        "website": comment.website or None,
        "avatar": avatar_url(ctx, comment, site_id),
        "html": comment.html,
        "created": iso(comment.created_at),
        "modified": iso(comment.modified_at),
        "replies": [],
    }
    site = ctx.settings.sites.get(site_id)
    votes = site.votes if site else "off"
    if votes != "off":
        data["likes"] = comment.likes or 0
        if votes == "up-down":
            data["dislikes"] = comment.dislikes or 0
    if comment.reader_id is not None:
        data["verified"] = True
        if reader is not None:
            data["avatar"] = reader.avatar or data["avatar"]
            data["profile"] = reader.profile or None
    return data


def placeholder(comment_id: int, parent_id: int | None) -> PublicComment:
    """What stands in for a comment that is gone but has visible replies."""
    return {
        "id": comment_id,
        "parent": parent_id,
        "kind": "comment",
        "author": None,
        "website": None,
        "avatar": None,
        "html": "",
        "created": None,
        "modified": None,
        "deleted": True,
        "replies": [],
    }


def public_thread(
    session: Session, ctx: Context, site: str, uri: str, thread: Thread | None = None
) -> dict[str, Any]:
    """The thread JSON for a page: its approved comments as a tree, oldest first.

    Pass the page's `thread` when it was already looked up (None: look it up here).
    """
    site_config = site_settings(ctx, site)
    thread = thread or find_thread(session, site, uri)
    info = {
        "uri": uri,
        "title": thread.title if thread else "",
        "count": thread.approved_count if thread else 0,
        "likes": thread.likes if thread else 0,
        "page_likes": site_config.page_likes,
        "open": page_open(ctx, site, thread),
        "version": thread.version if thread else 0,
        "trackback_url": trackback_url(
            ctx.settings.server.public_url, site, uri, ping_key(ctx.tokens, site_config, site, uri)
        ),
    }
    if site_config.identity != "anonymous":  # the widget's sign-in buttons (none: no key)
        info["identity"] = site_config.identity
        info["providers"] = [
            {"id": pid, "name": p.name or pid, "kind": p.kind}
            for pid, p in ctx.settings.auth.providers.items()
        ]
    comments = _approved(session, thread) if thread else []
    return {"thread": info, "comments": build_tree(ctx, session, comments, site)}


# --- pages -------------------------------------------------------------------------------------

SORTS = ("oldest", "newest", "top")


@dataclass(frozen=True)
class PageRequest:
    """Which page of a thread: its order, how many top-level comments (None: the site's
    ``page_size``), after which `cursor`, or the page holding comment `around` (and those
    before it, so a link to ``#comment-<id>`` finds its comment)."""

    sort: str = "oldest"
    limit: int | None = None
    after: str | None = None
    around: int | None = None

    def key(self) -> str:
        """What distinguishes this page in the cache (besides the thread's version)."""
        return f"{self.sort}:{self.limit or ''}:{self.after or ''}:{self.around or ''}"


def _order(sort: str, root: PublicComment) -> tuple[int, int]:
    if sort == "newest":
        return (-root["id"], 0)
    if sort == "top":
        return (-(root.get("likes") or 0), root["id"])
    return (root["id"], 0)


def thread_page(
    session: Session,
    ctx: Context,
    site: str,
    uri: str,
    request: PageRequest,
    thread: Thread | None = None,
) -> dict[str, Any]:
    """One page of the thread JSON: `request.limit` top-level comments (each with all its
    replies) in `request.sort` order, and `next`, the cursor of the following page (None at the
    end). ``thread.count`` stays the whole thread's. A cursor this service did not sign, or of
    another order, is `InvalidInput`. Pages follow each other without overlap or gap while
    comments are added (a cursor names the last comment shown, not a position); under ``top``,
    votes cast between two pages may move a comment across the boundary."""
    whole = public_thread(session, ctx, site, uri, thread)
    limit = request.limit or site_settings(ctx, site).page_size
    roots = sorted(whole["comments"], key=lambda r: _order(request.sort, r))
    start = 0
    if request.after:
        last = _read_cursor(ctx, request.after, request.sort)
        start = next((i for i, r in enumerate(roots) if _order(request.sort, r) > last), len(roots))
    end = start + limit
    if request.around is not None:
        holder = _root_holding(roots, request.around)
        if holder is not None and holder >= start:
            end = max(end, start + ((holder - start) // limit + 1) * limit)
    page = roots[start:end]
    more = end < len(roots)
    cursor = _cursor(ctx, request.sort, page[-1]) if more and page else None
    return {"thread": whole["thread"], "comments": page, "next": cursor}


def _cursor(ctx: Context, sort: str, root: PublicComment) -> str:
    return ctx.tokens.cursor([SORTS.index(sort), *_order(sort, root)])


def _read_cursor(ctx: Context, token: str, sort: str) -> tuple[int, int]:
    try:
        data = ctx.tokens.read_cursor(token)
    except TokenInvalid:
        raise InvalidInput("bad cursor", fields={"after": "not a cursor of this thread"}) from None
    valid = (
        isinstance(data, list)
        and len(data) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in data)
    )
    if not valid or data[0] != SORTS.index(sort):
        raise InvalidInput("bad cursor", fields={"after": "not a cursor of this order"})
    return (data[1], data[2])


def _root_holding(roots: list[PublicComment], comment_id: int) -> int | None:
    """The index of the top-level comment whose subtree holds `comment_id`."""
    for index, root in enumerate(roots):
        stack = [root]
        while stack:
            node = stack.pop()
            if node["id"] == comment_id:
                return index
            stack.extend(node["replies"])
    return None


def cache_key(ctx: Context, site: str, thread: Thread, page: PageRequest | None = None) -> str:
    """The cache key of a page (by default the first) of a thread's current public JSON."""
    base = thread_cache_key(thread.id, thread.version, page_open(ctx, site, thread))
    return f"{base}:{(page or PageRequest()).key()}"


def thread_cache_key(thread_id: int, version: int, is_open: bool) -> str:
    """A key naming the thread's version (bumped by every change) and whether it is open (which
    changes with time alone), so a stale entry is never served."""
    return f"thread:{thread_id}:{version}:{int(is_open)}"


def page_open(ctx: Context, site: str, thread: Thread | None) -> bool:
    """Whether the page takes comments now (a page without a thread does)."""
    if thread is None:
        return True
    return thread_open(ctx, ctx.settings.sites[site], thread.created_at, thread.closed)


def _approved(session: Session, thread: Thread) -> list[Comment]:
    query = (
        select(Comment)
        .where(Comment.thread_id == thread.id, Comment.status == CommentStatus.approved)
        .order_by(Comment.created_at, Comment.id)
    )
    return list(session.scalars(query))


def build_tree(
    ctx: Context, session: Session, comments: list[Comment], site_id: str
) -> list[PublicComment]:
    """Nest replies under their parents; a hidden ancestor of a visible reply becomes a placeholder."""
    readers = readers_by_id(session, {c.reader_id for c in comments if c.reader_id is not None})
    nodes = {
        c.id: public_comment(ctx, c, site_id, readers.get(c.reader_id) if c.reader_id else None)
        for c in comments
    }
    missing = {c.parent_id for c in comments if c.parent_id and c.parent_id not in nodes}
    while missing:  # walk up through hidden ancestors (deleted, or no longer approved)
        rows = session.scalars(
            select(Comment)
            .options(load_only(Comment.id, Comment.parent_id))
            .where(Comment.id.in_(missing))
        ).all()
        for row in rows:
            nodes[row.id] = placeholder(row.id, row.parent_id)
        missing = {r.parent_id for r in rows if r.parent_id and r.parent_id not in nodes}
    roots: list[PublicComment] = []
    # Ids grow with time, and placeholders have no time of their own: order by id, oldest first.
    for node in sorted(nodes.values(), key=lambda n: n["id"]):
        parent = nodes.get(node["parent"]) if node["parent"] else None
        (parent["replies"] if parent else roots).append(node)
    return roots


def counts(session: Session, ctx: Context, site: str, uris: Iterable[str]) -> dict[str, int]:
    """Approved-comment counts for many pages in one query (unknown pages count 0)."""
    site_settings(ctx, site)
    uris = list(dict.fromkeys(uris))
    rows = session.execute(
        select(Thread.uri, Thread.approved_count).where(Thread.site == site, Thread.uri.in_(uris))
    ).all()
    found = dict(rows)
    return {uri: found.get(uri, 0) for uri in uris}


def latest_approved(
    session: Session, site: str, uri: str | None = None, limit: int = 50
) -> list[Comment]:
    """The newest approved comments of a site, or of one of its threads (for feeds)."""
    query = (
        select(Comment)
        .join(Thread)
        .options(joinedload(Comment.thread))
        .where(Thread.site == site, Comment.status == CommentStatus.approved)
        .order_by(Comment.id.desc())
        .limit(limit)
    )
    if uri is not None:
        query = query.where(Thread.uri == uri)
    return list(session.scalars(query))
