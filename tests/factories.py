"""Rows for tests, made through the `session` fixture: each flush commits (`SetupSession`), so the
app and the services' ``database.write()`` blocks see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.domain.scoring import Signal, Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.markup import render
from moderation.models import Comment, Thread


def make_thread(session: Session, site: str = "blog", uri: str = "/post/", **kw: Any) -> Thread:
    thread = Thread(site=site, uri=uri, **kw)
    session.add(thread)
    session.flush()
    return thread


def make_comment(session: Session, thread: Thread, **kw: Any) -> Comment:
    status = kw.pop("status", CommentStatus.approved)
    text = kw.pop("text", "A thoughtful comment.")
    comment = Comment(
        thread=thread,
        kind=kw.pop("kind", CommentKind.comment),
        status=status,
        text=text,
        html=kw.pop("html", None) or render(text),
        author=kw.pop("author", "Ann"),
        email=kw.pop("email", "ann@example.org"),
        **kw,
    )
    if status is CommentStatus.approved:
        comment.approved_at = comment.created_at or thread.created_at
        thread.approved_count += 1
    if status is CommentStatus.deleted:
        comment.deleted_at = comment.created_at or thread.created_at
    session.add(comment)
    session.flush()
    if comment.approved_at is None and status is CommentStatus.approved:
        comment.approved_at = comment.created_at
        session.flush()
    return comment


class LockWatchingScorer:
    """Records, each time it scores, whether its thread held the database's write lock then."""

    name = "watcher"

    def __init__(self, database: Any) -> None:
        self.database, self.held = database, []

    def score(self, submission: object) -> list[Signal]:
        self.held.append(self.database.writing)
        return []


class FixedScorer:
    """A scorer that always gives one signal (tests choose the verdict)."""

    def __init__(self, verdict: Verdict | None = None, score: float = 0.0, name: str = "fixed"):
        self.name = name
        self.signal = Signal(name, score, f"fixed {verdict or score}", verdict)

    def score(self, submission: object) -> list[Signal]:
        return [self.signal]
