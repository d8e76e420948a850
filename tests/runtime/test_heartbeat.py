"""The job consumer's heartbeat: written by a running consumer, read by every web worker, in a file
under ``[server] data_dir`` or, with Redis jobs, in Redis (where other machines see it)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from moderation.runtime.heartbeat import FileHeartbeat, RedisHeartbeat, heartbeat_for
from moderation.runtime.jobs import Jobs
from moderation.services import build_context
from tests.conftest import make_settings

REDIS_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def wait_for(condition, seconds=30.0):
    """Poll `condition` until it holds; the bound only ends a test that would otherwise hang."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_running_consumer_beats_and_stops_when_told(tmp_path, database):
    settings = make_settings(tmp_path, **{"jobs.immediate": False, "jobs.heartbeat_seconds": 1})
    heartbeat = heartbeat_for(settings)
    assert isinstance(heartbeat, FileHeartbeat)
    assert heartbeat.age() is None  # no consumer has run yet
    jobs = Jobs(settings, database, build_context(settings))
    stop = threading.Event()
    runner = threading.Thread(target=jobs.run_consumers, kwargs={"stop": stop})
    runner.start()
    try:
        assert wait_for(lambda: heartbeat.age() is not None)
        first = heartbeat.path.stat().st_mtime_ns
        assert wait_for(lambda: heartbeat.path.stat().st_mtime_ns > first)  # it goes on beating
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()
    stopped_at = heartbeat.path.stat().st_mtime_ns
    time.sleep(1.5)  # longer than a beat: a stopped consumer no longer beats
    assert heartbeat.path.stat().st_mtime_ns == stopped_at


def test_with_redis_jobs_the_heartbeat_is_seen_from_another_node(tmp_path):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        if os.environ.get("MODERATION_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    overrides = {"jobs.backend": "redis", "redis.url": REDIS_URL}
    worker_node = heartbeat_for(make_settings(tmp_path / "a", **overrides))
    web_node = heartbeat_for(make_settings(tmp_path / "b", **overrides))
    assert isinstance(worker_node, RedisHeartbeat)
    worker_node.client.delete("moderation:worker-heartbeat")
    assert web_node.age() is None
    worker_node.beat()
    age = web_node.age()
    assert age is not None
    assert age < 5
    assert worker_node.client.ttl("moderation:worker-heartbeat") > 0  # a dead consumer's expires
    worker_node.client.delete("moderation:worker-heartbeat")
