"""`Database`: reads that cannot write, and the one write path (`Database.write`), which is
SQLite's write lock and the commit, on real SQLite files and on the real PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from moderation.errors import DatabaseBusy
from moderation.models import Thread
from moderation.storage import migrations as migrations
from moderation.storage.db import Database, after_commit, utcnow
from moderation.storage.sqlite import when_unlocked


def file_database(tmp_path: Path, **kwargs: int) -> Database:
    """A migrated SQLite file of the test's own, with a scratch table."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrations.upgrade(url)
    database = Database(url, **kwargs)
    with database.write() as tx:
        tx.execute(text("CREATE TABLE hits (n INTEGER)"))
    return database


def _insert(database: Database, n: int, *, fail: bool = False) -> None:
    with database.write() as tx:
        tx.execute(text("INSERT INTO hits VALUES (:n)"), {"n": n})
        if fail:
            raise RuntimeError("boom")


def _hits(database: Database) -> list[int]:
    with database.read() as session:
        return list(session.scalars(text("SELECT n FROM hits ORDER BY n")))


def test_a_write_commits_when_its_block_ends_and_rolls_back_when_it_raises(database: Database):
    with database.write() as tx:
        tx.add(Thread(site="blog", uri="/kept/", created_at=utcnow()))

    def dropped() -> None:
        with database.write() as tx:
            tx.add(Thread(site="blog", uri="/dropped/", created_at=utcnow()))
            tx.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        dropped()
    with database.read() as session:
        assert list(session.scalars(select(Thread.uri))) == ["/kept/"]


def test_after_commit_hooks_run_once_committed_and_are_dropped_on_rollback(database: Database):
    ran: list[str] = []

    def seen_from_outside() -> None:  # the hook runs after the commit: a reader sees the row
        with database.read() as session:
            ran.append(session.scalar(select(Thread.uri)) or "nothing")

    with database.write() as tx:
        tx.add(Thread(site="blog", uri="/p/", created_at=utcnow()))
        after_commit(tx, seen_from_outside)
        assert ran == []
    assert ran == ["/p/"]

    def rolled_back() -> None:
        with database.write() as tx:
            after_commit(tx, lambda: ran.append("rolled back"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert ran == ["/p/"]


def test_after_commit_needs_a_write(database: Database):
    with database.read() as session, pytest.raises(TypeError, match="write"):
        after_commit(session, lambda: None)


def test_a_read_session_cannot_write(database: Database):
    with database.read() as session:
        session.add(Thread(site="blog", uri="/sneaky/", created_at=utcnow()))
        with pytest.raises(DBAPIError):  # query_only (SQLite), a read-only session (PostgreSQL)
            session.flush()
    with database.read() as session:
        assert session.scalar(select(Thread.id)) is None


def test_a_write_inside_a_write_on_the_same_thread_is_refused_at_once(database: Database):
    started = time.monotonic()
    with database.write(), pytest.raises(RuntimeError, match="inside another"), database.write():
        pass
    assert time.monotonic() - started < 1


def test_threads_writing_at_once_all_commit_one_at_a_time(tmp_path: Path) -> None:
    database = file_database(tmp_path)
    inside, most = [0], [0]
    guard = threading.Lock()

    def write(i: int) -> None:
        with database.write() as tx:
            tx.execute(text("INSERT INTO hits VALUES (:n)"), {"n": i})
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)  # hold the write lock a moment
            with guard:
                inside[0] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(80)))
    assert _hits(database) == list(range(80))
    assert most[0] == 1


def test_a_write_that_fails_lets_the_next_writer_in_at_once(tmp_path: Path) -> None:
    database = file_database(tmp_path)
    with pytest.raises(RuntimeError):
        _insert(database, 1, fail=True)
    other = threading.Thread(target=lambda: _insert(database, 2))
    started = time.monotonic()
    other.start()
    other.join(5)
    assert time.monotonic() - started < 1  # not the busy timeout
    assert _hits(database) == [2]


def test_a_write_waits_for_another_process_and_answers_busy_after_the_timeout(tmp_path: Path):
    database = file_database(tmp_path, busy_timeout_ms=300)
    holder = sqlite3.connect(
        tmp_path / "db.sqlite3", isolation_level=None, timeout=5, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    started = time.monotonic()
    with pytest.raises(DatabaseBusy) as busy:
        _insert(database, 1)
    assert 0.25 < time.monotonic() - started < 2
    assert busy.value.retry_after >= 1
    threading.Timer(0.1, lambda: holder.execute("COMMIT")).start()
    _insert(database, 2)  # waits in short steps and gets in once the other commits
    holder.close()
    assert _hits(database) == [2]


def test_a_writer_of_this_process_that_holds_the_lock_too_long_makes_the_next_one_busy(
    tmp_path: Path,
) -> None:
    database = file_database(tmp_path, busy_timeout_ms=200)
    entered, release = threading.Event(), threading.Event()

    def slow() -> None:
        with database.write() as tx:
            tx.execute(text("INSERT INTO hits VALUES (1)"))
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=slow)
    holder.start()
    entered.wait(5)
    try:
        with pytest.raises(DatabaseBusy):
            _insert(database, 2)
    finally:
        release.set()
        holder.join(5)
    assert _hits(database) == [1]


def test_a_write_that_changed_no_page_bumps_no_stamp(tmp_path: Path):
    database = file_database(tmp_path)
    assert database.changes is not None
    before = database.changes.read()
    _insert(database, 1)  # rows changed, none of a thread: no page's answer depends on them
    assert database.changes.read() == before


def test_a_write_that_cannot_say_its_pages_bumps_the_database_stamp_after_its_commit(
    tmp_path: Path,
):
    # Not migrated: no threads table when the write connection was opened, so no triggers to say
    # which pages a write changed; every changed write counts as changing them all.
    database = Database(f"sqlite:///{tmp_path / 'bare.sqlite3'}")
    assert database.changes is not None
    before = database.changes.read()
    with database.write() as tx:  # took the lock, changed nothing
        tx.execute(text("SELECT 1"))
    assert database.changes.read() == before
    with database.write() as tx:
        tx.execute(text("CREATE TABLE hits (n INTEGER)"))
    before = database.changes.read()
    with pytest.raises(RuntimeError):
        _insert(database, 1, fail=True)
    assert database.changes.read() == before
    seen_inside: list[bytes] = []
    with database.write() as tx:
        tx.execute(text("INSERT INTO hits VALUES (2)"))
        seen_inside.append(database.changes.read())
    assert seen_inside == [before]  # not before the commit (a reader could keep old rows)
    assert database.changes.read() != before
    database.dispose()


def test_when_unlocked_waits_out_another_writer_then_gives_up_at_its_timeout(tmp_path: Path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    holder.execute("CREATE TABLE t (n INTEGER)")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        when_unlocked(lambda: other.execute("INSERT INTO t VALUES (1)"), 0.05)
    threading.Timer(0.1, lambda: holder.execute("COMMIT")).start()
    when_unlocked(lambda: other.execute("INSERT INTO t VALUES (2)"), 5)
    assert other.execute("SELECT n FROM t").fetchall() == [(2,)]


def test_reads_see_each_commit_at_once(tmp_path: Path) -> None:
    database = file_database(tmp_path)
    with database.read() as session:
        assert list(session.scalars(text("SELECT n FROM hits"))) == []
        _insert(database, 7)  # a write while the read session is open
        assert list(session.scalars(text("SELECT n FROM hits"))) == [7]
