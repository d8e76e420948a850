"""`Prepared`: Core statements run on the DBAPI connection, with SQLAlchemy's type handling kept."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.domain.states import CommentStatus
from moderation.models import Comment, SpamCheck, Thread
from moderation.storage.prepared import Prepared, in_list, insert_row, spread
from tests.factories import make_comment, make_thread

_comments = Comment.__table__
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)

BY_STATUS = Prepared(
    select(_comments.c.id, _comments.c.status, _comments.c.created_at, _comments.c.discarded)
    .where(_comments.c.status == bindparam("status"), _comments.c.thread_id == bindparam("thread"))
    .order_by(_comments.c.id)
)
APPROVED_BY = Prepared(
    select(
        exists(
            select(Comment.id).where(
                Comment.author == bindparam("author"), Comment.status == CommentStatus.approved
            )
        )
    )
)


def authors_in(length: int) -> Prepared:
    return Prepared(
        select(_comments.c.author)
        .where(_comments.c.author.in_(in_list("name", length)))
        .order_by(_comments.c.author)
    )


SET_STATUS = Prepared(
    update(_comments).where(_comments.c.id == bindparam("cid")).values(status=bindparam("new"))
)


def test_enums_and_timestamps_go_in_and_come_out_as_through_the_orm(session: Session) -> None:
    thread = make_thread(session)
    held = make_comment(session, thread, status=CommentStatus.pending, created_at=WHEN)
    make_comment(session, thread, status=CommentStatus.approved, created_at=WHEN)

    rows = BY_STATUS.rows(session, {"status": CommentStatus.pending, "thread": thread.id})

    assert rows == [(held.id, CommentStatus.pending, WHEN, False)]
    assert rows[0][2].tzinfo is UTC  # aware UTC, as `UTCDateTime` hands back
    assert BY_STATUS.first(session, {"status": CommentStatus.spam, "thread": thread.id}) is None


def test_values_the_statement_carries_are_sent_with_the_callers(session: Session) -> None:
    thread = make_thread(session)
    make_comment(session, thread, author="Held", status=CommentStatus.pending)
    make_comment(session, thread, author="Shown", status=CommentStatus.approved)

    assert APPROVED_BY.scalar(session, {"author": "Shown"})
    assert not APPROVED_BY.scalar(session, {"author": "Held"})  # status = 'approved' was sent


def test_an_in_list_is_one_statement_per_length(session: Session) -> None:
    thread = make_thread(session)
    for name in ("Ann", "Bob", "Cy"):
        make_comment(session, thread, author=name)

    assert authors_in(2).rows(session, spread("name", ["Cy", "Ann"])) == [("Ann",), ("Cy",)]
    three = spread("name", ["Bob", "Zed", "Ann"])
    assert authors_in(3).rows(session, three) == [("Ann",), ("Bob",)]
    assert authors_in(1).rows(session, spread("name", ["Zed"])) == []


def test_a_list_parameter_is_refused_with_a_pointer_to_in_list(session: Session) -> None:
    expanding = Prepared(
        select(Comment.id).where(Comment.author.in_(bindparam("n", expanding=True)))
    )
    with pytest.raises(ValueError, match="in_list"):
        expanding.rows(session, {"n": ["Ann"]})


def test_it_runs_in_the_sessions_transaction(session: Session) -> None:
    thread = make_thread(session)
    comment = make_comment(session, thread, status=CommentStatus.pending)  # flushed, uncommitted

    assert SET_STATUS.execute(session, {"cid": comment.id, "new": CommentStatus.spam}) == 1
    session.expire(comment)
    assert comment.status is CommentStatus.spam  # the ORM reads what the statement wrote
    assert SET_STATUS.execute(session, {"cid": 10**9, "new": CommentStatus.spam}) == 0


def test_a_missing_parameter_is_an_error_not_a_null(session: Session) -> None:
    with pytest.raises(KeyError):
        APPROVED_BY.scalar(session, {})


def test_json_columns_are_serialized_and_driver_errors_are_sqlalchemys(session: Session) -> None:
    thread = make_thread(session)
    comment = make_comment(session, thread)
    checks = SpamCheck.__table__
    insert = Prepared(
        checks.insert()
        .values(
            comment_id=bindparam("cid"),
            created_at=bindparam("at"),
            verdict="ham",
            score=bindparam("score"),
            signals=bindparam("signals"),
            submitted=bindparam("submitted"),
        )
        .returning(checks.c.id)
    )
    params = {
        "cid": comment.id,
        "at": WHEN,
        "score": 0.5,
        "signals": [{"name": "rules"}],
        "submitted": {"text": "é"},
    }

    (check_id,) = insert.first(session, params) or ()
    stored = session.get(SpamCheck, check_id)
    assert stored is not None
    assert (stored.signals, stored.submitted, stored.created_at) == (
        [{"name": "rules"}],
        {"text": "é"},
        WHEN,
    )

    # no such comment: the foreign key holds, and the error is SQLAlchemy's
    with pytest.raises(IntegrityError), session.begin_nested():
        insert.first(session, {**params, "cid": 10**9})


def test_aggregates_keep_the_columns_type(session: Session) -> None:
    thread = make_thread(session)
    make_comment(session, thread, created_at=WHEN)
    latest = Prepared(
        select(func.max(Comment.created_at)).where(Comment.thread_id == bindparam("t"))
    )

    assert latest.scalar(session, {"t": thread.id}) == WHEN
    assert latest.scalar(session, {"t": -1}) is None


def test_a_thread_row_comes_back_with_python_booleans(session: Session) -> None:
    thread = make_thread(session, closed=True)
    threads = Thread.__table__
    closed = Prepared(select(threads.c.closed, threads.c.uri).where(threads.c.id == bindparam("i")))

    assert closed.first(session, {"i": thread.id}) == (True, "/post/")


def test_insert_row_writes_exactly_its_values_and_returns_the_id(session: Session) -> None:
    thread = make_thread(session)
    values = {
        "thread_id": thread.id,
        "kind": "comment",
        "status": CommentStatus.pending,
        "author": "Ann",
        "email": "",
        "website": "",
        "ip": "",
        "user_agent": "",
        "referrer": "",
        "text": "x",
        "html": "<p>x</p>",
        "created_at": WHEN,
        "discarded": False,
    }
    new_id = insert_row(session, _comments, values)
    session.commit()
    assert BY_STATUS.rows(session, {"status": CommentStatus.pending, "thread": thread.id}) == [
        (new_id, CommentStatus.pending, WHEN, False)
    ]


def test_insert_row_refuses_to_skip_a_python_default(session: Session) -> None:
    thread = make_thread(session)
    with pytest.raises(ValueError, match="created_at"):
        insert_row(session, _comments, {"thread_id": thread.id, "text": "x"})
