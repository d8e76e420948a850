"""``GET /readyz``, the readiness probe (issue 16, finding 6): ready only when the database answers,
its schema is at the newest migration, and a job consumer has shown a heartbeat lately. A killed
consumer left ``/healthz`` at 200 while no mail went out; ``/readyz`` says so. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from moderation.app import create_app
from moderation.runtime.heartbeat import HEARTBEAT_FILE
from moderation.storage import migrations
from moderation.storage.db import Database
from tests.conftest import fresh_database_url, make_settings
from tests.fakes.tcp_relay import TcpRelay


def beat(settings, seconds_ago: float = 0.0) -> None:
    """The consumer's heartbeat, as `moderation worker` writes it, `seconds_ago`."""
    path = settings.data_path / HEARTBEAT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    then = time.time() - seconds_ago
    os.utime(path, (then, then))


@pytest.fixture
def settings(request, tmp_path):
    """A queue that runs in a consumer (not inline), so the consumer's heartbeat counts."""
    return make_settings(tmp_path, **{"jobs.immediate": False, **getattr(request, "param", {})})


def test_ready_with_database_schema_and_a_fresh_heartbeat(client, settings):
    beat(settings, seconds_ago=1)
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "ready"
    assert r.json["checks"] == {"database": "ok", "migrations": "ok", "jobs": "ok"}


def test_healthz_stays_the_liveness_probe(client):
    """No consumer at all: /healthz (is the process alive, does the database answer) is 200."""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_not_ready_without_any_heartbeat(client):
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["status"] == "not ready"
    assert r.json["checks"]["database"] == "ok"
    assert "no heartbeat" in r.json["checks"]["jobs"]
    assert r.json["error"]["code"] == "not_ready"
    assert "jobs" in r.json["error"]["message"]


def test_not_ready_when_the_consumer_stopped_beating(client, settings):
    beat(settings, seconds_ago=settings.jobs.heartbeat_max_age_seconds + 30)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "last heartbeat" in r.json["checks"]["jobs"]
    beat(settings)  # the consumer is back (restarted by `moderation serve`)
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("settings", [{"jobs.immediate": True}], indirect=True)
def test_jobs_run_inline_need_no_consumer(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["checks"]["jobs"] == "ok (run inline)"


def test_not_ready_when_the_database_does_not_answer(tmp_path, settings):
    beat(settings)
    gone = Database("postgresql+psycopg://nobody@127.0.0.1:9/none")  # nothing listens on port 9
    app = create_app(settings, database=gone)
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["database"].startswith("unreachable")
    assert r.json["checks"]["migrations"] == "unknown (no database)"
    assert "database" in r.json["error"]["message"]
    gone.dispose()


def test_not_ready_when_migrations_are_not_at_head(tmp_path, settings):
    beat(settings)
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrations.upgrade(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as if the newest revision had not been applied
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'an-older-one'"))
    engine.dispose()
    database = Database(url)
    r = create_app(settings, database=database).test_client().get("/readyz")
    assert r.status_code == 503
    assert "an-older-one" in r.json["checks"]["migrations"]
    assert "moderation db upgrade" in r.json["checks"]["migrations"]
    database.dispose()


def test_not_ready_on_an_empty_database(tmp_path, settings):
    beat(settings)
    database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    r = create_app(settings, database=database).test_client().get("/readyz")
    assert r.status_code == 503
    assert "not migrated" in r.json["checks"]["migrations"]
    database.dispose()


# Outages and their end: /readyz follows the database back, in the same process.


ALL_OK = {"database": "ok", "migrations": "ok", "jobs": "ok"}


def readyz(app) -> tuple[int, dict]:
    r = app.test_client().get("/readyz")
    return r.status_code, r.json


def test_not_ready_while_the_sqlite_file_is_damaged_then_ready(tmp_path, settings):
    """The SQLite file is not a database (a damaged disk, a half-copied file): 503 naming the
    error; once a good copy is back in its place, 200 without a restart."""
    beat(settings)
    path = tmp_path / "moderation.db"
    migrations.upgrade(f"sqlite:///{path}")
    good = path.read_bytes()
    path.write_bytes(b"this is not a SQLite database " * 200)
    database = Database(f"sqlite:///{path}")
    app = create_app(settings, database=database)
    status, body = readyz(app)
    assert status == 503
    assert body["checks"]["database"].startswith("unreachable: DatabaseError"), body
    assert body["checks"]["migrations"] == "unknown (no database)"
    path.write_bytes(good)
    assert readyz(app) == (200, {"status": "ready", "checks": ALL_OK})
    database.dispose()


def test_not_ready_while_postgresql_is_down_then_ready(tmp_path, settings):
    """The server goes away (connections cut, then refused) and comes back on the same address:
    the pool's dead connections are replaced and /readyz is 200 again."""
    beat(settings)
    url, drop = fresh_database_url("postgresql", tmp_path)
    migrations.upgrade(url)
    target = sa.make_url(url)
    with TcpRelay((target.host or "127.0.0.1", target.port or 5432)) as relay:
        database = Database(target.set(port=relay.port).render_as_string(False))
        app = create_app(settings, database=database)
        assert readyz(app)[0] == 200
        relay.down()
        status, body = readyz(app)
        assert status == 503
        assert body["checks"]["database"].startswith("unreachable"), body
        assert body["checks"]["migrations"] == "unknown (no database)"
        relay.up()
        assert readyz(app) == (200, {"status": "ready", "checks": ALL_OK})
        database.dispose()
    drop()


def test_not_ready_with_a_migration_missing_then_ready_after_upgrade(tmp_path, settings, db_kind):
    """One revision short of the code (a deploy that skipped `moderation db upgrade`): 503 naming
    both revisions; after the upgrade, 200 without a restart."""
    beat(settings)
    url, drop = fresh_database_url(db_kind, tmp_path)
    script = ScriptDirectory(str(migrations.MIGRATIONS))
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    migrations.upgrade(url, previous)
    database = Database(url)
    app = create_app(settings, database=database)
    status, body = readyz(app)
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert f"the schema is at {previous}, the code needs {head}" in body["checks"]["migrations"]
    migrations.upgrade(url)
    assert readyz(app) == (200, {"status": "ready", "checks": ALL_OK})
    database.dispose()
    drop()


def test_a_version_table_that_cannot_be_read_is_unknown_not_unmigrated(tmp_path, settings):
    """The database answers, but reading the schema's revision fails for another reason than a
    missing table (here a damaged ``alembic_version``): 503 saying "unknown" with the error, never
    the advice to migrate a database that may well be migrated."""
    beat(settings)
    path = tmp_path / "moderation.db"
    migrations.upgrade(f"sqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE alembic_version RENAME COLUMN version_num TO damaged")
    engine.dispose()
    status, body = readyz(create_app(settings, database=Database(f"sqlite:///{path}")))
    assert status == 503
    assert body["checks"]["database"] == "ok"
    verdict = body["checks"]["migrations"]
    assert verdict.startswith("unknown: OperationalError: "), verdict
    assert "version_num" in verdict
    assert "db upgrade" not in verdict
