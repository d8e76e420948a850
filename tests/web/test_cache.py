"""The thread cache never serves a stale thread: every change makes a new version."""

import os

import pytest

from moderation.domain.states import Action
from moderation.models import Comment
from moderation.runtime.cache import LocalCache, RedisCache, fingerprint, make_cache
from moderation.services.moderation import SYSTEM, apply_action
from moderation.web import current
from tests.conftest import make_settings, reconfigure

THREAD = "/api/v1/threads/comments?site=blog&uri=/post/"
REDIS_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def post(client, clock, **kw):
    clock.advance(60)
    data = {"site": "blog", "uri": "/post/", "text": "first", "author": "Ann", "email": "a@e.org"}
    data.update(kw)
    return client.post("/api/v1/comments", json=data).get_json()


def visible(client):
    data = client.get(THREAD).get_json()
    return data["thread"]["count"], [c["html"] for c in data["comments"]]


class CountingCache:
    """Counts the hits of the app's own cache, which the Flask views and the read fast path share
    (the fast path holds the app's parts from the start: the cache is counted, not replaced)."""

    def __init__(self, cache):
        self.hits = 0
        self._get = cache.get

    def get(self, key):
        value = self._get(key)
        self.hits += value is not None
        return value


@pytest.fixture
def counting(app, monkeypatch):
    cache = current.parts(app).cache
    counting = CountingCache(cache)
    monkeypatch.setattr(cache, "get", counting.get)
    return counting


def test_cache_serves_repeated_reads_from_one_build(client, clock, counting):
    post(client, clock)
    first = client.get(THREAD)
    second = client.get(THREAD)
    assert counting.hits == 1
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [(Action.spam, (0, [])), (Action.delete, (0, [])), (Action.hold, (0, []))],
)
def test_cache_every_transition_is_seen_at_once(
    client, clock, session, ctx, counting, action, expected
):
    comment_id = post(client, clock)["comment"]["id"]
    assert visible(client) == (1, ["<p>first</p>"])
    apply_action(session, ctx, session.get(Comment, comment_id), action, SYSTEM)
    session.flush()
    assert visible(client) == expected


def test_cache_restore_and_approve_reappear(client, clock, session, ctx, counting):
    comment_id = post(client, clock)["comment"]["id"]
    visible(client)
    comment = session.get(Comment, comment_id)
    apply_action(session, ctx, comment, Action.delete, SYSTEM)
    assert visible(client) == (0, [])
    apply_action(session, ctx, comment, Action.restore, SYSTEM)
    apply_action(session, ctx, comment, Action.approve, SYSTEM)
    assert visible(client) == (1, ["<p>first</p>"])


def test_cache_new_comment_and_author_edit_are_seen(client, clock, counting):
    created = post(client, clock)
    visible(client)
    post(client, clock, text="second", author="Bob", email="b@e.org")
    assert visible(client)[0] == 2
    client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"text": "edited"},
        headers={"X-Edit-Token": created["edit_token"]},
    )
    assert visible(client)[1][0] == "<p>edited</p>"


def test_cache_a_held_comment_leaves_the_cached_thread_alone(
    app, client, clock, tmp_path, counting
):
    post(client, clock)
    visible(client)
    reconfigure(app, settings=make_settings(tmp_path, **{"sites.blog.moderation": "all"}))
    assert post(client, clock, text="held", author="Bob", email="b@e.org")["comment"]["id"]
    hits = counting.hits
    assert visible(client) == (1, ["<p>first</p>"])
    assert counting.hits == hits + 1  # served from the cache: nothing pages show changed


def test_cache_a_held_comment_that_titles_the_thread_is_seen(app, client, clock, tmp_path):
    post(client, clock)
    assert client.get(THREAD).get_json()["thread"]["title"] == ""
    reconfigure(app, settings=make_settings(tmp_path, **{"sites.blog.moderation": "all"}))
    post(client, clock, text="held", author="Bob", email="b@e.org", title="A title")
    assert client.get(THREAD).get_json()["thread"]["title"] == "A title"


@pytest.mark.parametrize("settings", [{"sites.blog.close_after_days": 1}], indirect=True)
def test_cache_closing_by_age_is_seen_without_any_write(client, clock, counting):
    post(client, clock)
    assert client.get(THREAD).get_json()["thread"]["open"] is True
    clock.advance(2 * 86400)
    assert client.get(THREAD).get_json()["thread"]["open"] is False


def test_local_cache_evicts_least_recently_used():
    cache = LocalCache(size=2)
    cache.set("a", b"1")
    cache.set("b", b"2")
    assert cache.get("a") == b"1"
    cache.set("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")


def redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        if os.environ.get("MODERATION_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")


def test_redis_cache_round_trip_and_down_redis_is_a_miss():
    redis_or_skip()
    cache = RedisCache(REDIS_URL, ttl=30, prefix=f"moderation-test:{os.getpid()}:")
    cache.set("k", b"value")
    assert cache.get("k") == b"value"
    dead = RedisCache("redis://127.0.0.1:1/0")
    assert dead.get("k") is None
    dead.set("k", b"x")  # no exception: a cache failure only costs a rebuild


def test_a_changed_site_setting_is_a_new_set_of_redis_keys(tmp_path):
    """Redis outlives a restart: JSON built before a setting changed (avatars, signed TrackBack
    URLs, the public URL) must not be served after it."""
    redis_or_skip()
    before = make_settings(tmp_path, **{"redis.url": REDIS_URL})
    cache = make_cache(before)
    assert isinstance(cache, RedisCache)
    key = f"thread:{os.getpid()}:1:1"
    cache.set(key, b"built before")
    assert (
        make_cache(make_settings(tmp_path, **{"redis.url": REDIS_URL})).get(key) == b"built before"
    )
    for changed in (
        {"sites.blog.gravatar": True},
        {"sites.blog.signed_trackback_urls": True},
        {"server.public_url": "https://elsewhere.example.org"},
    ):
        after = make_settings(tmp_path, **{"redis.url": REDIS_URL, **changed})
        assert fingerprint(after) != fingerprint(before)
        assert make_cache(after).get(key) is None


def test_fast_path_answers_cached_threads_and_counts_without_flask(app, client, clock):
    post(client, clock)
    warm = client.get(THREAD, headers={"Origin": "https://blog.example.org"})

    def must_not_run(*args, **kwargs):
        raise AssertionError("the Flask view ran")

    app.view_functions["widget.thread"] = must_not_run
    app.view_functions["widget.counts"] = must_not_run
    fast = client.get(THREAD, headers={"Origin": "https://blog.example.org"})
    assert fast.status_code == 200
    assert fast.data == warm.data
    assert fast.headers["ETag"] == warm.headers["ETag"]
    assert fast.headers["Access-Control-Allow-Origin"] == "https://blog.example.org"
    assert client.get(THREAD, headers={"If-None-Match": warm.headers["ETag"]}).status_code == 304
    counts = client.get("/api/v1/counts?site=blog&uri=/post/&uri=/none/")
    assert counts.get_json() == {"counts": {"/post/": 1, "/none/": 0}}


def test_fast_path_leaves_errors_and_foreign_origins_to_flask(client, clock):
    post(client, clock)
    client.get(THREAD)
    assert client.get(THREAD, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.get("/api/v1/counts?site=blog&uri=relative").status_code == 400
    assert client.get("/api/v1/counts?site=nope&uri=/x/").status_code == 400
