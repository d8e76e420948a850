"""`insert_now` and `stage_insert` (the single-statement INSERTs of the submission path) and the
SQLite write gate."""

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import Integer, bindparam, column, func, insert, inspect, select, table, text
from sqlalchemy.orm import Session

from moderation.db import (
    Base,
    Database,
    after_commit,
    begin_lean_write,
    commit_request,
    deferred_reads,
    get_session,
    insert_now,
    stage_insert,
    when_unlocked,
)
from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment, SpamCheck, Thread
from moderation.statements import Prepared
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


def test_without_attach_the_row_is_written_and_the_object_left_detached(session: Session) -> None:
    thread = make_thread(session)
    comment = insert_now(session, new_comment(thread_id=thread.id, author="Bo"), attach=False)

    assert inspect(comment).detached
    assert comment not in session
    assert comment.email == ""  # its values are still there to read
    found = session.get(Comment, comment.id)  # the session loads the row as a new object
    assert found is not comment
    assert found is not None
    assert found.author == "Bo"


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


def test_a_staged_insert_writes_nothing_until_run_then_takes_its_later_columns(
    session: Session,
) -> None:
    thread = make_thread(session, uri="/staged/")
    when = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    staged = stage_insert(session, new_comment(thread_id=thread.id, author="Cy",
                                               email="set@example.org"),
                          later=("created_at", "approved_at"))  # fmt: skip
    assert session.scalar(select(func.count()).select_from(Comment)) == 0

    comment = staged.run(session, created_at=when, approved_at=None)
    with pytest.raises(RuntimeError, match="once"):
        staged.run(session, created_at=when, approved_at=None)  # not a second row

    assert inspect(comment).persistent
    assert comment.created_at == when
    row = session.execute(
        select(Comment.author, Comment.email, Comment.created_at, Comment.approved_at)
        .where(Comment.id == comment.id)
    ).one()  # fmt: skip
    assert tuple(row) == ("Cy", "set@example.org", when, None)


def test_a_later_column_skips_its_python_default_and_must_be_given(session: Session) -> None:
    thread = make_thread(session, uri="/staged-2/")
    staged = stage_insert(session, new_comment(thread_id=thread.id), later=("created_at",))
    with pytest.raises(TypeError, match="created_at"):
        staged.run(session)  # the default (now) is not used in its place
    with pytest.raises(TypeError, match="created_at"):
        staged.run(session, created_at=datetime.now(UTC), author="not staged as later")
    assert session.scalar(select(func.count()).select_from(Comment)) == 0


def test_a_staged_row_with_json_left_detached_gets_its_foreign_key_at_run(
    session: Session,
) -> None:
    thread = make_thread(session, uri="/staged-3/")
    comment = insert_now(session, new_comment(thread_id=thread.id))
    check = SpamCheck(created_at=datetime.now(UTC), verdict=Verdict.ham, score=0.0,
                      signals=[{"name": "rules"}], submitted={"text": "Hi."})  # fmt: skip
    staged = stage_insert(session, check, later=("comment_id",))

    stored = staged.run(session, attach=False, comment_id=comment.id)

    assert stored is check
    assert inspect(stored).detached
    assert stored.comment_id == comment.id
    row = session.execute(
        select(SpamCheck.comment_id, SpamCheck.verdict, SpamCheck.signals)
        .where(SpamCheck.id == stored.id)
    ).one()  # fmt: skip
    assert tuple(row) == (comment.id, Verdict.ham, [{"name": "rules"}])


# --- the process's SQLite write gate -----------------------------------------------------------


def file_database(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'gate.db'}", busy_timeout_ms=3000)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE hits (n INTEGER)")
    return database


def test_threads_writing_at_once_all_commit_one_at_a_time(tmp_path) -> None:
    database = file_database(tmp_path)
    inside, most = [0], [0]
    guard = threading.Lock()

    def write(i: int) -> None:
        with database.unit_of_work() as session:
            session.execute(text("INSERT INTO hits VALUES (:n)"), {"n": i})
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)  # hold the write transaction a moment
            with guard:
                inside[0] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(80)))

    with database.unit_of_work(write=False) as session:
        assert session.scalar(text("SELECT count(*) FROM hits")) == 80
    assert most[0] == 1


def test_a_write_that_fails_lets_the_next_writer_in_at_once(tmp_path) -> None:
    database = file_database(tmp_path)
    with pytest.raises(RuntimeError):
        _insert(database, 1, fail=True)
    # A session closed without commit or rollback (its connection goes back to the pool) too.
    abandoned = database.session_factory()
    abandoned.execute(text("INSERT INTO hits VALUES (2)"))
    abandoned.close()

    other = threading.Thread(target=lambda: _insert(database, 3))
    started = time.monotonic()
    other.start()
    other.join(5)
    assert time.monotonic() - started < 1  # not the 3 s busy timeout
    with database.unit_of_work(write=False) as session:
        assert session.scalars(text("SELECT n FROM hits")).all() == [3]


def _insert(database: Database, n: int, *, fail: bool = False) -> None:
    with database.unit_of_work() as session:
        session.execute(text("INSERT INTO hits VALUES (:n)"), {"n": n})
        if fail:
            raise RuntimeError("boom")


def test_a_write_whose_connection_is_invalidated_lets_the_next_writer_in(tmp_path) -> None:
    database = file_database(tmp_path)
    broken = database.session_factory()
    broken.execute(text("INSERT INTO hits VALUES (1)"))
    broken.connection().invalidate()  # as after a "disconnect" error
    broken.rollback()
    broken.close()

    other = threading.Thread(target=lambda: _insert(database, 2))
    started = time.monotonic()
    other.start()
    other.join(5)
    assert time.monotonic() - started < 1
    with database.unit_of_work(write=False) as session:
        assert session.scalars(text("SELECT n FROM hits")).all() == [2]


def test_when_unlocked_waits_out_another_writer_then_gives_up_at_its_timeout(tmp_path) -> None:
    path = tmp_path / "locked.db"
    # The holder waits out any lock of its own (its COMMIT can meet a transient one while the other
    # connection retries); only `other` goes through `when_unlocked`.
    holder = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    holder.execute("CREATE TABLE t (n INTEGER)")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        when_unlocked(lambda: other.execute("INSERT INTO t VALUES (1)"), 0.05)

    threading.Timer(0.1, lambda: holder.execute("COMMIT")).start()
    when_unlocked(lambda: other.execute("INSERT INTO t VALUES (2)"), 5)
    assert other.execute("SELECT n FROM t").fetchall() == [(2,)]


# --- a submission's read phase -----------------------------------------------------------------

HITS = table("hits", column("n", Integer))
COUNT_HITS = Prepared(select(func.count()).select_from(HITS).where(HITS.c.n >= bindparam("least")))
ADD_HIT = Prepared(insert(HITS).values(n=bindparam("n")))


def test_reads_in_deferred_reads_take_no_transaction_and_writes_then_take_the_lock(tmp_path):
    database = file_database(tmp_path)
    sent: list[str] = []
    reader = database.reader()
    assert reader is not None
    reader.set_trace_callback(sent.append)
    with database.unit_of_work() as session:
        with deferred_reads(session):
            assert COUNT_HITS.scalar(session, {"least": 0}) == 0
            assert not session.in_transaction()  # no BEGIN, no pool checkout
            with pytest.raises(RuntimeError):
                ADD_HIT.execute(session, {"n": 1})  # a write here is a programming error
        ADD_HIT.execute(session, {"n": 1})  # the write phase: the session's IMMEDIATE transaction
        assert session.in_transaction()
    assert sent  # the read went through the thread's reader, and only reads did
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in sent)
    with database.unit_of_work(write=False) as session:
        assert COUNT_HITS.scalar(session, {"least": 1}) == 1


def test_orm_reads_in_deferred_reads_begin_a_read_transaction_that_the_block_ends(tmp_path):
    database = file_database(tmp_path)
    with database.unit_of_work() as session:
        with deferred_reads(session):
            assert session.scalar(text("SELECT count(*) FROM hits")) == 0
            assert session.in_transaction()
        assert not session.in_transaction()  # ended: the writes begin BEGIN IMMEDIATE afresh
        ADD_HIT.execute(session, {"n": 2})
    with database.unit_of_work(write=False) as session:
        assert COUNT_HITS.scalar(session, {"least": 2}) == 1


def test_with_a_tests_connection_the_reads_stay_in_its_transaction(tmp_path):
    database = file_database(tmp_path)
    with database.engine.connect() as conn:
        database.read_bind = conn
        assert database.reader() is None  # so a test's savepoint sees its own rows


# --- ending a request's unit of work early -----------------------------------------------------


def test_commit_request_commits_and_frees_the_write_lock_before_the_response(tmp_path) -> None:
    database = file_database(tmp_path)
    app = Flask(__name__)
    database.init_app(app)
    seen: dict[str, object] = {}
    hooks: list[str] = []

    @app.post("/early")
    def early() -> str:
        session = get_session()
        ADD_HIT.execute(session, {"n": 1})
        after_commit(session, lambda: hooks.append("ran"))
        commit_request()
        seen["hooks at commit"] = list(hooks)
        # Committed, and the lock is free: another process's writer gets in at once.
        other = sqlite3.connect(tmp_path / "gate.db", timeout=0)
        other.execute("INSERT INTO hits VALUES (10)")
        other.commit()
        seen["visible"] = other.execute("SELECT count(*) FROM hits WHERE n = 1").fetchone()[0]
        other.close()
        ADD_HIT.execute(get_session(), {"n": 2})  # a new unit of work, committed at the end
        return "ok"

    @app.post("/fails-after")
    def fails_after() -> tuple[str, int]:
        ADD_HIT.execute(get_session(), {"n": 3})
        commit_request()
        ADD_HIT.execute(get_session(), {"n": 4})
        return "no", 500

    client = app.test_client()
    assert client.post("/early").status_code == 200
    assert seen == {"hooks at commit": ["ran"], "visible": 1}
    assert hooks == ["ran"]  # once, not again when the response is sent
    assert client.post("/fails-after").status_code == 500
    with database.unit_of_work(write=False) as session:
        rows = session.scalars(text("SELECT n FROM hits ORDER BY n")).all()
    assert rows == [1, 2, 3, 10]  # what was committed early stays; the later write rolled back


def test_prepared_statements_follow_the_session_from_one_transaction_to_the_next(tmp_path):
    """`Prepared` keeps the session's connection for its transaction only: after a rollback or a
    commit the next statement begins (and takes the write lock in) a new one."""
    database = file_database(tmp_path)
    with database.unit_of_work() as session:
        ADD_HIT.execute(session, {"n": 1})
        first = session.get_transaction()
        session.rollback()
        assert not session.in_transaction()
        ADD_HIT.execute(session, {"n": 2})  # not on the rolled-back transaction's connection
        assert session.in_transaction()
        assert session.get_transaction() is not first
        session.commit()
        ADD_HIT.execute(session, {"n": 3})
        assert COUNT_HITS.scalar(session, {"least": 0}) == 2  # 2 committed, 3 in this one
    with database.unit_of_work(write=False) as session:
        assert session.scalars(text("SELECT n FROM hits ORDER BY n")).all() == [2, 3]


# --- LeanWrite: a submission's write transaction without SQLAlchemy's machinery ---------------


def _hits(database: Database) -> list[int]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(text("SELECT n FROM hits ORDER BY n")))


def _other_writer_gets_in_at_once(database: Database) -> bool:
    """Whether another thread's write transaction commits well before the 3 s busy timeout."""
    other = threading.Thread(target=lambda: _insert_hit(database, 99))
    started = time.monotonic()
    other.start()
    other.join(5)
    return time.monotonic() - started < 1


def _insert_hit(database: Database, n: int) -> None:
    with database.unit_of_work() as session:
        ADD_HIT.execute(session, {"n": n})


def test_a_lean_write_commits_with_its_unit_of_work_and_bumps_the_change_stamp(tmp_path):
    database = file_database(tmp_path)
    assert database.changes is not None
    stamp = database.changes.read()
    with database.unit_of_work() as session:
        assert begin_lean_write(session)
        ADD_HIT.execute(session, {"n": 1})
        ADD_HIT.execute(session, {"n": 2})
        assert not session.in_transaction()  # no SQLAlchemy transaction under it
        assert database.changes.read() == stamp  # nothing visible before the commit

    assert _hits(database) == [1, 2]
    assert database.changes.read() != stamp
    assert _other_writer_gets_in_at_once(database)  # the gate and the lock were released


def test_a_lean_write_that_fails_rolls_back_and_lets_the_next_writer_in(tmp_path):
    database = file_database(tmp_path)
    stamp = database.changes.read() if database.changes else None

    def fails() -> None:
        with database.unit_of_work() as session:
            assert begin_lean_write(session)
            ADD_HIT.execute(session, {"n": 1})
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails()

    assert _other_writer_gets_in_at_once(database)
    assert _hits(database) == [99]
    assert database.changes is not None
    assert database.changes.read() != stamp  # by the other writer's commit only


def test_the_session_cannot_begin_a_transaction_of_its_own_during_a_lean_write(tmp_path):
    database = file_database(tmp_path)

    def orm_write() -> None:
        with database.unit_of_work() as session:
            assert begin_lean_write(session)
            ADD_HIT.execute(session, {"n": 1})
            session.execute(text("INSERT INTO hits VALUES (2)"))  # would wait for its own gate

    with pytest.raises(RuntimeError, match="LeanWrite"):
        orm_write()
    assert _other_writer_gets_in_at_once(database)
    assert _hits(database) == [99]


def test_a_change_left_pending_in_the_session_is_not_committed_apart(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'lean.db'}", busy_timeout_ms=3000)
    Base.metadata.create_all(database.engine)
    with database.unit_of_work() as session:
        thread = insert_now(session, Thread(site="blog", uri="/a/", title="A"))

    def leaves_a_change() -> None:
        with database.unit_of_work() as session:
            assert begin_lean_write(session)
            insert_now(session, new_comment(thread_id=thread.id, author="Kept"))
            session.add(Thread(site="blog", uri="/b/", title="B"))  # pending, never flushed

    with pytest.raises(RuntimeError, match="left changes"):
        leaves_a_change()
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
        assert session.scalar(select(func.count()).select_from(Thread)) == 1


def test_lean_writes_from_many_threads_all_commit(tmp_path):
    database = file_database(tmp_path)

    def write(i: int) -> None:
        with database.unit_of_work() as session:
            assert begin_lean_write(session)
            ADD_HIT.execute(session, {"n": i})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(80)))
    assert _hits(database) == list(range(80))


def test_no_lean_write_on_a_tests_connection_or_inside_a_transaction(session: Session, tmp_path):
    assert not begin_lean_write(session)  # the fixture's session: bound to its connection
    database = file_database(tmp_path)
    with database.unit_of_work() as own:
        ADD_HIT.execute(own, {"n": 1})
        assert not begin_lean_write(own)  # its transaction began first


@pytest.mark.expect_errors  # the failing request's 500 is logged
def test_a_request_whose_lean_write_cannot_commit_rolls_it_back_and_frees_the_lock(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'lean.db'}", busy_timeout_ms=3000)
    Base.metadata.create_all(database.engine)
    with database.unit_of_work() as session:
        thread = insert_now(session, Thread(site="blog", uri="/a/", title="A"))
    app = Flask(__name__)
    database.init_app(app)

    @app.post("/pending")
    def pending() -> str:
        session = get_session()
        assert begin_lean_write(session)
        insert_now(session, new_comment(thread_id=thread.id, author="Never"))
        session.add(Thread(site="blog", uri="/b/", title="B"))  # left pending: commit refuses
        commit_request()
        return "not reached"

    assert app.test_client().post("/pending").status_code == 500
    with database.unit_of_work() as session:  # at once: the gate and the lock were released
        insert_now(session, new_comment(thread_id=thread.id, author="Next"))
    with database.unit_of_work(write=False) as session:
        assert session.scalars(select(Comment.author)).all() == ["Next"]
