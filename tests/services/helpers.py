"""Services run the way production runs them: reads (scoring included) on a read-only session with
no lock held, then the writes in one ``with database.write() as tx`` block, committed when it ends
and followed by the after-commit hooks (mail, jobs). A test reads the rows back through its
`session` (`stored`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from moderation.models import Comment
from moderation.services import Context
from moderation.services import comments as comment_service
from moderation.services import linkbacks as linkback_service
from moderation.services.comments import ClientInfo, NewComment
from moderation.storage.db import Database

T = TypeVar("T")


def write(database: Database, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``service(tx, *args, **kwargs)`` in one write of its own, as a request or a job runs it."""
    with database.write() as tx:
        return service(tx, *args, **kwargs)


def submit(database: Database, ctx: Context, new: NewComment, client: ClientInfo) -> Comment:
    """A reader's comment as the widget posts it: `prepare_comment` on a read session, then
    `store_comment` in one write. Returns what `store_comment` returns (a comment in no session)."""
    with database.read() as session:
        draft = comment_service.prepare_comment(session, ctx, new, client)
    with database.write() as tx:
        return comment_service.store_comment(tx, ctx, draft)


def edit(database: Database, ctx: Context, comment_id: int, token: str, text: str) -> Comment:
    """An author's edit as the widget makes it: `prepare_edit`, then `store_edit` in one write.
    Returns the edited comment as the write left it."""
    with database.read() as session:
        draft = comment_service.prepare_edit(session, ctx, comment_id, token, text)
    with database.write() as tx:
        return comment_service.store_edit(tx, ctx, draft)


def receive(
    database: Database, ctx: Context, prepare: Callable[..., Any], *args: Any, **kwargs: Any
) -> Comment:
    """A linkback as its endpoint receives it: ``prepare(session, ctx, *args)`` (one of
    `prepare_trackback`, `prepare_pingback`, `prepare_webmention`) on a read session, then
    `store_linkback` in one write."""
    with database.read() as session:
        draft = prepare(session, ctx, *args, **kwargs)
    with database.write() as tx:
        return linkback_service.store_linkback(tx, ctx, draft)


def stored(session: Session, comment: Comment) -> Comment:
    """`comment` as the database now holds it, in the test's `session` (everything the session
    loaded before is read again on its next use)."""
    session.flush()
    session.expire_all()
    found = session.get(Comment, comment.id)
    assert found is not None
    return found
