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

Stamps per page: after each commit that changed a ``threads`` row only that page's stamp changes,
not the database's, so a post or a moderator's action on one page does not send the readers of
every other page back to the database. The same file holds, after the database's stamp, a table of
`SLOTS` page stamps; a page's slot is a hash of its site and URI (`page_slot`), which the reader
knows from the query string before it asks anything. Two pages may share a slot: a change to one
then costs the other a needless query, never a stale answer. A reader keeps an answer while both
the database's stamp and its page's are unchanged.

Which pages a write changed, SQLite itself tells: `PageWatch` puts temporary triggers on the
write connection that call back with the site and URI of every ``threads`` row inserted, updated
or deleted (the old and the new, should a URI change), whatever service or statement wrote it.
What a page's answer depends on is that row: the thread's JSON is cached under the thread's
version (`moderation.services.threads.thread_cache_key`), and every change to what the JSON shows
bumps the version. So a write that changed no ``threads`` row (an outbox entry done, a held
comment stored, a token's last use) changes no stamp at all. A write on a connection without the
triggers (no ``threads`` table yet; they are made at the first write after each schema change),
or one that touched more than `MANY_PAGES` slots (an import, a bulk action over many pages),
bumps the database's stamp instead, which every kept answer depends on.

What it cannot see (a write by another program, a writer killed between its commit and its stamp),
readers bound: they trust a stamp for `TRUST_SECONDS` at most, then ask the database again. A
process of an older version (during an upgrade) reads only the database's stamp and may keep an
answer for that long after a newer process changed one page. PostgreSQL (several machines) has no
such file; readers always ask it.
"""

from __future__ import annotations

import mmap
import os
import random
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

TRUST_SECONDS = 1.0
SLOTS = 4096  # page stamps (32 KiB); pages sharing a slot only cost each other a query
MANY_PAGES = 512  # a write that changed more slots bumps the database's stamp instead
_STAMP = 8
_SIZE = _STAMP * (1 + SLOTS)  # the database's stamp, then the page stamps
_PAGE_CHANGED = "moderation_page_changed"
_TRIGGERS = (
    ("insert", "INSERT", "SELECT {f}(NEW.site, NEW.uri);"),
    ("update", "UPDATE", "SELECT {f}(OLD.site, OLD.uri); SELECT {f}(NEW.site, NEW.uri);"),
    ("delete", "DELETE", "SELECT {f}(OLD.site, OLD.uri);"),
)
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


def page_slot(site: str, uri: str) -> int:
    """The slot of a page's stamp: the same in every process (CRC-32, not Python's salted hash)."""
    return zlib.crc32(f"{site}\n{uri}".encode()) % SLOTS


class PageWatch:
    """Which pages a write connection's transaction changed: temporary triggers on ``threads``
    report the site and URI of each row inserted, updated or deleted (see the module docstring)."""

    def __init__(self, dbapi_connection: Any) -> None:
        self.slots: set[int] = set()
        self.blind = True  # no triggers in place: the write bumps the database's stamp
        self._schema: int | None = None  # the schema version the triggers were made for
        dbapi_connection.create_function(_PAGE_CHANGED, 2, self.changed)

    def changed(self, site: object, uri: object) -> None:
        """The triggers' callback (SQLite ignores what it returns; it must never raise)."""
        self.slots.add(page_slot(str(site), str(uri)))

    def begin(self, dbapi_connection: Any) -> None:
        """At the start of a write, holding the write lock: forget what an earlier write saw, and
        make the triggers when the schema changed since they were made (first use, or a migration
        that rebuilt ``threads`` and dropped them with the old table). Without a ``threads``
        table (a database not migrated yet) the watch is blind."""
        self.slots.clear()
        schema = dbapi_connection.execute("PRAGMA schema_version").fetchone()[0]
        if schema == self._schema:
            return
        self._schema = schema
        try:
            for name, event, body in _TRIGGERS:
                dbapi_connection.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS moderation_pages_{name} "
                    f"AFTER {event} ON main.threads BEGIN {body.format(f=_PAGE_CHANGED)} END"
                )
        except sqlite3.OperationalError:  # no such table: threads
            self.blind = True
        else:
            self.blind = False

    def rolled_back(self) -> None:
        """The write rolled back, and with it triggers it may have made: make them again."""
        self._schema = None


class ChangeStamp:
    """The shared stamps of one SQLite database file, kept in ``<database>-changes`` beside it:
    the database's, then one per page slot."""

    def __init__(self, database_path: str | os.PathLike[str]) -> None:
        self.path = Path(f"{database_path}-changes")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            new = size < _STAMP
            if size < _SIZE:  # every process may do this; the size is all it sets (zeros added)
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._random = random.SystemRandom()  # not a seeded generator: forked workers share those
        if new:
            self.bump()  # no two databases start with the same stamp

    def read(self) -> bytes:
        """The database's stamp: it differs from an earlier one when a write that did not say
        which pages it changed committed in between."""
        return self._map[:_STAMP]

    def read_page(self, slot: int) -> bytes:
        """The stamp of the pages in `slot` (`page_slot`)."""
        start = _STAMP * (1 + slot)
        return self._map[start : start + _STAMP]

    def pages_unchanged(self, slots: tuple[int, ...], stamps: tuple[bytes, ...]) -> bool:
        """Whether the pages in `slots` still have the `stamps` read earlier (`read_page`); a
        plain loop, as it runs on every kept answer served."""
        mapped = self._map
        for slot, stamp in zip(slots, stamps, strict=True):
            start = _STAMP * (1 + slot)
            if mapped[start : start + _STAMP] != stamp:
                return False
        return True

    def bump(self) -> None:
        """Record that a write committed (call it after the commit): every page may have changed."""
        self._map[:_STAMP] = self._new()

    def bump_pages(self, slots: Iterable[int]) -> None:
        """Record that a write that changed the pages in `slots` committed (after the commit)."""
        for slot in slots:
            start = _STAMP * (1 + slot)
            self._map[start : start + _STAMP] = self._new()

    def _new(self) -> bytes:
        return self._random.getrandbits(64).to_bytes(_STAMP, "little")
