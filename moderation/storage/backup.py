"""Backups of a SQLite database while the service runs, and restoring one.

`backup` uses SQLite's online backup API from a read-only connection: in WAL mode readers do not
wait for writers, so the copy is consistent (it holds exactly what had committed when it finished)
without stopping the service. The copy is written beside its destination, checked with
``PRAGMA integrity_check``, switched to a rollback journal (one self-contained file) and only then
renamed into place, so a backup file is either whole or absent.

`restore` checks that a file is a whole SQLite database of this service (it has Alembic's version
table) before it copies it over the configured database with the same API, and refuses to replace
a database that already holds the service's tables unless told to (`force`). Afterwards it bumps the
change stamp, so running servers drop the thread answers they kept.

PostgreSQL has its own tools (``pg_dump``, ``pg_restore``); the README shows them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from moderation.storage import sqlite
from moderation.storage.db import is_sqlite

PAGES_PER_STEP = 1024  # the backup copies in steps, so writers are not held up by a long copy
BUSY_TIMEOUT = 30.0  # seconds to wait for the destination's write lock when restoring


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Copied:
    """What a backup or restore copied."""

    path: Path
    bytes: int
    revision: str | None  # the schema's Alembic revision in the copy


def database_file(url: str) -> Path:
    """The SQLite file of `url`; PostgreSQL is refused with the tools to use instead."""
    if not is_sqlite(url):
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump "
            "(pg_dump --format=custom --file=moderation.dump DBNAME) and restore it with "
            "pg_restore --clean --dbname=DBNAME moderation.dump"
        )
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("the database URL names no SQLite file")
    return Path(path)


def backup(url: str, destination: Path) -> Copied:
    """Copy the database of `url` to `destination` (a new file) while the service runs."""
    source = database_file(url)
    if not source.exists():
        raise BackupError(f"there is no database at {source} (run `moderation db upgrade` first)")
    if destination.exists():
        raise BackupError(f"{destination} exists: choose a new name (a backup never overwrites)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            contextlib.closing(_open_read_only(source)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst, pages=PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check_integrity(dst, partial)
            revision = _revision(dst)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return Copied(destination, destination.stat().st_size, revision)


def restore(url: str, source: Path, *, force: bool = False) -> Copied:
    """Replace the database of `url` with the backup at `source`."""
    target = database_file(url)
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    try:
        with contextlib.closing(_open_read_only(source)) as src:
            _check_integrity(src, source)
            revision = _revision(src)
            if revision is None:
                raise BackupError(f"{source} is not a database of this service (no schema version)")
            if _holds_our_tables(target) and not force:
                raise BackupError(
                    f"{target} already holds a database: restoring would replace it "
                    "(stop the service, or pass --force to replace it while it runs)"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT)) as dst:
                src.backup(dst, pages=PAGES_PER_STEP)
    except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
        raise BackupError(f"{source} is not a usable SQLite database: {exc}") from None
    sqlite.ChangeStamp(target).bump()
    return Copied(target, target.stat().st_size, revision)


def _open_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} failed SQLite's integrity check: {'; '.join(problems[:5])}")


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else str(row[0])


def _holds_our_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with contextlib.closing(_open_read_only(path)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('alembic_version', 'comments')"
        ).fetchone()
    return found is not None
