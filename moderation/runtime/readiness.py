"""Readiness: can this deployment do its work now, side effects included?

``/healthz`` is the liveness probe: the process runs and its database answers. Readiness asks more,
each answer cheap enough for a probe every few seconds:

- the database answers (one ``SELECT``);
- its schema is at the newest migration (one row of ``alembic_version``; the newest revision is
  read from the migration scripts once per process);
- a job consumer runs: its heartbeat (`moderation.runtime.heartbeat`) is younger than
  ``[jobs] heartbeat_max_age_seconds``. Without one, posts are stored but no mail goes out and no
  linkback is verified. Jobs run inline (``[jobs] immediate``) need no consumer.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from sqlalchemy import text

from moderation.config import Settings
from moderation.runtime.heartbeat import Heartbeat
from moderation.storage import migrations
from moderation.storage.db import Database

log = logging.getLogger(__name__)

OK = "ok"


@dataclass(frozen=True)
class Readiness:
    """Each check's verdict: ``"ok"``, or what is wrong in words an operator can act on."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(verdict.startswith(OK) for verdict in self.checks.values())

    @property
    def problems(self) -> list[str]:
        """``"check: what is wrong"`` for each failed check."""
        return [f"{name}: {v}" for name, v in self.checks.items() if not v.startswith(OK)]


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest migration revision(s) this code ships (read from the scripts once, without
    Alembic, which a server worker need not carry)."""
    return migrations.head_revisions()


def check(database: Database, settings: Settings, heartbeat: Heartbeat) -> Readiness:
    """Run every readiness check; never raises."""
    checks: dict[str, str] = {}
    try:
        with database.read() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = OK
    except Exception as exc:
        log.warning("readiness: the database does not answer: %s", _first_line(exc))
        checks["database"] = f"unreachable: {type(exc).__name__}: {_first_line(exc)}"
        checks["migrations"] = "unknown (no database)"
    else:
        checks["migrations"] = _migrations(database)
    checks["jobs"] = _jobs(settings, heartbeat)
    return Readiness(checks)


def _migrations(database: Database) -> str:
    """Whether the schema's revision is the code's newest (a session of its own: a missing table
    fails its transaction on PostgreSQL)."""
    try:
        with database.read() as session:
            current = set(session.scalars(text("SELECT version_num FROM alembic_version")))
    except Exception as exc:
        # The error's first line, not the whole: SQLAlchemy's goes on with the statement, which
        # names alembic_version whatever went wrong.
        if "alembic_version" in _first_line(exc):  # (no such table / relation does not exist)
            return "not migrated (no alembic_version table): run `moderation db upgrade`"
        # The database stopped answering between the two checks: say so, not "not migrated".
        return f"unknown: {type(exc).__name__}: {_first_line(exc)}"
    heads = head_revisions()
    if current == heads:
        return OK
    shown = ", ".join(sorted(current)) or "none"
    return (
        f"the schema is at {shown}, the code needs {', '.join(sorted(heads))}: "
        "run `moderation db upgrade`"
    )


def _jobs(settings: Settings, heartbeat: Heartbeat) -> str:
    """Whether a job consumer has shown a heartbeat lately."""
    if settings.jobs.immediate:
        return "ok (run inline)"
    limit = settings.jobs.heartbeat_max_age_seconds
    age = heartbeat.age()
    if age is None:
        return "no heartbeat from a job consumer: is `moderation worker` (or serve's) running?"
    if age > limit:
        return f"the job consumer's last heartbeat was {age:.0f} s ago (limit {limit} s)"
    return OK


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
