"""What SQLite needs besides SQLAlchemy: how its connections are opened, waiting for its one write
lock, and a same-machine change stamp.

Connections: WAL journal, foreign keys on, ``synchronous=NORMAL``. pysqlite's own transaction
handling is off (``isolation_level = None``): a read runs in autocommit mode, each statement its own
snapshot (as PostgreSQL's READ COMMITTED), and a write begins with ``BEGIN IMMEDIATE``, which
`moderation.storage.db.Database.write` emits itself. A deferred transaction that reads and then
writes can fail at once with SQLITE_BUSY when another process wrote in between, and no busy timeout
helps with that; taking the lock first makes writers queue instead.

Waiting for the lock (`begin_immediate`): in short steps rather than with SQLite's busy handler,
whose sleeps grow to 100 ms, so that under a burst of posts a writer does not sleep long after the
lock is free.

The change stamp (`ChangeStamp`): the read fast path (`moderation.web.fastpath`) asks the database for a thread's version on every
read, and that one query is about a third of a cached read's cost. On SQLite every process that
can write the database is on this machine, so they can tell each other cheaply that something
changed: each write commit stores a new random stamp in a small shared file (memory-mapped, so a
read of it is a memory read, no system call). A reader takes the stamp before it queries and keeps
what it read with that stamp; as long as the stamp is the same, nothing was committed since, and
what it read is still what the database holds.

The order is what makes it safe. A writer stores its stamp after its commit is visible (`Database.write`
bumps it once COMMIT has returned), so a reader that sees the old stamp either read before the
commit and will see the new stamp next time, or read after it and holds the new data under an old
stamp (a needless query next time, never a stale answer). A new stamp is 64 random bits rather
than one more, so two processes that commit at once cannot in practice store the same value.

What it cannot see (a write by another program, a writer killed between its commit and its stamp),
readers bound: they trust a stamp for `TRUST_SECONDS` at most, then ask the database again.
PostgreSQL (several machines) has no such file; readers always ask it.
"""

from __future__ import annotations

import mmap
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

TRUST_SECONDS = 1.0
_SIZE = 8
_T = TypeVar("_T")


def configure_connection(dbapi_connection: Any, *, busy_timeout_ms: int, read_only: bool) -> None:
    """Open a new SQLite connection the way the whole service expects (see the module docstring).

    A read-only connection (``PRAGMA query_only``) cannot write even by mistake: a write through
    it fails at once instead of committing outside `Database.write`.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if read_only:
        cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def begin_immediate(dbapi_connection: Any, timeout: float) -> None:
    """``BEGIN IMMEDIATE`` on a connection opened with ``busy_timeout=0``: SQLite's write lock,
    waited for in short steps (`when_unlocked`) for `timeout` seconds at most."""
    when_unlocked(lambda: dbapi_connection.execute("BEGIN IMMEDIATE"), timeout)


def when_unlocked(attempt: Callable[[], _T], timeout: float) -> _T:
    """Run `attempt` (a statement that needs the write lock), trying again while another connection
    holds the lock: after 0.1 ms, then in steps growing to 2 ms, for `timeout` seconds; then the last
    "database is locked" error is raised."""
    deadline = time.monotonic() + timeout
    pause = 0.0001
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            locked = "locked" in str(exc) or "busy" in str(exc)
            if not locked or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 1.5, 0.002)


class ChangeStamp:
    """The shared stamp of one SQLite database file, kept in ``<database>-changes`` beside it."""

    def __init__(self, database_path: str | os.PathLike[str]) -> None:
        self.path = Path(f"{database_path}-changes")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            new = os.fstat(fd).st_size < _SIZE
            if new:
                os.ftruncate(fd, _SIZE)  # every process may do this; the size is all it sets
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._random = random.SystemRandom()  # not a seeded generator: forked workers share those
        if new:
            self.bump()  # no two databases start with the same stamp

    def read(self) -> bytes:
        """The current stamp: it differs from an earlier one when a write committed in between."""
        return self._map[:_SIZE]

    def bump(self) -> None:
        """Record that a write committed (call it after the commit)."""
        self._map[:_SIZE] = self._random.getrandbits(64).to_bytes(_SIZE, "little")
