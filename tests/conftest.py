"""Fixtures: real SQLite and real PostgreSQL, migrated once per run, emptied after each test.

Every test that touches the database runs once per engine (``[sqlite]`` and ``[postgresql]``).
PostgreSQL is used when reachable; ``MODERATION_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) turns an
unreachable server into a failure instead of a clearly reported skip.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from moderation import models  # noqa: F401  (every table on Base.metadata)
from moderation.app import create_app
from moderation.config import Settings, settings_from_mapping
from moderation.services import Context
from moderation.services.tokens import Tokens
from moderation.storage import migrations as migrations
from moderation.storage import sqlite
from moderation.storage.db import Base, Database, WriteSession, is_sqlite, run_hooks
from moderation.web import current
from tests.fakes.smtp_server import FakeSMTP

PG_ADMIN_URL = os.environ.get(
    "MODERATION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("MODERATION_REQUIRE_POSTGRES") == "1"
ENGINES = [
    e for e in os.environ.get("MODERATION_TEST_DATABASES", "sqlite,postgresql").split(",") if e
]
# Under pytest-xdist (`make test` runs two workers) each worker has its own Redis database, so
# that one worker's FLUSHDB never empties the other's keys: gw0 uses 15, gw1 14, and so on.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and "MODERATION_TEST_REDIS_URL" not in os.environ:
    os.environ["MODERATION_TEST_REDIS_URL"] = f"redis://127.0.0.1:6379/{15 - int(_WORKER[2:]) % 8}"


def pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not reachable"
        return str(exc).splitlines()[0]
    return None


_PG_PROBLEM = pg_reachable() if "postgresql" in ENGINES else "not selected"


def pytest_report_header(config: pytest.Config) -> str:
    """Say up front which engines this run covers."""
    if "postgresql" not in ENGINES:
        return "databases: sqlite only (MODERATION_TEST_DATABASES)"
    if _PG_PROBLEM:
        return (
            f"databases: sqlite; PostgreSQL SKIPPED, unreachable at {PG_ADMIN_URL}: {_PG_PROBLEM}"
        )
    return f"databases: sqlite and PostgreSQL ({PG_ADMIN_URL})"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Repeat at the end (also under -q) which engines ran, so a skipped PostgreSQL is never missed."""
    terminalreporter.write_line(pytest_report_header(terminalreporter.config))


def pytest_sessionstart(session: pytest.Session) -> None:
    """With PostgreSQL required, an unreachable server stops the run at once."""
    if REQUIRE_PG and _PG_PROBLEM:
        pytest.exit(f"PostgreSQL is required but unreachable: {_PG_PROBLEM}", returncode=3)


class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fresh_database_url(kind: str, tmp: Path) -> tuple[str, Any]:
    """A new, empty database of `kind` and a function that drops it."""
    if kind == "sqlite":
        path = tmp / f"db-{secrets.token_hex(4)}.sqlite3"
        return f"sqlite:///{path}", lambda: None
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL unreachable: {_PG_PROBLEM}")
    name = f"moderation_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False), drop


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One migrated database per engine for the whole run, created on first use: its URL."""
    made: dict[str, str] = {}
    drops = []

    def get(kind: str) -> str:
        if kind not in made:
            url, drop = fresh_database_url(kind, tmp_path_factory.mktemp("db"))
            drops.append(drop)
            migrations.upgrade(url)
            made[kind] = url
        return made[kind]

    yield {"get": get}
    for drop in drops:
        drop()


@pytest.fixture(params=ENGINES)
def db_kind(request: pytest.FixtureRequest) -> str:
    """The engine under test."""
    if request.param == "postgresql" and _PG_PROBLEM:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {_PG_PROBLEM}")
    return request.param


def empty_tables(url: str) -> None:
    """Delete every row the schema holds (not Alembic's version): what a test wrote is gone."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.exec_driver_sql(f"DELETE FROM {table}")
    engine.dispose()


@pytest.fixture
def db_url(migrated: dict[str, Any], db_kind: str) -> Iterator[str]:
    """The run's migrated database of this engine, emptied after the test."""
    url = migrated["get"](db_kind)
    yield url
    empty_tables(url)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """The production `Database` on the test's database (a real SQLite file, or PostgreSQL)."""
    db = Database(db_url)
    yield db
    db.dispose()


class SetupSession(WriteSession):
    """The tests' own session, for making rows and calling services directly.

    What it writes is committed at once (SQLite: autocommit; PostgreSQL: a commit after each
    flush that wrote or data-changing ``execute``, outside savepoints), so the app under test,
    which runs the production `Database` on the same database, sees it; its after-commit hooks
    run then. Its reads never hold a snapshot, so it sees what the app wrote. Prepared statements
    (`moderation.storage.prepared`) run beside the session: on PostgreSQL what they write through
    it is committed with its next flush that writes, or by ``session.commit()``.
    """

    def __init__(self, bind: sa.Engine) -> None:
        sa.orm.Session.__init__(self, bind=bind, expire_on_commit=False)
        self.after_commit_hooks = []
        self._committing = False

    def flush(self, objects: Any = None) -> None:
        wrote = bool(self.new or self.dirty or self.deleted)  # (autoflush before a query: no)
        super().flush(objects)
        if wrote:
            self._commit_now()

    def begin_nested(self) -> Any:
        self._committing = True  # (beginning a savepoint flushes first: no commit then)
        try:
            return super().begin_nested()
        finally:
            self._committing = False

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().execute(statement, *args, **kwargs)
        if getattr(statement, "is_dml", False):
            self._commit_now()
        return result

    def commit(self) -> None:
        self._committing = True  # (a commit flushes first: no second commit from there)
        try:
            super().commit()
        finally:
            self._committing = False
        hooks, self.after_commit_hooks = self.after_commit_hooks, []
        run_hooks(hooks)

    def _commit_now(self) -> None:
        if self._committing or self.in_nested_transaction() or not self.in_transaction():
            return
        self.commit()


def setup_engine(url: str) -> sa.Engine:
    """An engine for `SetupSession`: SQLite connections as the service opens them (autocommit)."""
    if not is_sqlite(url):
        return sa.create_engine(url, poolclass=sa.pool.NullPool)
    engine = sa.create_engine(url)
    sa.event.listen(
        engine,
        "connect",
        lambda conn, _record: sqlite.configure_connection(
            conn, busy_timeout_ms=5000, read_only=False
        ),
    )
    return engine


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session for making rows and calling services (see `SetupSession`)."""
    engine = setup_engine(db_url)
    s = SetupSession(engine)
    yield s
    s.close()
    engine.dispose()


SITE_URL = "https://blog.example.org"


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    """Test settings: one site, roomy limits; `overrides` maps "section.key" to values."""
    raw: dict[str, Any] = {
        "server": {
            "secret_key": ["an-older-key-for-rotation-tests", "test-secret-key-0123456789"],
            "public_url": "https://comments.example.org",
            "data_dir": str(tmp / "var"),
            "access_log": False,
        },
        "database": {"url": "sqlite:///unused.db"},
        "sites": {
            "blog": {"url": SITE_URL, "origins": [SITE_URL], "moderation": "none"},
            "other": {"url": "https://other.example.net", "origins": ["https://other.example.net"]},
        },
        "guard": {"rate_limit": "1000 per minute", "flood_seconds": 15},
        "jobs": {"immediate": True},
    }
    for dotted, value in overrides.items():
        *path, key = dotted.split(".")
        table = raw
        for part in path:
            table = table.setdefault(part, {})
        table[key] = value
    return settings_from_mapping(raw)


@pytest.fixture
def clock() -> Clock:
    """The time services see."""
    return Clock()


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Default test settings; a test changes some with
    ``@pytest.mark.parametrize("settings", [{"dotted.key": value}], indirect=True)``."""
    return make_settings(tmp_path, **getattr(request, "param", {}))


@pytest.fixture
def ctx(settings: Settings, clock: Clock) -> Context:
    """A service context with the test clock and the null scorer."""
    return Context(settings=settings, tokens=Tokens.from_settings(settings), clock=clock)


def reconfigure(app: Any, **changes: Any) -> Context:
    """Let a running test app go on with its context changed by `changes` (other settings, scorers
    or hooks), keeping its database, cache and queue; returns the new context. The context is
    frozen, so this is a new one; production builds one per process and never swaps it."""
    parts = current.parts(app)
    context = replace(parts.context, **changes)
    app.extensions[current.KEY] = replace(parts, context=context)
    return context


@pytest.fixture
def app(settings: Settings, database: Database, ctx: Context) -> Any:
    """The app over the test's transaction."""
    application = create_app(settings, database=database, context=ctx)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    """Flask's test client."""
    return app.test_client()


class _ErrorCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test may leave an error or a traceback in the log, unless it says it expects one."""
    catcher = _ErrorCatcher()
    logging.getLogger().addHandler(catcher)
    yield
    logging.getLogger().removeHandler(catcher)
    if request.node.get_closest_marker("expect_errors"):
        return
    messages = [f"{r.name}: {r.getMessage()}" for r in catcher.records]
    assert not messages, f"errors were logged: {messages}"


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    with FakeSMTP() as server:
        yield server
