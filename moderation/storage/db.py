"""The database: its engines, the declarative base, reads, and the one write path.

Every write, from a request, a job or the CLI, is one block::

    draft = prepare_comment(session, ctx, new, client)   # reads, Markdown, scoring: no lock held
    with database.write() as tx:                          # SQLite's write lock ...
        comment = store_comment(tx, ctx, draft)           # ... the writes, on tx's one connection
    # ... and the commit, when the block ends; then the after-commit hooks (mail, jobs) run

`Database.write` takes the write lock up front (SQLite: this process's one write connection, then
``BEGIN IMMEDIATE``), yields a `WriteSession` bound to that one connection, flushes and commits
when the block ends normally and rolls back when it raises. Nothing else commits: services add,
flush and run statements on the session they are given. Work that talks to the network (Akismet,
fetching a linkback's source, SMTP) happens before the block or after it, through the outbox, so
no other writer waits for it. A write that cannot get the lock within the busy timeout raises
`DatabaseBusy` (HTTP 503 with Retry-After).

Reads use `Database.read` (a request gets one, opened on first use, from `moderation.web.current`):
a session on a pooled connection that cannot write (SQLite: ``PRAGMA query_only``; PostgreSQL: a
read-only session), so a write outside `write()` fails loudly instead of being lost or committed
half-way. On SQLite it runs in autocommit mode, each statement its own snapshot, as PostgreSQL's
READ COMMITTED.

SQLite specifics (connection settings, waiting for the lock, the change stamps, the database's and
each page's, that let readers skip a query) are in `moderation.storage.sqlite`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from moderation.errors import DatabaseBusy
from moderation.storage import sqlite

log = logging.getLogger(__name__)
_PAGES = "moderation_pages"  # a SQLite write connection's `sqlite.PageWatch`, in its pool record

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every engine and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware in, naive UTC stored."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use moderation.storage.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Naive UTC stored, aware out."""
        return None if value is None else value.replace(tzinfo=UTC)


def as_utc(value: datetime | str) -> datetime:
    """A timestamp as a raw driver returns it (naive, or text on SQLite) made aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base: deterministic constraint names, UTC timestamps."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def is_sqlite(url: str) -> bool:
    """True for a SQLite database URL."""
    return url.startswith("sqlite")


class WriteSession(Session):
    """The session of one `Database.write` block, bound to the block's one connection."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(bind=connection, expire_on_commit=False)
        self.after_commit_hooks: list[Callable[[], object]] = []


def after_commit(session: Session, hook: Callable[[], object]) -> None:
    """Run `hook` once the write that `session` belongs to has committed; drop it on rollback."""
    if not isinstance(session, WriteSession):
        raise TypeError("after_commit() needs the session of a `with database.write()` block")
    session.after_commit_hooks.append(hook)


def run_hooks(hooks: Sequence[Callable[[], object]]) -> None:
    """Run after-commit hooks. A failing hook is logged, never raised: the data is committed, and
    each hook is responsible for its own retries (the outbox's sweep finds a lost dispatch)."""
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook %r failed", hook)


class Database:
    """A database's two engines: one for reads, one for writes (`write`)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 5) -> None:
        self.url = url
        self.busy_timeout = busy_timeout_ms / 1000
        self.changes: sqlite.ChangeStamp | None = None
        self._writing = threading.local()
        self._readers = threading.local()
        if is_sqlite(url):
            path = make_url(url).database
            if not path or path == ":memory:":
                raise ValueError("SQLite needs a database file (every connection shares it)")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.changes = sqlite.ChangeStamp(path)
            self.reader = _sqlite_engine(url, busy_timeout_ms, read_only=True, pool_size=pool_size)
            # One write connection per process: its pool is where this process's writers queue, so
            # only one of them at a time waits for SQLite's lock (against other processes), in
            # short steps (`sqlite.begin_immediate`) rather than in SQLite's busy handler.
            self.writer = _sqlite_engine(
                url, 0, read_only=False, pool_size=1, pool_timeout=self.busy_timeout
            )
        else:
            self.reader = create_engine(url, pool_size=pool_size, pool_pre_ping=True)
            event.listen(self.reader, "connect", _postgresql_read_only)
            self.writer = create_engine(url, pool_size=pool_size, pool_pre_ping=True)

    @property
    def writing(self) -> bool:
        """Whether this thread is inside a `write` block (it holds the write lock)."""
        return bool(getattr(self._writing, "active", False))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.writer.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only, on one pooled connection; closed when the block ends."""
        connection = self.reader.connect()
        session = Session(bind=connection, expire_on_commit=False, autoflush=False)
        try:
            yield session
        finally:
            session.close()
            connection.close()

    @contextmanager
    def write(self) -> Iterator[WriteSession]:
        """The write lock and the commit (see the module docstring).

        Raises `DatabaseBusy` when the lock is not had within the busy timeout, and `RuntimeError`
        for a write begun inside another on the same thread (it would wait for itself).
        """
        if self.writing:
            raise RuntimeError("database.write() inside another database.write() on this thread")
        started = time.monotonic()
        connection = self._locked_connection(started)
        transaction = connection.get_transaction()
        assert transaction is not None
        dbapi: Any = connection.connection.dbapi_connection
        changes_before = getattr(dbapi, "total_changes", None)
        watch: sqlite.PageWatch | None = connection.connection.info.get(_PAGES)
        session = WriteSession(connection)
        self._writing.active = True
        try:
            if watch is not None:
                watch.begin(dbapi)
            yield session
            session.flush()
            transaction.commit()
        except BaseException:
            transaction.rollback()
            if watch is not None:
                watch.rolled_back()
            raise
        finally:
            self._writing.active = False
            session.close()
            changed = changes_before is not None and dbapi.total_changes != changes_before
            # Copied before the connection goes back to the pool, where the next writer clears it.
            pages = None if watch is None or watch.blind else set(watch.slots)
            connection.close()
        if changed and self.changes is not None:
            if pages is None or len(pages) > sqlite.MANY_PAGES:
                self.changes.bump()  # every kept answer is asked again
            else:
                self.changes.bump_pages(pages)  # those pages' answers (none: no threads row)
        run_hooks(session.after_commit_hooks)

    def _locked_connection(self, started: float) -> Connection:
        """The write connection with its transaction begun: on SQLite, holding the write lock."""
        try:
            connection = self.writer.connect()
        except sa_exc.TimeoutError:  # this process's other writers kept the write connection
            raise self._busy(started) from None
        try:
            connection.begin()
            if self.changes is not None:
                left = self.busy_timeout - (time.monotonic() - started)
                sqlite.begin_immediate(connection.connection.dbapi_connection, max(left, 0.0))
        except BaseException as exc:
            connection.close()  # (rolls back: nothing was written)
            if _locked(exc):
                raise self._busy(started) from exc
            raise
        return connection

    def _busy(self, started: float) -> DatabaseBusy:
        waited = time.monotonic() - started
        log.warning("no write lock after %.1f s: answering busy", waited)
        return DatabaseBusy("the database is busy; try again shortly", retry_after=1, waited=waited)

    def raw_rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one read-only query in the driver's own terms, for the read fast path.

        Write the SQL with ``?`` placeholders. No ORM, no type processing: a pooled DBAPI cursor
        costs microseconds where a Session costs a good part of a millisecond. Values come back as
        the driver gives them (see `as_utc` for timestamps).
        """
        if self.changes is not None:  # SQLite
            cursor = self._thread_reader().cursor()
            try:
                cursor.execute(sql, tuple(params))
                return cast(list[tuple[Any, ...]], cursor.fetchall())
            finally:
                cursor.close()
        sql = sql.replace("?", "%s")
        raw = self.reader.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, tuple(params))
            rows = [tuple(row) for row in cursor.fetchall()]
            cursor.close()
            return rows
        finally:
            raw.close()  # back to the pool, which rolls back PostgreSQL's implicit transaction

    def _thread_reader(self) -> Any:
        """This thread's read-only SQLite connection, kept for the thread's life and out of the
        pool: in autocommit mode each SELECT is its own snapshot, so one connection serves every
        fast-path read of a thread without a pool checkout per request."""
        connection = getattr(self._readers, "connection", None)
        if connection is None:
            fairy = self.reader.raw_connection()
            fairy.detach()
            connection = self._readers.connection = fairy.dbapi_connection
        return connection

    def dispose(self) -> None:
        """Close every pooled connection (and this thread's fast-path reader)."""
        kept = getattr(self._readers, "connection", None)
        if kept is not None:
            kept.close()
            self._readers.connection = None
        self.reader.dispose()
        self.writer.dispose()


def _sqlite_engine(
    url: str, busy_timeout_ms: int, *, read_only: bool, pool_size: int, pool_timeout: float = 30
) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000},
        pool_size=pool_size,
        max_overflow=0 if pool_size == 1 else 10,
        pool_timeout=pool_timeout,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        sqlite.configure_connection(
            dbapi_connection, busy_timeout_ms=busy_timeout_ms, read_only=read_only
        )
        if not read_only:  # which pages each write changes: for their stamps (`sqlite`)
            record.info[_PAGES] = sqlite.PageWatch(dbapi_connection)

    return engine


def _postgresql_read_only(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.commit()


def _locked(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's "database is locked" (or busy) once the wait ran out."""
    text = str(exc)
    locking = isinstance(exc, sa_exc.OperationalError | sqlite3.OperationalError)
    return locking and ("locked" in text or "busy" in text)
