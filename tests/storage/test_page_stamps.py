"""The page stamps in SQLite's change-stamp file (`moderation.storage.sqlite`): one slot per page
hash, the same in every process, bumped after the commit for exactly the pages whose threads row a
write inserted, updated or deleted."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from moderation.storage import migrations
from moderation.storage.db import Database
from moderation.storage.sqlite import SLOTS, ChangeStamp, page_slot

INSERT_A = (
    "INSERT INTO threads (site, uri, title, created_at, closed, approved_count, version) "
    "VALUES ('blog', '/a/', '', '2026-01-01 00:00:00', 0, 0, 1)"
)


def test_a_stamp_file_of_an_older_version_grows_and_keeps_the_database_stamp(tmp_path: Path):
    path = tmp_path / "old.db-changes"
    path.write_bytes(b"12345678")  # the database's stamp alone, as an older version wrote it
    stamp = ChangeStamp(tmp_path / "old.db")
    assert stamp.read() == b"12345678"
    assert path.stat().st_size == 8 * (1 + SLOTS)
    assert stamp.read_page(SLOTS - 1) == bytes(8)


def test_a_page_bump_in_another_process_is_seen_in_that_page_slot_only(tmp_path: Path):
    stamp = ChangeStamp(tmp_path / "p.db")
    mine, other = page_slot("blog", "/a/"), page_slot("blog", "/b/")
    assert mine != other
    before = stamp.read(), stamp.read_page(mine), stamp.read_page(other)
    code = (
        "from moderation.storage.sqlite import ChangeStamp, page_slot; "
        f"ChangeStamp({str(tmp_path / 'p.db')!r}).bump_pages([page_slot('blog', '/a/')])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # the slot must not hang on str hashing
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)
    assert stamp.read_page(mine) != before[1]
    assert (stamp.read(), stamp.read_page(other)) == (before[0], before[2])


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite file of the test's own."""
    url = f"sqlite:///{tmp_path / 'pages.sqlite3'}"
    migrations.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def test_the_write_connection_names_every_page_a_write_inserts_moves_or_deletes(database):
    stamp = database.changes
    assert stamp is not None
    slots = {uri: page_slot("blog", uri) for uri in ("/a/", "/moved/", "/b/")}
    assert len(set(slots.values())) == 3

    def pages() -> dict[str, bytes]:
        return {uri: stamp.read_page(slot) for uri, slot in slots.items()}

    def write(sql: str) -> dict[str, bool]:
        before, database_before = pages(), stamp.read()
        with database.write() as tx:
            tx.execute(text(sql))
        assert stamp.read() == database_before  # the write said which pages it changed
        return {uri: value != before[uri] for uri, value in pages().items()}

    assert write(INSERT_A) == {"/a/": True, "/moved/": False, "/b/": False}
    assert write("UPDATE threads SET uri = '/moved/' WHERE uri = '/a/'") == {
        "/a/": True,
        "/moved/": True,
        "/b/": False,
    }
    assert write("DELETE FROM threads WHERE uri = '/moved/'") == {
        "/a/": False,
        "/moved/": True,
        "/b/": False,
    }


def test_a_threads_table_rebuilt_by_another_process_is_still_watched(database, tmp_path):
    # A migration that rebuilds the table (copy, drop, rename, as Alembic's batch mode does) in
    # another process: the write connection's triggers name the new table's pages.
    stamp = database.changes
    assert stamp is not None
    with database.write() as tx:  # the write connection is open, its triggers made
        tx.execute(text(INSERT_A))
    with sqlite3.connect(tmp_path / "pages.sqlite3") as other:
        other.executescript(
            "PRAGMA foreign_keys = OFF;"
            "CREATE TABLE threads_new AS SELECT * FROM threads;"
            "DROP TABLE threads;"
            "ALTER TABLE threads_new RENAME TO threads;"
        )
    other.close()
    before, page = stamp.read(), stamp.read_page(page_slot("blog", "/a/"))
    with database.write() as tx:
        tx.execute(text("UPDATE threads SET version = version + 1 WHERE uri = '/a/'"))
    assert stamp.read_page(page_slot("blog", "/a/")) != page
    assert stamp.read() == before


def test_a_database_migrated_after_the_first_write_is_watched_from_then_on(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'late.sqlite3'}"
    database = Database(url)
    stamp = database.changes
    assert stamp is not None
    with database.write() as tx:  # no threads table yet: this connection cannot name pages
        tx.execute(text("CREATE TABLE scratch (n INTEGER)"))
    migrations.upgrade(url)  # another connection, as `moderation db upgrade` in another process
    before, page = stamp.read(), stamp.read_page(page_slot("blog", "/a/"))
    with database.write() as tx:
        tx.execute(text(INSERT_A))
    assert stamp.read_page(page_slot("blog", "/a/")) != page
    assert stamp.read() == before
    database.dispose()
