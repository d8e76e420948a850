"""What the dashboard shows around a comment: the comment a reply answers, the thread around it
(its parents up to the top, its direct replies) and the latest audit row (why it is where it is).

A held reply ("Yes, I agree with you.") cannot be judged without what it answers. The queue reads
this for a whole page at once: one query for the page's parents and the columns the verdict words
need, one for the latest audit rows, whatever the page's size (no query per row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment, ModerationEvent

PARENT_DEPTH = 5  # the detail page's parent chain stops here
REPLIES_LIMIT = 20

Parent = aliased(Comment, name="parent")
# What a row of context shows of another comment: who, where it is, what it says, its link.
_OTHER = (
    Comment.id,
    Comment.author,
    Comment.status,
    Comment.kind,
    Comment.text,
    Comment.text_format,
)


@dataclass(frozen=True, slots=True)
class Other:
    """Another comment's columns (`_OTHER`), as attributes."""

    id: int
    author: str
    status: CommentStatus
    kind: CommentKind
    text: str
    text_format: str


@dataclass(frozen=True, slots=True)
class RowContext:
    """Of one comment of a queue page: the comment it answers (``id``, ``author``, ``status``,
    ``kind``, ``text``, ``text_format``; None for a top-level comment or a deleted-for-good
    parent), its re-check reason and import source, and its latest audit row (``actor``,
    ``action``, ``reason``; None when there is none)."""

    parent: Other | None
    recheck_reason: str | None
    import_source: str | None
    event: Any


def latest_events(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    """The newest audit row of each comment in `ids` (``actor``, ``action``, ``reason``)."""
    if not ids:
        return {}
    newest = (
        select(func.max(ModerationEvent.id))
        .where(ModerationEvent.comment_id.in_(ids))
        .group_by(ModerationEvent.comment_id)
    )
    rows = session.execute(
        select(
            ModerationEvent.comment_id,
            ModerationEvent.actor,
            ModerationEvent.action,
            ModerationEvent.reason,
        ).where(ModerationEvent.id.in_(newest))
    )
    return {row.comment_id: row for row in rows}


def row_contexts(session: Session, ids: Sequence[int]) -> dict[int, RowContext]:
    """`RowContext` of each comment in `ids`: two queries for the whole page."""
    if not ids:
        return {}
    query = (
        select(
            Comment.id,
            Comment.recheck_reason,
            Comment.import_source,
            Parent.id.label("p_id"),
            Parent.author.label("p_author"),
            Parent.status.label("p_status"),
            Parent.kind.label("p_kind"),
            Parent.text.label("p_text"),
            Parent.text_format.label("p_text_format"),
        )
        .outerjoin(Parent, Parent.id == Comment.parent_id)
        .where(Comment.id.in_(ids))
    )
    events = latest_events(session, ids)
    out: dict[int, RowContext] = {}
    for row in session.execute(query):
        parent = None
        if row.p_id is not None:
            parent = Other(
                row.p_id, row.p_author, row.p_status, row.p_kind, row.p_text, row.p_text_format
            )
        out[row.id] = RowContext(parent, row.recheck_reason, row.import_source, events.get(row.id))
    return out


@dataclass(frozen=True, slots=True)
class Around:
    """The thread around one comment: its parents from the top down (at most `PARENT_DEPTH`;
    `more_above` when the chain goes on) and its direct replies, oldest first."""

    parents: list[Other]
    replies: list[Other]
    more_above: bool


def thread_around(
    session: Session, comment: Comment, depth: int = PARENT_DEPTH, limit: int = REPLIES_LIMIT
) -> Around:
    """The parent chain of `comment` up to `depth` (one primary-key read per level) and its
    direct replies (one indexed query)."""
    parents: list[Other] = []
    parent_id = comment.parent_id
    seen = {comment.id}
    while parent_id is not None and len(parents) < depth and parent_id not in seen:
        seen.add(parent_id)
        row = session.execute(
            select(*_OTHER, Comment.parent_id).where(Comment.id == parent_id)
        ).first()
        if row is None:
            break
        parents.append(Other(*row[:6]))
        parent_id = row.parent_id
    more_above = parent_id is not None and parent_id not in seen and len(parents) >= depth
    replies = session.execute(
        select(*_OTHER).where(Comment.parent_id == comment.id).order_by(Comment.id).limit(limit)
    ).all()
    return Around(list(reversed(parents)), [Other(*row) for row in replies], more_above)
