"""`insert_now`: the single-statement INSERT of the submission path, on both engines."""

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from moderation.db import insert_now
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment, Thread
from tests.factories import make_thread


def new_comment(**kw: object) -> Comment:
    return Comment(kind=CommentKind.comment, status=CommentStatus.pending, text="Hi.",
                   html="<p>Hi.</p>", **kw)  # fmt: skip


def test_the_row_is_written_with_its_defaults_and_the_object_is_persistent(
    session: Session,
) -> None:
    thread = make_thread(session)
    comment = insert_now(session, new_comment(thread_id=thread.id, author="Ann"))

    assert comment.id is not None
    state = inspect(comment)
    assert state.persistent
    assert not state.modified
    assert comment in session
    assert not session.new
    # Python-side defaults came back into the object, so reading them needs no query.
    assert comment.email == ""
    assert comment.discarded is False
    assert comment.created_at is not None
    assert "modified_at" in state.dict
    assert comment.modified_at is None
    row = session.execute(
        select(Comment.author, Comment.email, Comment.thread_id).where(Comment.id == comment.id)
    ).one()
    assert tuple(row) == ("Ann", "", thread.id)


def test_a_many_to_one_given_as_an_object_fills_its_foreign_key(session: Session) -> None:
    thread = make_thread(session, uri="/other/")
    comment = insert_now(session, new_comment(thread=thread))

    assert comment.thread_id == thread.id
    assert session.scalar(select(Comment.thread_id).where(Comment.id == comment.id)) == thread.id


def test_later_changes_to_the_object_are_flushed_as_an_update(session: Session) -> None:
    thread = make_thread(session, uri="/third/")
    comment = insert_now(session, new_comment(thread_id=thread.id))
    comment.author = "Changed"
    session.flush()
    session.expire_all()

    assert session.get(Comment, comment.id).author == "Changed"
    assert session.scalar(select(Thread.id).where(Thread.uri == "/third/")) == thread.id
