"""Alembic environment: the models' metadata, the URL from `moderation.storage.migrations`, SQLite batch mode."""

from __future__ import annotations

from pathlib import Path

from alembic import context
from sqlalchemy import Engine, create_engine, event, make_url

from moderation import models  # (registers every table on Base.metadata)
from moderation.storage import sqlite
from moderation.storage.db import Base, UTCDateTime, is_sqlite
from moderation.storage.migrations import compare_server_default

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations over a live connection, one transaction per migration."""
    url = config.get_main_option("sqlalchemy.url")
    assert url
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = _engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _engine(url: str) -> Engine:
    """The migrations' engine. SQLite: connections opened as the service opens them, and a BEGIN
    emitted for each transaction (pysqlite would leave DDL outside it), so each migration is
    atomic there too."""
    engine = create_engine(url)
    if is_sqlite(url):
        Path(make_url(url).database or ".").parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:  # noqa: ANN001
            sqlite.configure_connection(dbapi_connection, busy_timeout_ms=5000, read_only=False)

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # noqa: ANN001
            connection.exec_driver_sql("BEGIN")

    return engine


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our UTC type decorator as the plain DateTime column it is in the database."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        render_item=_render_item,
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=compare_server_default,
        include_name=models.outside_models,  # the search index (0012) is no model
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
