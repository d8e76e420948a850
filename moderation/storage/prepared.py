"""Hot-path statements: a Core statement compiled once per dialect, run on the session's own
DBAPI connection.

A comment post runs about ten statements. Through ``Session.execute`` each costs tens of
microseconds even with SQLAlchemy's compiled cache (cache key, execution context, events, result
object); the driver call itself costs a few (`bench/statements_bench.py` prints both). `Prepared`
keeps the SQL written in Core, checked against the models and portable, and keeps SQLAlchemy's
type handling (each type's bind and result processors for the dialect), and skips the rest.

It uses SQLAlchemy's public API only: ``compile(dialect=...)``, the compiled statement's string,
``bind_names``, ``positiontup`` and ``params``, and each type's ``dialect_impl`` processors. What it
skips, and so must not be needed: Python column defaults (`insert_row` checks that every column
with one is given), ORM events, autoflush (nothing pending in the session is flushed first) and
list parameters (build one statement per list length instead, as `in_list` does).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_Processor = Callable[[Any], Any] | None


@dataclass
class _Plan:
    sql: str
    names: tuple[str, ...] | None  # positional order (qmark, format); None: the driver takes a dict
    fixed: dict[str, Any]  # values the statement itself carries (``status = 'approved'``)
    binds: dict[str, _Processor]  # every parameter the caller gives, with its bind processor
    columns: tuple[Any, ...]  # the returned columns' types
    dialect: Dialect
    # Result processors, one per returned column, made from the first cursor's description (some
    # depend on the type the driver reports).
    results: tuple[_Processor, ...] | None = None


def connection_of(session: Session) -> Connection:
    """The connection `session` runs on: the one it is bound to (`Database.read`, `Database.write`),
    else its transaction's."""
    bind = session.get_bind()
    return bind if isinstance(bind, Connection) else session.connection()


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
        plan, cursor = self._run(session, params)
        try:
            rows = cursor.fetchall()
            results = _result_processors(plan, cursor)
        finally:
            cursor.close()
        if not any(results):
            return [tuple(row) for row in rows]
        return [_processed(results, row) for row in rows]

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        plan, cursor = self._run(session, params)
        try:
            row = cursor.fetchone()
            results = _result_processors(plan, cursor)
        finally:
            cursor.close()
        return None if row is None else _processed(results, row)

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

    def _run(self, session: Session, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        connection = connection_of(session)
        dialect = connection.dialect
        plan = self._plans.get(dialect.name) or self._compile(dialect)
        values = dict(plan.fixed)
        for name, process in plan.binds.items():
            value = params[name]
            values[name] = value if process is None or value is None else process(value)
        args: Any = values if plan.names is None else tuple(values[n] for n in plan.names)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(plan.sql, args, exc, dialect.loaded_dbapi.Error) from exc
        return plan, cursor

    def _compile(self, dialect: Dialect) -> _Plan:
        with self._lock:
            plan = self._plans.get(dialect.name)
            if plan is None:
                plan = self._plans[dialect.name] = compile_plan(self.statement, dialect)
            return plan


def compile_plan(statement: Executable, dialect: Dialect) -> _Plan:
    """Compile `statement` for `dialect` into the SQL string and what `Prepared` needs to run it."""
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    defaults = compiled.params  # every bind by its name in the SQL, with the statement's value
    fixed: dict[str, Any] = {}
    binds: dict[str, _Processor] = {}
    for bind, name in compiled.bind_names.items():
        if bind.expanding:
            raise ValueError("prepared statements take no list parameters: see in_list()")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            binds[name] = process
        else:
            value = defaults[name]
            fixed[name] = value if process is None or value is None else process(value)
    positional = dialect.paramstyle in ("qmark", "format", "numeric")
    return _Plan(
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()) if positional else None,
        fixed=fixed,
        binds=binds,
        columns=tuple(column.type for column in getattr(statement, "exported_columns", ())),
        dialect=dialect,
    )


def in_list(name: str, length: int) -> list[Any]:
    """The bind parameters ``name_0`` ... of an ``IN`` list of `length` values, for a statement
    built once per length (``column.in_(in_list("features", 3))``)."""
    return [bindparam(f"{name}_{i}") for i in range(length)]


def spread(name: str, values: list[Any]) -> dict[str, Any]:
    """The parameters of an `in_list` list: ``{name_0: values[0], ...}``."""
    return {f"{name}_{i}": value for i, value in enumerate(values)}


def insert_row(session: Session, table: Table, values: Mapping[str, Any]) -> int:
    """INSERT one row of exactly `values` (by column key) into `table`; its integer primary key.

    Every column with a Python-side default must be given: a prepared statement does not run them.
    """
    return _insert_statement(table, frozenset(values)).scalar(session, values)


@functools.cache
def _insert_statement(table: Table, keys: frozenset[str]) -> Prepared:
    missing = [c.key for c in table.columns if c.default is not None and c.key not in keys]
    if missing:
        raise ValueError(f"insert_row into {table.name} needs {sorted(missing)} (Python defaults)")
    (primary_key,) = table.primary_key.columns
    values = {key: bindparam(key, type_=table.c[key].type) for key in sorted(keys)}
    return Prepared(table.insert().values(values).returning(primary_key))


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
