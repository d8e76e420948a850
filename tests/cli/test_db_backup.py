"""``moderation db backup`` and ``moderation db restore`` on real SQLite files, while the service's
`Database` is open on them (and another writer holds its lock, for the backup)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from moderation.cli import main
from moderation.models import Comment
from moderation.runtime.readiness import head_revisions
from moderation.storage import migrations
from moderation.storage.db import Database
from tests.factories import make_comment, make_thread


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A migrated SQLite database named by a config, the service's `Database` open on it, and a
    `run(*args)` for the CLI."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init-config", "--demo"]).exit_code == 0
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    monkeypatch.setenv("MODERATION_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MODERATION_DATABASE_URL", url)
    migrations.upgrade(url)
    database = Database(url)

    def run(*args: str):
        return runner.invoke(main, list(args))

    yield database, run
    database.dispose()


def add_comments(database: Database, *texts: str) -> None:
    with database.write() as tx:
        thread = make_thread(tx, uri=f"/{texts[0][:8]}/")
        for t in texts:
            make_comment(tx, thread, text=t)


def texts_in(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT text FROM comments"))


def test_backup_while_a_writer_holds_the_lock_copies_what_committed(live, tmp_path):
    database, run = live
    add_comments(database, "committed one", "committed two")
    writer = sqlite3.connect(tmp_path / "live.sqlite3", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE comments SET text = 'not committed'")
    try:
        result = run("db", "backup", "backups/today.sqlite3")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 0, result.output
    copy = tmp_path / "backups" / "today.sqlite3"
    assert texts_in(copy) == ["committed one", "committed two"]
    assert list((tmp_path / "backups").iterdir()) == [copy]  # one self-contained file
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in head_revisions()
    assert f"schema {revision}" in result.output


def test_backup_never_overwrites(live, tmp_path):
    _, run = live
    (tmp_path / "old.sqlite3").write_bytes(b"an older backup")
    result = run("db", "backup", "old.sqlite3")
    assert result.exit_code == 1
    assert "exists" in result.output
    assert (tmp_path / "old.sqlite3").read_bytes() == b"an older backup"


def test_restore_refuses_a_live_database_without_force(live, tmp_path):
    database, run = live
    add_comments(database, "before the backup")
    assert run("db", "backup", "b.sqlite3").exit_code == 0
    add_comments(database, "after the backup")
    result = run("db", "restore", "b.sqlite3")
    assert result.exit_code == 1
    assert "--force" in result.output
    assert texts_in(tmp_path / "live.sqlite3") == ["after the backup", "before the backup"]


def test_restore_with_force_replaces_the_data_a_running_service_reads(live, tmp_path):
    database, run = live
    add_comments(database, "before the backup")
    assert run("db", "backup", "b.sqlite3").exit_code == 0
    add_comments(database, "after the backup")
    assert database.changes is not None
    stamp = database.changes.read()
    result = run("db", "restore", "b.sqlite3", "--force")
    assert result.exit_code == 0, result.output
    assert database.changes.read() != stamp  # running servers drop the answers they kept
    with database.read() as session:
        assert session.scalars(select(Comment.text)).all() == ["before the backup"]
    add_comments(database, "written after the restore")  # the service writes on
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 2


def test_restore_into_a_new_database_needs_no_force(live, tmp_path, monkeypatch):
    database, run = live
    add_comments(database, "kept")
    assert run("db", "backup", "b.sqlite3").exit_code == 0
    monkeypatch.setenv("MODERATION_DATABASE_URL", f"sqlite:///{tmp_path / 'new' / 'db.sqlite3'}")
    result = run("db", "restore", "b.sqlite3")
    assert result.exit_code == 0, result.output
    assert texts_in(tmp_path / "new" / "db.sqlite3") == ["kept"]


def test_restore_of_an_older_schema_says_to_upgrade(live, tmp_path):
    _, run = live
    assert run("db", "backup", "b.sqlite3").exit_code == 0
    with sqlite3.connect(tmp_path / "b.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
    result = run("db", "restore", "b.sqlite3", "--force")
    assert result.exit_code == 0, result.output
    assert "moderation db upgrade" in result.output


@pytest.mark.parametrize(
    "content", [b"", b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 200]
)
def test_restore_refuses_what_is_not_a_database_and_changes_nothing(live, tmp_path, content):
    database, run = live
    add_comments(database, "untouched")
    (tmp_path / "bad.sqlite3").write_bytes(content)
    result = run("db", "restore", "bad.sqlite3", "--force")
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert texts_in(tmp_path / "live.sqlite3") == ["untouched"]


def test_restore_refuses_a_database_of_another_program(live, tmp_path):
    database, run = live
    add_comments(database, "untouched")
    with sqlite3.connect(tmp_path / "other.sqlite3") as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    result = run("db", "restore", "other.sqlite3", "--force")
    assert result.exit_code == 1
    assert "not a database of this service" in result.output
    assert texts_in(tmp_path / "live.sqlite3") == ["untouched"]


def test_postgresql_points_to_pg_dump(live, monkeypatch):
    _, run = live
    monkeypatch.setenv("MODERATION_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:5432/x")
    for args in (("db", "backup", "x.dump"), ("db", "restore", "x.dump")):
        result = run(*args)
        assert result.exit_code == 1
        assert "pg_dump" in result.output


def test_the_restored_database_passes_the_schema_check(live, tmp_path):
    database, run = live
    assert run("db", "backup", "b.sqlite3").exit_code == 0
    assert run("db", "restore", "b.sqlite3", "--force").exit_code == 0
    with database.read() as session:
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() in (
            head_revisions()
        )
