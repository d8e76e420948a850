"""What a server worker imports (issue 22, memory per worker): packages that only some
configurations or some requests need stay out of a worker that does not need them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from moderation.storage import migrations

# Imported only by what needs them: Alembic by `moderation db`, Authlib, joserfc and cryptography
# by reader sign-in, httpx by the fetcher, Akismet and sign-in, the redis client and psycopg by
# huey only when the configuration uses them.
NOT_IN_A_PLAIN_WORKER = [
    "alembic",
    "mako",
    "authlib",
    "joserfc",
    "cryptography",
    "httpx",
    "redis",
    "psycopg",
]

WORKER = """
import json, sys
from moderation.config import load_settings
from moderation.app import create_app

app = create_app(load_settings(sys.argv[1]))
client = app.test_client()
statuses = [
    client.get("/healthz").status_code,
    client.get("/readyz").status_code,
    client.get("/api/v1/threads/comments?site=blog&uri=/a/").status_code,
    client.post(
        "/api/v1/comments",
        json={"site": "blog", "uri": "/a/", "text": "Hello there, a first comment.",
              "author": "Ann", "email": "ann@example.org"},
    ).status_code,
]
loaded = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
import redis  # hidden from huey's import only: still importable
print(json.dumps({"statuses": statuses, "loaded": loaded, "redis": redis.__name__}))
"""


def test_plain_worker_does_not_import_what_it_does_not_use(tmp_path: Path) -> None:
    """A SQLite site without sign-in or Akismet answers reads, readiness and a post (so the
    spam scorers run) without importing the packages of other configurations."""
    config = tmp_path / "config.toml"
    config.write_text(f"""
[server]
secret_key = "imports-test-secret-key-0123456789"
public_url = "http://127.0.0.1:1"
data_dir = "{tmp_path}/var"
[database]
url = "sqlite:///{tmp_path}/app.db"
[sites.blog]
url = "https://blog.example.org"
origins = ["https://blog.example.org"]
moderation = "none"
[jobs]
immediate = true
""")
    migrations.upgrade(f"sqlite:///{tmp_path}/app.db")
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(config), json.dumps(NOT_IN_A_PLAIN_WORKER)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["statuses"][0] == 200
    assert result["statuses"][2] == 200
    assert result["statuses"][3] in (201, 202)
    assert result["loaded"] == []
    assert result["redis"] == "redis"


HUEY = """
import sys
from moderation.config import settings_from_mapping
from moderation.runtime.jobs import import_huey, make_huey

def settings(**more):
    return settings_from_mapping({
        "server": {"secret_key": "k" * 32, "public_url": "http://x.org", "data_dir": sys.argv[2]},
        "database": {"url": "sqlite:///x.db"},
        "sites": {"b": {"url": "http://x.org", "origins": ["http://x.org"]}},
        **more,
    })

redis_jobs = settings(redis={"url": "redis://127.0.0.1:1/0"}, jobs={"backend": "redis"})
if sys.argv[1] == "sqlite-first":
    print(import_huey(settings()).storage.Redis is None)
print(import_huey(redis_jobs).storage.Redis is not None)
queue = make_huey(redis_jobs)  # a connection pool; nothing connects yet
print(type(queue).__name__ == "RedisHuey" and queue.storage.conn is not None)
"""


@pytest.mark.parametrize("order", ["redis-only", "sqlite-first"])
def test_redis_jobs_get_huey_with_the_redis_client(order: str, tmp_path: Path) -> None:
    """With Redis jobs, huey's Redis storage is there: when huey is imported for them, and when
    the process had imported it earlier for a SQLite configuration, without the client."""
    pytest.importorskip("redis")
    out = subprocess.run(
        [sys.executable, "-c", HUEY, order, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(out.stdout.split()) == {"True"}
    assert len(out.stdout.split()) == (3 if order == "sqlite-first" else 2)


def test_head_revisions_are_alembics_without_alembic(tmp_path: Path) -> None:
    """The readiness check's newest revision(s), read from the scripts' source, are the ones
    Alembic finds: on the shipped migrations, and on a history with a branch and a merge."""
    assert migrations.head_revisions() == frozenset(
        ScriptDirectory(str(migrations.MIGRATIONS)).get_heads()
    )
    (tmp_path / "versions").mkdir()
    (tmp_path / "script.py.mako").write_text("")
    scripts = {
        "a": "None",
        "b": '"a"',
        "c": '"a"',
        "d": '("b", "c")',  # a merge
        "e": '"d"',
        "f": '"d"',  # a branch left open: two heads
    }
    for rev, down in scripts.items():
        (tmp_path / "versions" / f"{rev}_step.py").write_text(
            f'"""{rev}"""\nrevision: str = "{rev}"\ndown_revision = {down}\n'
            "branch_labels = None\ndepends_on = None\n\n"
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
        )
    heads = migrations.head_revisions(tmp_path / "versions")
    assert heads == frozenset({"e", "f"})
    assert heads == frozenset(ScriptDirectory(str(tmp_path)).get_heads())
