"""`Prepared`: Core statements run on the DBAPI connection, with SQLAlchemy's type handling kept."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.domain.states import CommentStatus
from moderation.models import Comment, SpamCheck, Thread
from moderation.statements import Prepared
from tests.factories import make_comment, make_thread

_comments = Comment.__table__
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)

BY_STATUS = Prepared(
    select(_comments.c.id, _comments.c.status, _comments.c.created_at, _comments.c.discarded)
    .where(_comments.c.status == bindparam("status"), _comments.c.thread_id == bindparam("thread"))
    .order_by(_comments.c.id)
)
APPROVED_BY = Prepared(
    select(exists(select(Comment.id).where(
        Comment.author == bindparam("author"), Comment.status == CommentStatus.approved)))
)  # fmt: skip
AUTHORS_IN = Prepared(
    select(_comments.c.author)
    .where(_comments.c.author.in_(bindparam("names", expanding=True)))
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


def test_a_list_parameter_is_spread_whatever_its_length(session: Session) -> None:
    thread = make_thread(session)
    for name in ("Ann", "Bob", "Cy"):
        make_comment(session, thread, author=name)

    assert AUTHORS_IN.rows(session, {"names": ["Cy", "Ann"]}) == [("Ann",), ("Cy",)]
    assert AUTHORS_IN.rows(session, {"names": ["Bob", "Zed", "Ann"]}) == [("Ann",), ("Bob",)]
    assert AUTHORS_IN.rows(session, {"names": ["Zed"]}) == []
    assert AUTHORS_IN.rows(session, {"names": []}) == []


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
        .values(comment_id=bindparam("cid"), created_at=bindparam("at"), verdict="ham",
                score=bindparam("score"), signals=bindparam("signals"),
                submitted=bindparam("submitted"))
        .returning(checks.c.id)
    )  # fmt: skip
    params = {"cid": comment.id, "at": WHEN, "score": 0.5, "signals": [{"name": "rules"}],
              "submitted": {"text": "é"}}  # fmt: skip

    (check_id,) = insert.first(session, params) or ()
    stored = session.get(SpamCheck, check_id)
    assert stored is not None
    assert (stored.signals, stored.submitted, stored.created_at) == (
        [{"name": "rules"}], {"text": "é"}, WHEN)  # fmt: skip

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


INSERT_HELD = Prepared(
    _comments.insert()
    .values(thread_id=bindparam("thread"), kind="comment", status=bindparam("status"),
            author=bindparam("author"), email="", website="", ip="", user_agent="", referrer="",
            text="x", html="<p>x</p>", created_at=bindparam("created"), discarded=False)
    .returning(_comments.c.id, _comments.c.created_at)
)  # fmt: skip


def test_a_statement_bound_ahead_runs_later_with_the_values_left_for_then(
    session: Session,
) -> None:
    thread = make_thread(session)
    dialect = session.get_bind().dialect
    bound = INSERT_HELD.bind(dialect, {"thread": thread.id, "status": CommentStatus.pending,
                                       "author": "Early"}, later=("created",))  # fmt: skip

    row = INSERT_HELD.first_bound(session, bound, {"created": WHEN})

    assert row is not None
    assert row[1] == WHEN  # processed in and out as `first` does
    assert BY_STATUS.rows(session, {"status": CommentStatus.pending, "thread": thread.id}) == [
        (row[0], CommentStatus.pending, WHEN, False)
    ]
    with pytest.raises(KeyError):
        INSERT_HELD.first_bound(session, bound, {})  # a later value is required, never NULL


def test_a_statement_with_a_list_parameter_cannot_be_bound_ahead(session: Session) -> None:
    with pytest.raises(ValueError, match="list"):
        AUTHORS_IN.bind(session.get_bind().dialect, {"names": ["Ann"]}, later=())
