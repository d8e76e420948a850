"""The SQLite change stamp (`moderation.storage.sqlite`): written after every committed write, seen at once
by every process on the machine, and what lets the read fast path skip its query."""

import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from moderation.app import create_app
from moderation.services import build_context
from moderation.storage import migrations as migrations
from moderation.storage.db import Database
from moderation.storage.sqlite import ChangeStamp, page_slot
from moderation.web import current, fastpath
from tests.conftest import make_settings

THREAD = "/api/v1/threads/comments?site=blog&uri=/post/"


def test_a_new_stamp_file_starts_random_and_a_bump_is_seen_by_another_mapping(tmp_path):
    first = ChangeStamp(tmp_path / "a.db")
    other = ChangeStamp(tmp_path / "b.db")
    assert first.read() != other.read()  # two databases never share a starting stamp
    again = ChangeStamp(tmp_path / "a.db")  # a second process opening the same database
    before = again.read()
    assert before == first.read()
    first.bump()
    assert again.read() != before
    assert again.read() == first.read()


def test_a_bump_in_another_process_is_seen_without_reopening(tmp_path):
    stamp = ChangeStamp(tmp_path / "p.db")
    before = stamp.read()
    code = f"from moderation.storage.sqlite import ChangeStamp; ChangeStamp({str(tmp_path / 'p.db')!r}).bump()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert stamp.read() != before


@pytest.fixture
def file_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'changes.sqlite3'}"
    migrations.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def test_committed_writes_bump_the_page_stamp_and_reads_and_rollbacks_do_not(file_database):
    stamp = file_database.changes
    assert stamp is not None
    slot = page_slot("blog", "/w/")
    before, page_before = stamp.read(), stamp.read_page(slot)
    with file_database.read() as session:
        session.execute(text("SELECT count(*) FROM threads")).scalar()
    with file_database.write() as session:  # took the write lock, wrote nothing
        session.execute(text("SELECT count(*) FROM threads")).scalar()

    def insert_then(after, uri):
        with file_database.write() as session:
            session.execute(
                text(
                    "INSERT INTO threads (site, uri, title, created_at, closed, "
                    "approved_count, version) VALUES ('blog', :uri, '', "
                    "'2026-01-01 00:00:00', 0, 0, 1)"
                ),
                {"uri": uri},
            )
            after()

    def fail():
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        insert_then(fail, "/w/")
    assert (stamp.read(), stamp.read_page(slot)) == (before, page_before)
    seen_before_commit = []
    insert_then(lambda: seen_before_commit.append(stamp.read_page(slot)), "/w/")
    # Not before the commit (a reader could keep old rows under the new stamp): after it.
    assert seen_before_commit == [page_before]
    assert stamp.read_page(slot) != page_before
    assert stamp.read() == before  # the write said which page it changed: only that one


def test_postgresql_has_no_stamp_and_sqlite_needs_a_file():
    assert Database("postgresql+psycopg://localhost/test").changes is None
    with pytest.raises(ValueError, match="file"):
        Database("sqlite://")


def two_processes(tmp_path, clock=None, **overrides):
    """Two apps on one SQLite file, each with its own engine, cache and fast path, as two
    worker processes have; with `clock`, both tell the time by it."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    migrations.upgrade(url)
    settings = make_settings(tmp_path, **{"guard.flood_seconds": 0, **overrides})

    def client():
        ctx = build_context(settings, **({} if clock is None else {"clock": clock}))
        return create_app(settings, database=Database(url), context=ctx).test_client()

    return client(), client()


def comments(client):
    return [c["html"] for c in client.get(THREAD).get_json()["comments"]]


def count_thread_queries(client, monkeypatch):
    """A list that grows by one each time `client`'s app asks the database for a thread's row."""
    database = current.parts(client.application).database
    asked, raw_rows = [], database.raw_rows

    def counting(sql, params):
        asked.extend([params] if sql == fastpath.FIND_THREAD else [])
        return raw_rows(sql, params)

    monkeypatch.setattr(database, "raw_rows", counting)
    return asked


def test_a_post_in_one_process_is_read_at_once_in_the_other(tmp_path, monkeypatch):
    writer, reader = two_processes(tmp_path)
    asked = count_thread_queries(reader, monkeypatch)
    for i in range(5):
        posted = writer.post(
            "/api/v1/comments",
            json={
                "site": "blog",
                "uri": "/post/",
                "text": f"number {i}",
                "email": f"p{i}@example.org",
            },
        )
        assert posted.status_code == 201, posted.get_json()
        asked.clear()
        for _ in range(4):  # the first read fills the reader's cache; the others are fast
            assert comments(reader)[-1] == f"<p>number {i}</p>"
        # The post changed the stamp. The fast path asked for the thread's row, found no cached
        # JSON for its new version and let the Flask view build it; asked again, answered from
        # the cache, and kept that answer: under the same stamp, the last reads asked nothing.
        assert asked == [("blog", "/post/")] * 2


def test_a_write_by_another_program_is_seen_within_the_trusted_time(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "TRUST_SECONDS", 0.3)
    writer, reader = two_processes(tmp_path)
    writer.post("/api/v1/comments", json={"site": "blog", "uri": "/post/", "text": "kept"})
    assert comments(reader) == ["<p>kept</p>"]
    assert comments(reader) == ["<p>kept</p>"]  # now from the fast path's rows
    # Another program holds the comment back and bumps the version, as the service would, but does not
    # know about the stamp: for up to TRUST_SECONDS the reader may still serve what it had.
    path = tmp_path / "shared.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE comments SET status = 'pending', approved_at = NULL")
        raw.execute("UPDATE threads SET version = version + 1, approved_count = 0")
    raw.close()
    time.sleep(0.35)
    assert comments(reader) == []


def test_a_kept_answer_stops_at_the_moment_the_thread_closes_by_age(tmp_path, clock):
    writer, reader = two_processes(tmp_path, clock, **{"sites.blog.close_after_days": 1})
    writer.post("/api/v1/comments", json={"site": "blog", "uri": "/post/", "text": "early"})
    for _ in range(3):  # built, then answered from the cache, then from the kept answer
        assert reader.get(THREAD).get_json()["thread"]["open"] is True
    clock.advance(86400 + 1)  # no write: only the clock says the thread has closed
    assert reader.get(THREAD).get_json()["thread"]["open"] is False
