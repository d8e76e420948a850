"""Scale-out: two `moderation serve` nodes as real processes sharing PostgreSQL and Redis."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from moderation.storage import migrations
from tests.conftest import _PG_PROBLEM, fresh_database_url
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet
from tests.runtime.test_serve import free_port, wait_healthy

pytestmark = pytest.mark.slow
REDIS_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

CONFIG = """
[server]
secret_key = "two-node-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
workers = 2
threads = 4
data_dir = "{data}"

[database]
url = "{db}"

[redis]
url = "{redis}"

[jobs]
backend = "redis"
embedded_consumer = {consumer}

[sites.blog]
url = "https://blog.example.org"
origins = ["https://blog.example.org"]
moderation = "none"

[guard]
rate_limit = "6 per minute"
flood_seconds = 0

[akismet]
key = "{akismet_key}"
endpoint = "{akismet}"
timeout = 2.0
"""


def requirements_or_skip():
    import redis

    problems = []
    if _PG_PROBLEM:
        problems.append(f"PostgreSQL: {_PG_PROBLEM}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        if os.environ.get("MODERATION_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {exc}")
        problems.append(f"Redis: {exc}")
    if problems:
        pytest.skip("two-node tests need PostgreSQL and Redis: " + "; ".join(problems))
    redis.Redis.from_url(REDIS_URL).flushdb()  # the test-only database 15


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    requirements_or_skip()
    tmp = tmp_path_factory.mktemp("nodes")
    url, drop = fresh_database_url("postgresql", tmp)
    migrations.upgrade(url)
    procs = []
    with FakeAkismet() as fake:
        bases = []
        for name, consumer in (("a", "true"), ("b", "false")):
            folder = tmp / name
            folder.mkdir()
            port = free_port()
            (folder / "config.toml").write_text(
                CONFIG.format(
                    port=port,
                    data=folder / "var",
                    db=url,
                    redis=REDIS_URL,
                    consumer=consumer,
                    akismet_key=FAKE_KEY,
                    akismet=fake.url,
                )
            )
            log = (folder / "server.log").open("w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "moderation.cli", "serve", "--port", str(port)],
                    cwd=folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            assert wait_healthy(base), f"{base} did not start"
        yield {"a": bases[0], "b": bases[1], "db": url, "akismet": fake, "tmp": tmp}
    for proc in procs:
        proc.terminate()
        proc.wait(15)
    drop()


def post(base, **kw):
    data = {
        "site": "blog",
        "uri": "/two/",
        "text": "From one node",
        "author": "Ann",
        "email": "ann@example.org",
    }
    data.update(kw)
    return httpx.post(
        f"{base}/api/v1/comments",
        json=data,
        timeout=10,
        headers={"User-Agent": "Mozilla/5.0 (two-node test)"},
    )


def thread(base, uri="/two/"):
    return httpx.get(f"{base}/api/v1/threads/comments", params={"site": "blog", "uri": uri}).json()


def test_post_on_one_node_read_on_the_other_at_once(nodes):
    before = thread(nodes["b"], "/fresh/")["thread"]["count"]  # b caches the empty thread
    r = post(nodes["a"], uri="/fresh/", text="Seen everywhere at once")
    assert r.status_code == 201, r.text
    after = thread(nodes["b"], "/fresh/")
    assert after["thread"]["count"] == before + 1
    assert "Seen everywhere at once" in after["comments"][-1]["html"]


def test_rate_limit_holds_across_both_nodes(nodes):
    codes = [
        post(nodes[n], uri="/rl/", text=f"n{i}", email=f"p{i}@e.org").status_code
        for i, n in enumerate("abababab")
    ]
    # the first test posted once in this window from the same address
    assert codes.count(429) == 3, codes
    assert sum(c in (201, 202) for c in codes) == 5, codes


def test_two_moderators_at_the_same_moment_make_one_transition(nodes):
    engine = sa.create_engine(nodes["db"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (name, token_hash, created_at) VALUES "
                "('ci', encode(sha256('mod_secret'::bytea), 'hex'), now())"
            )
        )
        comment_id = conn.execute(sa.text("SELECT max(id) FROM comments")).scalar()
    headers = {"Authorization": "Bearer mod_secret"}

    def mark_spam(base):
        return httpx.post(
            f"{base}/api/v1/moderation/comments/{comment_id}/spam", headers=headers, timeout=10
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(mark_spam, [nodes["a"], nodes["b"]] * 4))
    assert codes.count(200) == 1, codes
    assert codes.count(409) == 7, codes
    with engine.connect() as conn:
        events = conn.execute(
            sa.text(
                "SELECT count(*) FROM moderation_events WHERE comment_id = :c AND action = 'spam'"
            ),
            {"c": comment_id},
        ).scalar()
    engine.dispose()
    assert events == 1
    fake = nodes["akismet"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not fake.requests_to("submit-spam"):
        time.sleep(0.2)
    time.sleep(1.0)  # a second, wrong feedback would have arrived by now
    assert len(fake.requests_to("submit-spam")) == 1
