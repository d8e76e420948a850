"""``GET /readyz``, the readiness probe (issue 16, finding 6): ready only when the database answers,
its schema is at the newest migration, and a job consumer has shown a heartbeat lately. A killed
consumer left ``/healthz`` at 200 while no mail went out; ``/readyz`` says so. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa

from moderation.app import create_app
from moderation.runtime.heartbeat import HEARTBEAT_FILE
from moderation.storage import migrations
from moderation.storage.db import Database
from tests.conftest import make_settings


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
