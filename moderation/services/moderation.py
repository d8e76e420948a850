"""Status changes: the only code that changes a comment's status, always through `domain.states`,
always with an audit row, exactly once even when two moderators act at the same moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, case, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from moderation.domain.states import Action, CommentStatus, transition
from moderation.errors import InvalidTransition, NotFound
from moderation.models import Comment, ModerationEvent, Thread
from moderation.runtime import metrics
from moderation.services import Context
from moderation.storage.prepared import Prepared


@dataclass(frozen=True)
class Actor:
    """Who acts: ``system``, ``author``, a moderator, an API token, an e-mail link."""

    label: str
    moderator_id: int | None = None

    @classmethod
    def moderator(cls, moderator_id: int, email: str) -> Actor:
        """A signed-in moderator (or one acting through their one-click e-mail link)."""
        return cls(f"moderator:{email}", moderator_id)


SYSTEM = Actor("system")
AUTHOR = Actor("author")


def get_comment(session: Session, comment_id: int) -> Comment:
    """The comment with `comment_id`; raise `NotFound`."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"no comment {comment_id}")
    return comment


def apply_action(
    session: Session, ctx: Context, comment: Comment, action: Action, actor: Actor, reason: str = ""
) -> ModerationEvent:
    """Move `comment` through `action`, write the audit row, keep the thread's count and version.

    The status is changed with a compare-and-set UPDATE (``WHERE status = <what we read>``), so of two
    moderators acting at once exactly one transition happens; the other gets `InvalidTransition`
    (409), never a second audit row or a second Akismet feedback.
    """
    old = comment.status
    new = transition(old, action)
    now = ctx.clock()
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Comment)
            .where(Comment.id == comment.id, Comment.status == old)
            .values(
                status=new,
                approved_at=now if new is CommentStatus.approved else None,
                deleted_at=now if new is CommentStatus.deleted else None,
                discarded=False if new is not CommentStatus.spam else Comment.discarded,
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        session.expire(comment)
        raise InvalidTransition(f"the comment is no longer {old.value}; reload and try again")
    session.refresh(comment)
    _touch_thread(session, comment.thread_id, old, new)
    event = record_event(session, ctx, comment, action.value, old, actor, reason, now)
    for hook in ctx.transition_hooks:
        hook(session, ctx, comment, event)
    counted = metrics.ACTIONS.labels(action.value, metrics.actor_kind(actor.label))
    metrics.count_after_commit(session, counted.inc)
    return event


def record_event(
    session: Session,
    ctx: Context,
    comment: Comment,
    action: str,
    old: CommentStatus | None,
    actor: Actor,
    reason: str,
    when: datetime | None = None,
) -> ModerationEvent:
    """Append an audit row for `comment` reaching its current status (flushed: it has an id)."""
    event = ModerationEvent(
        comment_id=comment.id,
        moderator_id=actor.moderator_id,
        actor=actor.label,
        action=action,
        from_status=old,
        to_status=comment.status,
        reason=reason,
        created_at=when or ctx.clock(),
    )
    session.add(event)
    session.flush()
    return event


def _touch_thread(session: Session, thread_id: int, old: CommentStatus, new: CommentStatus) -> None:
    """Keep the thread's approved count and version after a transition."""
    delta = int(new is CommentStatus.approved) - int(old is CommentStatus.approved)
    bump_thread(session, thread_id, delta)


def bump_thread(session: Session, thread_id: int, approved_delta: int = 0) -> None:
    """Bump the thread's version (its public JSON changed) and adjust its approved count.

    Done in SQL (``version = version + 1``), never read-modify-write in Python: two concurrent
    changes must give two versions, or a cache keyed by version could serve a stale thread.
    """
    _BUMP.execute(session, {"thread_id": thread_id, "delta": approved_delta})
    loaded = session.identity_map.get(identity_key(Thread, thread_id))
    if loaded is not None:
        session.expire(loaded, ["version", "approved_count"])


_threads = cast(Table, Thread.__table__)
_count = _threads.c.approved_count + bindparam("delta")
_BUMP = Prepared(
    update(_threads)
    .where(_threads.c.id == bindparam("thread_id"))
    .values(version=_threads.c.version + 1, approved_count=case((_count < 0, 0), else_=_count))
)
