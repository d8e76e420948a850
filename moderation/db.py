"""The engine, the session lifetime and the one place that commits.

Transaction policy: a web request, a CLI command or a job is one unit of work. Services add and flush;
only this module calls ``commit()``: at the end of a request whose response is below 400, or at the end
of a ``with unit_of_work(...)`` block. Side effects (mail, Akismet feedback, job enqueues) are registered
with `after_commit` and run only once the commit has succeeded, so a rolled-back approval never told
anyone anything.

SQLite: WAL journal, foreign keys on, a busy timeout. pysqlite's own transaction handling is turned off
and we emit BEGIN ourselves, as SQLAlchemy's docs recommend, so that SAVEPOINTs work (the tests rely on
them) and so that a unit of work that will write can take the write lock up front (BEGIN IMMEDIATE).
A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY when another process
wrote in between, and no busy timeout helps with that; taking the lock first makes writers queue instead.
The threads of one process queue on a lock of their own before that (`make_engine`), so only one of
them at a time waits for SQLite's lock, in short steps (`when_unlocked`).

A comment post writes only through prepared statements (`moderation.statements`); on SQLite its
writes run in a `LeanWrite`, a plain DBAPI transaction with the same gate, lock waiting and change
stamp, which the request's unit of work commits or rolls back like the session's own.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from flask import Flask, Response, g
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    inspect,
    make_url,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import (
    MANYTOONE,
    DeclarativeBase,
    Session,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from moderation.changes import ChangeStamp
from moderation.statements import DIRECT_CONNECTION, Prepared, reading_outside_transactions

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Whether the current unit of work intends to write (SQLite: BEGIN IMMEDIATE rather than BEGIN).
_WRITE_INTENT: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)
_AFTER_COMMIT = "moderation.after_commit"
_DATABASE = "moderation.database"  # a session's info: the `Database` that made it
# GETs that may write (the moderation API records when a token was last used): they take SQLite's
# write lock up front too, since a read transaction that later writes can fail at once with BUSY.
READS_THAT_WRITE = ("/api/v1/moderation/",)


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
            raise ValueError("naive datetimes are not stored; use moderation.db.utcnow()")
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


def make_engine(
    url: str,
    *,
    busy_timeout_ms: int = 5000,
    pool_size: int = 5,
    on_write: Callable[[], object] | None = None,
) -> Engine:
    """An engine for `url`, with SQLite opened the way the whole service expects.

    SQLite: `on_write` is called once a transaction that changed rows has committed, when its
    connection goes back to the pool (`moderation.changes`).
    """
    if not is_sqlite(url):
        return create_engine(url, pool_size=pool_size, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see the module docstring
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    # One writer at a time in this process: threads queue on a lock that wakes the next one the
    # moment the last one ends, and only the thread that holds it polls SQLite's lock (against
    # other processes). Without it every waiting thread polls, and each poll takes the GIL from the
    # thread that holds the write lock.
    gate = threading.Lock()
    _WRITE_GATES[engine] = (gate, busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if _LEAN_WRITE.get() is not None:  # it would wait for the gate its own thread holds
            raise RuntimeError("a SQLAlchemy transaction began during a LeanWrite")
        dbapi_conn = conn.connection.dbapi_connection
        conn.info[_CHANGES_AT_BEGIN] = dbapi_conn.total_changes
        if not _WRITE_INTENT.get():
            dbapi_conn.execute("BEGIN")  # (the DBAPI's: runs on every read)
            return
        _take_write_lock(dbapi_conn, conn.info, gate, busy_timeout_ms)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated one released it when it was thrown away
            _open_gate(conn.info)

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        # (before the DBAPI's commit: what it wrote is marked, and told of once it is visible)
        before = conn.info.pop(_CHANGES_AT_BEGIN, None)
        if conn.invalidated or before != conn.connection.dbapi_connection.total_changes:
            conn.info[_WROTE] = True

    # Safety nets: a connection never goes back to the pool, or is thrown away, still holding it.
    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        _open_gate(record.info)
        if record.info.pop(_WROTE, False) and on_write is not None:
            on_write()

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: BaseException | None) -> None:
        _open_gate(record.info)

    return engine


_HOLDS_GATE = "moderation.holds_write_gate"
_CHANGES_AT_BEGIN = "moderation.changes_at_begin"  # the connection's total_changes at BEGIN
_WROTE = "moderation.wrote"  # committed changes that `on_write` has not been told of


# Each SQLite engine's write gate (`make_engine`) and busy timeout, for `LeanWrite`.
_WRITE_GATES: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, int]] = (
    weakref.WeakKeyDictionary()
)


def _open_gate(info: dict[Any, Any]) -> None:
    gate = info.pop(_HOLDS_GATE, None)
    if gate is not None:
        gate.release()


def _take_write_lock(
    dbapi_conn: Any, info: dict[Any, Any], gate: threading.Lock, busy_timeout_ms: int
) -> None:
    """The process's write gate, then SQLite's write lock (BEGIN IMMEDIATE); the gate is noted in
    `info` (the connection's), so that giving the connection back releases it whatever happens."""
    if not gate.acquire(timeout=busy_timeout_ms / 1000):
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked"))
    info[_HOLDS_GATE] = gate
    try:
        _begin_immediate(dbapi_conn, busy_timeout_ms)
    except BaseException:
        _open_gate(info)
        raise


def _begin_immediate(dbapi_conn: Any, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in short steps (`when_unlocked`), with SQLite's
    own busy timeout off for this one statement. (Plain DBAPI calls: this runs on every write.)"""
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        when_unlocked(lambda: dbapi_conn.execute("BEGIN IMMEDIATE"), busy_timeout_ms / 1000)
    except sqlite3.OperationalError as exc:
        raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


_T = TypeVar("_T")


def when_unlocked(attempt: Callable[[], _T], timeout: float) -> _T:
    """Run `attempt` (a SQLite statement that needs the write lock), trying again while another
    connection holds the lock: after 0.1 ms, then in steps growing to 2 ms, for `timeout` seconds;
    then the last "database is locked" error is raised.

    SQLite's own busy handler sleeps in steps that grow to 100 ms, so under a burst of posts a
    writer would often sleep long after the lock was free.
    """
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


class Database:
    """Owns the engine and the session factory; tests swap `session_factory` for a savepoint one."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 5) -> None:
        self.url = url
        # A SQLite file's change stamp (`moderation.changes`): None for PostgreSQL and :memory:.
        database = make_url(url).database if is_sqlite(url) else None
        self.changes = ChangeStamp(database) if database and database != ":memory:" else None
        self.engine = make_engine(
            url,
            busy_timeout_ms=busy_timeout_ms,
            pool_size=pool_size,
            on_write=self.changes.bump if self.changes is not None else None,
        )
        self.session_factory: Callable[[], Session] = sessionmaker(
            bind=self.engine, expire_on_commit=False, info={_DATABASE: self}
        )
        # Tests point this at their transaction so `raw_rows` sees their uncommitted rows.
        self.read_bind: Connection | None = None
        self._readers = threading.local()

    def raw_rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one read-only query in the driver's own terms, for the read fast path.

        Write the SQL with ``?`` placeholders. No ORM, no type processing, no BEGIN: a pooled
        DBAPI cursor costs microseconds where a Session costs a good part of a millisecond. Values
        come back as the driver gives them (see `as_utc` for timestamps).
        """
        if self.engine.dialect.name != "sqlite":
            sql = sql.replace("?", "%s")
        if self.read_bind is not None:
            return [tuple(row) for row in self.read_bind.exec_driver_sql(sql, tuple(params))]
        connection = self.reader()
        if connection is not None:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, tuple(params))
                return cursor.fetchall()
            finally:
                cursor.close()
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall()
            cursor.close()
            return rows
        finally:
            raw.close()  # back to the pool, which rolls back any implicit transaction

    def reader(self) -> Any | None:
        """This thread's SQLite connection for reads outside any transaction, or None (another
        engine, or a test's `read_bind`).

        SQLite in autocommit mode: each SELECT is its own snapshot, so one connection per thread
        can serve every such read (no pool checkout, no BEGIN or COMMIT). The fast path reads
        through it, and so does a submission's read phase (`deferred_reads`).
        """
        if self.engine.dialect.name != "sqlite" or self.read_bind is not None:
            return None
        connection = getattr(self._readers, "connection", None)
        if connection is None:
            fairy = self.engine.raw_connection()
            fairy.detach()  # ours for this thread's lifetime; the pool no longer counts it
            connection = self._readers.connection = fairy.dbapi_connection
        return connection

    def init_app(self, app: Flask) -> None:
        """Give every request its own session, committed once at the end when the response is < 400."""
        app.extensions["moderation.db"] = self
        app.before_request(_begin_request)
        app.after_request(_finish_request)
        app.teardown_appcontext(_close_request_session)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back when it raises."""
        token = _WRITE_INTENT.set(write)
        session = self.session_factory()
        try:
            yield session
            _commit(session)
        except BaseException:
            _rollback(session)
            raise
        finally:
            session.close()
            _WRITE_INTENT.reset(token)
        run_after_commit(session)


@contextmanager
def deferred_reads(session: Session) -> Iterator[None]:
    """Run the block's reads without taking SQLite's write lock; the block must not write.

    A unit of work that will write normally begins with BEGIN IMMEDIATE, so SQLite writers queue
    instead of failing; but the lock is then held for the whole request. A submission spends most
    of its time scoring (and waiting for Akismet), so its reads come first, outside the write
    transaction, and the writes that follow begin it: the lock is held only while the rows are
    written. Callers re-check, under the lock, whatever a concurrent writer could have changed.

    Prepared statements (`moderation.statements`) in the block read through the thread's
    autocommit connection (`Database.reader`: no BEGIN, no COMMIT, no pool checkout); anything
    read through the session begins a deferred transaction, which the block ends. On PostgreSQL,
    and with a test's connection, this changes nothing.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or session.in_transaction():
        yield
        return
    database: Database | None = session.info.get(_DATABASE)
    reader = database.reader() if database is not None else None
    token = _WRITE_INTENT.set(False)
    try:
        with reading_outside_transactions(reader, dialect):
            yield
    finally:
        _WRITE_INTENT.reset(token)
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("deferred_reads() block changed rows")  # a programming error
        if session.in_transaction():
            # End the read transaction. Nothing was written, so COMMIT is a no-op for the data,
            # and (with expire_on_commit off) the rows it loaded stay usable without a new read.
            session.commit()


@dataclass(frozen=True)
class _InsertPlan:
    columns: list[tuple[str, str]]  # (attribute, column key)
    many_to_one: list[tuple[str, list[tuple[str, Any]]]]  # (relationship, [(local key, remote)])
    primary_key: list[str]
    defaults: dict[str, Callable[[], Any]]  # Python-side column defaults, by column key
    null_unless_sent: frozenset[str]  # columns that are NULL when the INSERT did not send them


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


@functools.cache
def _insert_plan(mapper: Any) -> _InsertPlan:
    defaults: dict[str, Callable[[], Any]] = {}
    for column in mapper.local_table.columns:
        default = column.default
        if default is not None and default.is_scalar:
            defaults[column.key] = _constant(default.arg)
        elif default is not None and default.is_callable:
            defaults[column.key] = functools.partial(default.arg, None)  # takes a context
    return _InsertPlan(
        columns=[(prop.key, prop.columns[0].key) for prop in mapper.column_attrs],
        many_to_one=[
            (rel.key, [(local.key, remote) for local, remote in rel.local_remote_pairs])
            for rel in mapper.relationships
            if rel.direction is MANYTOONE
        ],
        primary_key=[column.key for column in mapper.primary_key],
        defaults=defaults,
        null_unless_sent=frozenset(
            prop.columns[0].key
            for prop in mapper.column_attrs
            if prop.columns[0].server_default is None
        ),
    )


@functools.cache
def _insert_statement(table: Table, keys: frozenset[str]) -> Prepared:
    """INSERT of exactly the columns `keys`, returning the primary key."""
    values = {key: bindparam(key, type_=table.c[key].type) for key in sorted(keys)}
    return Prepared(table.insert().values(values).returning(*table.primary_key.columns))


def insert_now(session: Session, obj: _T, *, attach: bool = True) -> _T:
    """INSERT the new ORM object `obj` with one prepared statement (`moderation.statements`), then
    attach it to `session` as if it had just been loaded (its id set, nothing pending); with
    ``attach=False`` it is left detached instead, as if its session had closed (cheaper, for rows
    the unit of work never changes again: audit rows, spam checks).

    The submission path uses this instead of ``session.add`` plus a flush: the unit of work's
    bookkeeping costs several times the INSERT itself. Python column defaults apply as usual; a
    many-to-one set as an object (``Comment(thread=t)``) fills its foreign key. Pending changes
    elsewhere in the session are not flushed first, so whatever the row refers to must already be
    in the database.
    """
    return stage_insert(session, obj).run(session, attach=attach)


class StagedInsert(Generic[_T]):
    """`insert_now` in two steps: the row's values worked out and processed now (`stage_insert`),
    the INSERT run later with the few columns only known then (`run`).

    A submission stages its rows before it takes SQLite's write lock, which every other writer
    of the database waits for: under the lock it fills in the thread, the time and the new
    comment's id, and each INSERT is then little more than the driver call.
    """

    __slots__ = ("_bound", "_later", "_plan", "_ran", "_statement", "_values", "obj")

    def __init__(self, session: Session, obj: _T, later: Collection[str]) -> None:
        state = inspect(obj)
        plan = _insert_plan(state.mapper)
        loaded = state.dict
        values: dict[str, Any] = {}
        for key, pairs in plan.many_to_one:
            target = loaded.get(key)
            if target is not None:
                target_mapper = inspect(target).mapper
                for local, remote in pairs:
                    prop = target_mapper.get_property_by_column(remote)
                    values[local] = getattr(target, prop.key)
        for attr, column in plan.columns:
            if column in later:
                continue
            if attr in loaded:
                values[column] = loaded[attr]
            elif column not in values and column in plan.defaults:
                values[column] = plan.defaults[column]()
        for column in later:
            values.pop(column, None)
        self.obj = obj
        self._ran = False
        self._plan = plan
        self._values = values
        self._later = tuple(later)
        self._statement = _insert_statement(
            state.mapper.local_table, frozenset(values).union(later)
        )
        self._bound = self._statement.bind(session.get_bind().dialect, values, self._later)

    def run(self, session: Session, *, attach: bool = True, **later: Any) -> _T:
        """INSERT the row (once) with the `later` columns given now (each one named at staging);
        then, as `insert_now`, the object has its id and is attached to `session` (or detached)."""
        if later.keys() != set(self._later):
            raise TypeError(f"give exactly the staged later columns: {sorted(self._later)}")
        if self._ran:
            raise RuntimeError("a staged insert runs once")
        self._ran = True
        row = self._statement.first_bound(session, self._bound, later)
        assert row is not None
        plan, values = self._plan, self._values
        values.update(later)
        values.update(zip(plan.primary_key, row, strict=True))
        obj = self.obj
        loaded = inspect(obj).dict
        for attr, column in plan.columns:
            if column in values:
                loaded[attr] = values[column]
            elif column in plan.null_unless_sent:
                loaded[attr] = None
        make_transient_to_detached(obj)
        if attach:
            session.add(obj)
        return obj


def stage_insert(session: Session, obj: _T, *, later: Collection[str] = ()) -> StagedInsert[_T]:
    """Stage the INSERT of the new ORM object `obj` (see `StagedInsert`). The columns in `later`
    (column keys) are left out now and given to `StagedInsert.run`; their Python defaults do not
    apply. `obj` must not change in between."""
    return StagedInsert(session, obj, later)


class LeanWrite:
    """A SQLite write transaction on a pooled DBAPI connection, for a session whose unit of work
    writes only through prepared statements (`moderation.statements`): BEGIN IMMEDIATE, the
    statements, COMMIT, with the same write gate, change stamp and lock waiting as a session's
    transaction, and none of SQLAlchemy's Connection and SessionTransaction machinery (about
    0.13 ms of a post's CPU, half of it while every other writer waits for the lock).

    `begin_lean_write` starts one for a session; the session's unit of work ends it (commit or
    roll back) where it ends the session's own transaction. While it is open, anything that would
    make the session begin a transaction of its own (an ORM flush, a query through the session)
    raises `RuntimeError` rather than wait for the lock its own thread holds.
    """

    def __init__(self, engine: Engine) -> None:
        gate, busy_timeout_ms = _WRITE_GATES[engine]
        self._fairy = engine.raw_connection()
        self.connection: Any = self._fairy.dbapi_connection
        try:
            self._changes_at_begin = self.connection.total_changes
            _take_write_lock(self.connection, self._fairy.info, gate, busy_timeout_ms)
        except BaseException:
            self._fairy.close()
            raise

    def end(self, *, commit: bool) -> None:
        """COMMIT (or ROLLBACK), then give the connection back: that releases the gate and, when
        rows changed, bumps the change stamp (the pool's checkin, as for a session)."""
        info = self._fairy.info
        try:
            if commit:
                self.connection.execute("COMMIT")
                if self.connection.total_changes != self._changes_at_begin:
                    info[_WROTE] = True
            else:
                self.connection.execute("ROLLBACK")
        except BaseException:
            self._fairy.invalidate()  # its transaction's state is unknown: never reuse it
            raise
        finally:
            _open_gate(info)
            self._fairy.close()


_LEAN = "moderation.lean_write"  # a session's info: its open `LeanWrite`
_LEAN_WRITE: contextvars.ContextVar[LeanWrite | None] = contextvars.ContextVar(
    "lean_write", default=None
)


def begin_lean_write(session: Session) -> bool:
    """Begin the unit of work's writes as a `LeanWrite` when it can be one: SQLite, the session
    bound to its database's engine (not a test's connection) and no transaction begun. False
    when it cannot; the writes then begin the session's own transaction as usual."""
    database: Database | None = session.info.get(_DATABASE)
    if (
        database is None
        or database.engine.dialect.name != "sqlite"
        or session.get_bind() is not database.engine
        or session.in_transaction()
        or session.info.get(_LEAN) is not None
        or _LEAN_WRITE.get() is not None
    ):
        return False
    lean = LeanWrite(database.engine)
    session.info[_LEAN] = (lean, _LEAN_WRITE.set(lean))
    session.info[DIRECT_CONNECTION] = (lean.connection, database.engine.dialect)
    return True


def _end_lean_write(session: Session, *, commit: bool) -> bool:
    """End the session's `LeanWrite`, if it has one (True then)."""
    held = session.info.pop(_LEAN, None)
    if held is None:
        return False
    lean, token = held
    session.info.pop(DIRECT_CONNECTION, None)
    try:
        _LEAN_WRITE.reset(token)
    except ValueError:  # ended from another context than the one that began it
        _LEAN_WRITE.set(None)
    lean.end(commit=commit)
    return True


def after_commit(session: Session, hook: Callable[[], object]) -> None:
    """Run `hook` once the unit of work that owns `session` has committed; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def run_after_commit(session: Session) -> None:
    """Run and forget the hooks registered on `session`. A failing hook is logged, never raised:
    the data is already committed, and each hook is responsible for its own retries."""
    hooks = session.info.pop(_AFTER_COMMIT, [])
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook %r failed", hook)


def get_session() -> Session:
    """The current request's session, created on first use."""
    session = g.get("db_session")
    if session is None:
        from flask import current_app

        database: Database = current_app.extensions["moderation.db"]
        session = g.db_session = database.session_factory()
    return session


def commit_request() -> None:
    """End the current request's unit of work now: commit, then run its after-commit hooks.

    For a view whose work after this point reads only what it already holds and cannot fail: it
    then builds its response without holding SQLite's write lock, which every other writer waits
    for (the comment post, whose edit token and JSON cost more than its INSERTs). Objects stay
    usable (no expiry on commit); a later `get_session()` in the same request begins a new unit
    of work, committed as usual when the response is sent.
    """
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        _end_request_session(session, commit=True)


def _begin_request() -> None:
    from flask import request

    writes = request.method not in ("GET", "HEAD", "OPTIONS") or request.path.startswith(
        READS_THAT_WRITE
    )
    g.db_write_token = _WRITE_INTENT.set(writes)


def _finish_request(response: Response) -> Response:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        _end_request_session(session, commit=response.status_code < 400)
    return response


def _end_request_session(session: Session, *, commit: bool) -> None:
    """Commit (then run the after-commit hooks) or roll back, and close."""
    committed = False
    try:
        if commit:
            _commit(session)
            committed = True
        else:
            _rollback(session)
    finally:
        session.close()
    if committed:
        run_after_commit(session)
    else:
        session.info.pop(_AFTER_COMMIT, None)


def _commit(session: Session) -> None:
    """Commit the session's unit of work: its `LeanWrite` when it has one, else the session.

    A unit of work with a `LeanWrite` writes through it only: a change left pending in the session
    would otherwise be committed apart from it, so it is an error (and the caller rolls back).
    """
    if session.info.get(_LEAN) is not None and (session.new or session.dirty or session.deleted):
        _end_lean_write(session, commit=False)  # whoever catches this may not roll back
        raise RuntimeError("a unit of work with a LeanWrite left changes in its session")
    if not _end_lean_write(session, commit=True):
        session.commit()


def _rollback(session: Session) -> None:
    """Roll back the session's unit of work, its `LeanWrite` included."""
    try:
        _end_lean_write(session, commit=False)
    finally:
        session.rollback()


def _close_request_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:  # the request raised before after_request: nothing is kept
        _rollback(session)
        session.close()
        session.info.pop(_AFTER_COMMIT, None)
    token = g.pop("db_write_token", None)
    if token is not None:
        _WRITE_INTENT.reset(token)
