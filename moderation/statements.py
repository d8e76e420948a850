"""Hot-path statements: a Core statement compiled once per dialect, then run on the DBAPI connection
under the session's transaction.

The submission path runs about ten statements per post. Through ``Connection.execute`` each costs
80-90 µs on the benchmark machine even with SQLAlchemy's compiled cache (cache key, execution
context, events, result object); the driver call itself costs about 5 µs. `Prepared` keeps the SQL
written in Core (portable, checked against the models) and keeps SQLAlchemy's type handling (its
bind and result processors, per dialect), and skips the rest.

An expanding ``IN`` parameter gets one plan per list length (SQLAlchemy's
``construct_expanded_state``). What a prepared statement skips, and so must not need: Python column
defaults (an INSERT is given every column it writes, see `Prepared.insert`), ORM events,
autoflush (nothing pending in the session is flushed first) and ``before_cursor_execute`` hooks.
Driver errors are raised as SQLAlchemy's own exception classes, as through ``execute``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_Processor = Callable[[Any], Any] | None
# Within `reading_outside_transactions`: the connection (and its dialect) that reads run on.
_READER: ContextVar[tuple[Any, Dialect] | None] = ContextVar("reader", default=None)


@contextmanager
def reading_outside_transactions(connection: Any | None, dialect: Dialect) -> Iterator[None]:
    """Run the block's prepared reads on `connection`, a DBAPI connection in autocommit mode,
    instead of in the session's transaction (see `moderation.db.deferred_reads`). A prepared write
    in the block is an error. With `connection` None, nothing changes."""
    token = _READER.set((connection, dialect) if connection is not None else None)
    try:
        yield
    finally:
        _READER.reset(token)


@dataclass
class _Plan:
    sql: str
    names: tuple[str, ...] | None  # positional order (qmark); None: the driver takes a mapping
    fixed: dict[str, Any]  # values the statement itself carries (``status = 'approved'``)
    binds: dict[str, _Processor]  # every parameter the caller must give, with its bind processor
    columns: tuple[Any, ...]  # the returned columns' types
    expanding: tuple[str, ...]  # list parameters (``IN``): the plan to run depends on their lengths
    compiled: Any
    dialect: Dialect
    writes: bool  # an INSERT, UPDATE or DELETE
    # Result processors, one per returned column, made from the first cursor's description (some
    # depend on the type the driver reports).
    results: tuple[_Processor, ...] | None = None


@dataclass(frozen=True)
class Bound:
    """A statement's parameters processed ahead of its run (`Prepared.bind`)."""

    plan: _Plan
    values: dict[str, Any]  # processed, by bind name; the names in `later` are still missing
    later: tuple[str, ...]


_CONNECTION = "moderation.prepared_connection"
# A session's info: (DBAPI connection, dialect) of a write transaction its unit of work runs
# outside SQLAlchemy's (`moderation.db.LeanWrite`); prepared statements run on it while it is set.
DIRECT_CONNECTION = "moderation.direct_connection"


def _session_connection(session: Session) -> tuple[Any, Dialect]:
    """The DBAPI connection of the session's transaction (begun here if need be), and its dialect.

    `Session.connection()` walks the transaction machinery on every call, which costs more than a
    small INSERT: the answer is kept in the session for as long as the same transaction is active.
    """
    direct = session.info.get(DIRECT_CONNECTION)
    if direct is not None:
        return direct
    transaction = session.get_transaction()
    kept = session.info.get(_CONNECTION)
    if kept is not None and kept[0] is transaction is not None and transaction.is_active:
        return kept[1], kept[2]
    connection = session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    session.info[_CONNECTION] = (session.get_transaction(), dbapi_connection, connection.dialect)
    return dbapi_connection, connection.dialect


class Prepared:
    """A Core statement run straight on the session's DBAPI connection (see the module docstring).

    Parameters are given by their ``bindparam`` names; values are processed as SQLAlchemy would
    (enums, JSON, UTC timestamps), and so are returned values (`rows`, `first`, `scalar`).
    """

    __slots__ = ("_lock", "_plans", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as tuples of processed values."""
        results, rows = self._fetch(session, params, many=True)
        if not any(results):
            return [tuple(row) for row in rows]
        return [_processed(results, row) for row in rows]

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        results, rows = self._fetch(session, params, many=False)
        return _processed(results, rows[0]) if rows else None

    def _fetch(
        self, session: Session, params: Mapping[str, Any], *, many: bool
    ) -> tuple[tuple[_Processor, ...], list[Any]]:
        return _fetched(*self._run(session, params), many=many)

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(session, params)
        return None if row is None else row[0]

    def execute(self, session: Session, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the driver's row count."""
        _plan, cursor = self._run(session, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def bind(self, dialect: Dialect, params: Mapping[str, Any], later: Collection[str]) -> Bound:
        """`params` processed now, for a run later (`first_bound`) that gives only the names in
        `later`. A write can then do its slow part (JSON, timestamps, enums) before it takes a
        lock, and only the driver call under it."""
        plan = self._plans.get(dialect.name) or self._compile(dialect)
        if plan.expanding:
            raise ValueError("a statement with list parameters cannot be bound ahead")
        values = dict(plan.fixed)
        for name, process in plan.binds.items():
            if name not in later:
                value = params[name]
                values[name] = value if process is None or value is None else process(value)
        return Bound(plan, values, tuple(later))

    def first_bound(
        self, session: Session, bound: Bound, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run a statement bound ahead (`bind`) with the values it left for now; its first row."""
        dbapi_connection, dialect = _session_connection(session)
        plan = bound.plan
        if plan.dialect.name != dialect.name:
            raise ValueError("bound for another database")
        values = dict(bound.values)
        for name in bound.later:
            value, process = params[name], plan.binds[name]
            values[name] = value if process is None or value is None else process(value)
        results, rows = _fetched(plan, self._execute(plan, dialect, dbapi_connection, values),
                                 many=False)  # fmt: skip
        return _processed(results, rows[0]) if rows else None

    def _run(self, session: Session, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        reader = _READER.get()
        if reader is not None:
            dbapi_connection, dialect = reader
        else:
            dbapi_connection, dialect = _session_connection(session)
        plan = self._plans.get(dialect.name) or self._compile(dialect)
        if reader is not None and plan.writes:
            raise RuntimeError("a prepared write inside reading_outside_transactions()")
        if plan.expanding:
            plan, params = self._expand(plan, dialect, params)
        values = dict(plan.fixed)
        for name, process in plan.binds.items():
            value = params[name]
            values[name] = value if process is None or value is None else process(value)
        return plan, self._execute(plan, dialect, dbapi_connection, values)

    @staticmethod
    def _execute(
        plan: _Plan, dialect: Dialect, dbapi_connection: Any, values: dict[str, Any]
    ) -> Any:
        """The driver's cursor after running `plan` with processed `values`."""
        args: Any = values if plan.names is None else tuple(values[n] for n in plan.names)
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(plan.sql, args, exc, dialect.loaded_dbapi.Error) from exc
        return cursor

    def _compile(self, dialect: Dialect, key: str | None = None, base: _Plan | None = None,
                 sizes: tuple[int, ...] = ()) -> _Plan:  # fmt: skip
        with self._lock:
            key = key or dialect.name
            plan = self._plans.get(key)
            if plan is None:
                if base is None:
                    plan = compile_plan(self.statement, dialect)
                else:
                    plan = expanded_plan(
                        base, dialect, dict(zip(base.expanding, sizes, strict=True))
                    )
                self._plans[key] = plan
            return plan

    def _expand(
        self, plan: _Plan, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple[_Plan, dict[str, Any]]:
        """The plan for these list lengths, and the parameters with each list spread out."""
        sizes = tuple(len(params[name]) for name in plan.expanding)
        key = f"{dialect.name}:{sizes}"
        expanded = self._plans.get(key) or self._compile(dialect, key, plan, sizes)
        spread = dict(params)
        for name in plan.expanding:
            spread.update((f"{name}_{i}", v) for i, v in enumerate(params[name], start=1))
        return expanded, spread


def compile_plan(statement: Executable, dialect: Dialect) -> _Plan:
    """Compile `statement` for `dialect` into the SQL string and what `Prepared` needs to run it."""
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.escaped_bind_names:
        raise ValueError("prepared statements take plain bind names")
    fixed: dict[str, Any] = {}
    binds: dict[str, _Processor] = {}
    expanding: list[str] = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.expanding:
            expanding.append(name)
            binds[name] = process
        elif bind.callable is not None or not bind.required:
            value = bind.effective_value
            fixed[name] = value if process is None or value is None else process(value)
        else:
            binds[name] = process
    positional = dialect.paramstyle in ("qmark", "format", "numeric")
    return _Plan(
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()) if positional else None,
        fixed=fixed,
        binds=binds,
        columns=tuple(column.type for column in getattr(statement, "exported_columns", ())),
        expanding=tuple(expanding),
        compiled=compiled,
        dialect=dialect,
        writes=bool(compiled.isinsert or compiled.isupdate or compiled.isdelete),
    )


def expanded_plan(base: _Plan, dialect: Dialect, sizes: dict[str, int]) -> _Plan:
    """`base` with each list parameter spread over `sizes[name]` placeholders ``name_1``..."""
    dummy = {name: [None] * size for name, size in sizes.items()}
    state = base.compiled.construct_expanded_state({**dict.fromkeys(base.binds), **dummy})
    binds = {k: v for k, v in base.binds.items() if k not in sizes}
    for name, size in sizes.items():
        binds.update((f"{name}_{i}", base.binds[name]) for i in range(1, size + 1))
    return _Plan(
        sql=state.statement,
        names=tuple(state.positiontup or ()) if base.names is not None else None,
        fixed=base.fixed,
        binds=binds,
        columns=base.columns,
        expanding=(),
        compiled=None,
        dialect=dialect,
        writes=base.writes,
    )


def _fetched(plan: _Plan, cursor: Any, *, many: bool) -> tuple[tuple[_Processor, ...], list[Any]]:
    """A run's result processors and its rows (all of them, or the first only), cursor closed."""
    try:
        if many:
            rows = cursor.fetchall()
        else:
            row = cursor.fetchone()
            rows = [] if row is None else [row]
        return _result_processors(plan, cursor), rows
    finally:
        cursor.close()


def _result_processors(plan: _Plan, cursor: Any) -> tuple[_Processor, ...]:
    if plan.results is not None:
        return plan.results
    dialect = plan.dialect
    plan.results = tuple(
        type_.dialect_impl(dialect).result_processor(dialect, description[1])
        for type_, description in zip(plan.columns, cursor.description or (), strict=True)
    )
    return plan.results


def _processed(results: tuple[_Processor, ...], row: Any) -> tuple[Any, ...]:
    return tuple(
        value if process is None or value is None else process(value)
        for process, value in zip(results, row, strict=True)
    )
