"""Readers' votes on comments and likes of pages.

A reader is the opaque id the widget keeps in ``localStorage`` (sent as ``X-Reader``); only a keyed
hash of it is stored. One vote per reader and comment (+1, or -1 where the site counts dislikes),
changeable and withdrawable (0); one like per reader and page. The comment's ``likes``/``dislikes``
and the thread's ``likes`` are counts kept in SQL (``likes = likes + 1``), so concurrent votes all
count. Ballot stuffing is bounded: at most ``[guard] votes_per_ip_per_day`` votes on one comment
(or likes of one page) from one client IP in a day; the rate limiter of the web layer applies too.
Votes are never spam evidence: nothing here touches a comment's status or its checks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moderation.domain.states import CommentKind, CommentStatus
from moderation.errors import Forbidden, InvalidInput, NotFound, RateLimited
from moderation.models import Comment, PageLike, Thread, Vote
from moderation.services import Context
from moderation.services.comments import find_thread, site_settings

READER = re.compile(r"[A-Za-z0-9_-]{8,64}")
DAY = timedelta(days=1)


def reader_key(ctx: Context, reader_id: str) -> str:
    """The stored form of a reader id: a keyed hash (the id itself is the reader's secret)."""
    if not READER.fullmatch(reader_id or ""):
        raise InvalidInput("bad reader id", fields={"X-Reader": "8 to 64 letters, digits, - or _"})
    key = ctx.settings.server.secret_key[-1].encode()
    return hmac.new(key, b"reader:" + reader_id.encode(), hashlib.sha256).hexdigest()[:40]


def vote(
    tx: Session, ctx: Context, comment_id: int, reader_id: str, value: int, ip: str
) -> dict[str, Any]:
    """Set a reader's vote on a published comment (1, -1, or 0 to take it back); the counts and
    the reader's vote after it. Bumps the thread's version (its JSON shows the counts)."""
    from moderation.services.moderation import bump_thread

    reader = reader_key(ctx, reader_id)
    comment = tx.get(Comment, comment_id)
    if comment is None or comment.status is not CommentStatus.approved:
        raise NotFound("no such comment")
    if comment.kind is not CommentKind.comment:
        raise InvalidInput("only comments take votes", fields={"value": "not a comment"})
    mode = site_settings(ctx, comment.thread.site).votes
    if mode == "off":
        raise Forbidden("votes are off on this site")
    allowed = (1, 0, -1) if mode == "up-down" else (1, 0)
    if value not in allowed:
        raise InvalidInput("bad vote", fields={"value": f"one of {', '.join(map(str, allowed))}"})
    mine = tx.scalars(
        select(Vote).where(Vote.comment_id == comment_id, Vote.reader == reader)
    ).first()
    before = mine.value if mine else 0
    if value != before:
        if value and mine is None:
            _check_ip_bound(tx, ctx, select(Vote).where(Vote.comment_id == comment_id), Vote, ip)
        if mine is None:
            tx.add(
                Vote(
                    comment_id=comment_id, reader=reader, value=value, ip=ip, created_at=ctx.clock()
                )
            )
        elif value == 0:
            tx.delete(mine)
        else:
            mine.value = value
        tx.execute(
            update(Comment)
            .where(Comment.id == comment_id)
            .values(
                likes=Comment.likes + (int(value == 1) - int(before == 1)),
                dislikes=Comment.dislikes + (int(value == -1) - int(before == -1)),
            )
        )
        bump_thread(tx, comment.thread_id)
        tx.flush()
        tx.refresh(comment, ["likes", "dislikes"])
    answer: dict[str, Any] = {"likes": comment.likes, "mine": value}
    if mode == "up-down":
        answer["dislikes"] = comment.dislikes
    return answer


def like_page(
    tx: Session, ctx: Context, site: str, uri: str, reader_id: str, liked: bool, ip: str
) -> dict[str, Any]:
    """Set a reader's like of a page (the thread is made when needed): ``{likes, mine}``."""
    from moderation.services.comments import get_or_create_thread
    from moderation.services.moderation import bump_thread

    reader = reader_key(ctx, reader_id)
    if not site_settings(ctx, site).page_likes:
        raise Forbidden("page likes are off on this site")
    thread = (
        find_thread(tx, site, uri) if not liked else get_or_create_thread(tx, ctx, site, uri, "")
    )
    if thread is None:
        return {"likes": 0, "mine": False}
    mine = tx.scalars(
        select(PageLike).where(PageLike.thread_id == thread.id, PageLike.reader == reader)
    ).first()
    if liked != (mine is not None):
        if liked:
            query = select(PageLike).where(PageLike.thread_id == thread.id)
            _check_ip_bound(tx, ctx, query, PageLike, ip)
            tx.add(PageLike(thread_id=thread.id, reader=reader, ip=ip, created_at=ctx.clock()))
        else:
            tx.delete(mine)
        tx.execute(
            update(Thread)
            .where(Thread.id == thread.id)
            .values(likes=Thread.likes + (1 if liked else -1))
        )
        bump_thread(tx, thread.id)
        tx.flush()
        tx.refresh(thread, ["likes"])
    return {"likes": thread.likes, "mine": liked}


def _check_ip_bound(tx: Session, ctx: Context, query: Any, model: Any, ip: str) -> None:
    """At most ``votes_per_ip_per_day`` from `ip` on one comment or page in a day."""
    if not ip:
        return
    since = ctx.clock() - DAY
    recent = tx.scalar(
        select(func.count()).select_from(
            query.where(model.ip == ip, model.created_at > since).subquery()
        )
    )
    if (recent or 0) >= ctx.settings.guard.votes_per_ip_per_day:
        raise RateLimited("too many votes from this address today", retry_after=3600)
