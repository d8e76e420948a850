import threading
from dataclasses import replace

import pytest

from moderation.app import create_app
from moderation.domain.scoring import Verdict
from moderation.runtime.process import one_submission_at_a_time
from moderation.storage.db import is_sqlite
from tests.conftest import SITE_URL, make_settings, reconfigure
from tests.factories import FixedScorer

THREAD = "/api/v1/threads/comments?site=blog&uri=/post/"


def body(**kw):
    data = {
        "site": "blog",
        "uri": "/post/",
        "text": "Nice post.",
        "author": "Ann",
        "email": "ann@example.org",
        "website": "ann.example.org",
    }
    data.update(kw)
    return data


def post(client, clock, **kw):
    clock.advance(60)
    return client.post("/api/v1/comments", json=body(**kw), headers={"Origin": SITE_URL})


def test_post_published_is_201_with_comment_and_edit_token(client, clock):
    r = post(client, clock)
    assert r.status_code == 201
    data = r.get_json()
    assert data["edit_token"]
    c = data["comment"]
    assert set(c) == {
        "id",
        "parent",
        "kind",
        "author",
        "website",
        "avatar",
        "html",
        "created",
        "modified",
        "replies",
        "likes",
    }
    assert c["website"] == "http://ann.example.org"
    assert "email" not in c
    assert "ip" not in c
    assert r.headers["Access-Control-Allow-Origin"] == SITE_URL


def test_post_held_and_spam_both_answer_202(app, client, clock, tmp_path):
    reconfigure(app, settings=make_settings(tmp_path, **{"sites.blog.moderation": "all"}))
    held = post(client, clock)
    reconfigure(app, scorers=[FixedScorer(Verdict.spam, 10)])
    spam = post(client, clock, text="buy pills")
    assert held.status_code == spam.status_code == 202
    assert set(held.get_json()) == set(spam.get_json()) == {"comment", "edit_token", "edit_until"}


def test_thread_shows_approved_tree_with_etag_and_304(client, clock):
    first = post(client, clock).get_json()["comment"]
    post(client, clock, text="reply", parent=first["id"], author="Bob", email="bob@example.org")
    r = client.get(THREAD)
    assert r.status_code == 200
    data = r.get_json()
    assert data["thread"]["count"] == 2
    assert data["comments"][0]["replies"][0]["html"] == "<p>reply</p>"
    again = client.get(THREAD, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    post(client, clock, text="third")
    assert client.get(THREAD, headers={"If-None-Match": r.headers["ETag"]}).status_code == 200


def test_thread_unknown_page_is_200_with_count_zero(client):
    r = client.get("/api/v1/threads/comments?site=blog&uri=/never/")
    assert r.status_code == 200
    assert r.get_json()["thread"]["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("site=blog", "uri"),
        ("uri=/x/", "site"),
        ("site=nope&uri=/x/", "site"),
        ("site=blog&uri=relative", "uri"),
    ],
)
def test_thread_bad_query_is_400_naming_the_field(client, query, field):
    r = client.get(f"/api/v1/threads/comments?{query}")
    assert r.status_code == 400
    assert field in r.get_json()["error"]["fields"]


def test_counts_for_many_pages(client, clock):
    post(client, clock, uri="/a/")
    post(client, clock, uri="/b/", text="b")
    r = client.get("/api/v1/counts?site=blog&uri=/a/&uri=/b/&uri=/c/")
    assert r.get_json() == {"counts": {"/a/": 1, "/b/": 1, "/c/": 0}}


def test_counts_without_uri_is_400(client):
    r = client.get("/api/v1/counts?site=blog")
    assert r.status_code == 400
    assert r.get_json()["error"]["fields"] == {"uri": "give at least one uri"}


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"text": ""}, {"text"}),
        ({"text": 5}, {"text"}),
        ({"site": "nope"}, {"site"}),
        ({"uri": "http://x/"}, {"uri"}),
        ({"email": "not-an-address"}, {"email"}),
        ({"website": "javascript:alert(1)"}, {"website"}),
        ({"parent": "1"}, {"parent"}),
        ({"parent": True}, {"parent"}),
        ({"author": "x" * 246}, {"author"}),
        ({"text": "é" * 32763}, {"text"}),  # 65526 bytes
        ({"colour": "blue"}, {"colour"}),
        ({"author": "a\x00b"}, {"author"}),
    ],
)
def test_post_bad_input_is_400_naming_every_field(client, clock, changes, fields):
    r = post(client, clock, **changes)
    assert r.status_code == 400, r.get_json()
    assert set(r.get_json()["error"]["fields"]) == fields


def test_post_text_of_exactly_65525_bytes_is_accepted(client, clock):
    r = post(client, clock, text="a" + "é" * 32762)  # 1 + 65524 bytes
    assert r.status_code == 201


def test_post_body_not_an_object_is_400(client):
    r = client.post("/api/v1/comments", data="[1, 2]", content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["error"]["message"] == "the body must be a JSON object"


def test_post_broken_json_is_400(client):
    r = client.post("/api/v1/comments", data="{nope", content_type="application/json")
    assert r.status_code == 400


def test_post_form_encoded_is_415(client):
    r = client.post("/api/v1/comments", data={"site": "blog", "uri": "/p/", "text": "x"})
    assert r.status_code == 415
    assert r.get_json()["error"]["code"] == "unsupported_media_type"


def test_post_too_large_is_413_json(client):
    r = client.post("/api/v1/comments", data="x" * 600_000, content_type="application/json")
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "request_entity_too_large"


def test_post_duplicate_is_409(client, clock):
    post(client, clock)
    r = post(client, clock)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "duplicate"


def test_on_sqlite_a_post_takes_its_turn_at_the_processs_submission_gate(client, clock, database):
    """On PostgreSQL it does not wait: its round trips overlap the other submission's work."""
    order: list[str] = []
    holding = threading.Event()

    def another_submission() -> None:
        with one_submission_at_a_time():
            holding.set()
            threading.Event().wait(0.3)  # a submission that takes a while
            order.append("the other submission ended")

    other = threading.Thread(target=another_submission)
    other.start()
    assert holding.wait(5)
    r = post(client, clock)
    order.append("the post was answered")
    other.join(5)
    assert r.status_code == 201
    waited = order == ["the other submission ended", "the post was answered"]
    assert waited is is_sqlite(database.url), order


def test_post_flood_is_429_with_retry_after(client, clock):
    post(client, clock)
    clock.advance(5)
    r = client.post("/api/v1/comments", json=body(text="quick"))
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "10"


def test_post_closed_thread_is_403(app, client, clock, tmp_path):
    reconfigure(app, settings=make_settings(tmp_path, **{"sites.blog.close_after_days": 1}))
    post(client, clock)
    clock.advance(2 * 86400)
    r = post(client, clock, text="late")
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "thread_closed"


def test_post_rate_limit_is_429_with_retry_after(tmp_path, database, ctx, clock):
    settings = make_settings(tmp_path, **{"guard.rate_limit": "2 per minute"})
    client = create_app(settings, database=database, context=replace(ctx, settings=settings))
    client = client.test_client()
    codes = [post(client, clock, text=f"n{i}").status_code for i in range(3)]
    assert codes == [201, 201, 429]
    r = post(client, clock, text="n4")
    assert r.status_code == 429
    assert r.get_json()["error"]["code"] == "too_many_requests"
    assert 0 < int(r.headers["Retry-After"]) <= 60


def test_rate_limit_is_per_client_ip(tmp_path, database, ctx, clock):
    settings = make_settings(tmp_path, **{"guard.rate_limit": "1 per minute"})
    client = create_app(settings, database=database, context=replace(ctx, settings=settings))
    client = client.test_client()

    def from_ip(ip, text):
        clock.advance(60)
        return client.post(
            "/api/v1/comments",
            json=body(text=text, email=f"{text}@e.org"),
            environ_base={"REMOTE_ADDR": ip},
        ).status_code

    assert [from_ip("192.0.2.1", "a"), from_ip("192.0.2.2", "b"), from_ip("192.0.2.1", "c")] == [
        201,
        201,
        429,
    ]


def test_cors_foreign_origin_is_403(client, clock):
    clock.advance(60)
    r = client.post("/api/v1/comments", json=body(), headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.get(THREAD, headers={"Origin": "https://other.example.net"})
    assert r.status_code == 403  # an origin of another site may not read this one


def test_cors_preflight_lets_any_origin_ask_and_the_request_is_refused_readably(
    client, clock, session
):
    ok = client.options(
        "/api/v1/comments", headers={"Origin": SITE_URL, "Access-Control-Request-Method": "POST"}
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == SITE_URL
    assert "X-Edit-Token" in ok.headers["Access-Control-Allow-Headers"]
    # Another origin passes the preflight, so that its page can read why the request fails ...
    evil = "https://evil.example"
    assert client.options("/api/v1/comments", headers={"Origin": evil}).status_code == 204
    clock.advance(60)
    refused = client.post("/api/v1/comments", json=body(), headers={"Origin": evil})
    assert refused.status_code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == evil
    assert "add it to [sites.blog] origins" in refused.get_json()["error"]["message"]
    # ... and nothing else: no comment was stored, and a read gives it no thread
    from sqlalchemy import func, select

    from moderation.models import Comment

    assert session.scalar(select(func.count()).select_from(Comment)) == 0
    read = client.get(THREAD, headers={"Origin": evil})
    assert read.status_code == 403
    assert "comments" not in read.get_json()


def test_cors_read_from_allowed_origin_exposes_etag(client):
    r = client.get(THREAD, headers={"Origin": SITE_URL})
    assert r.headers["Access-Control-Allow-Origin"] == SITE_URL
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    assert "Origin" in r.headers["Vary"]


def test_edit_and_delete_with_token(client, clock):
    created = post(client, clock).get_json()
    cid, token = created["comment"]["id"], created["edit_token"]
    r = client.patch(
        f"/api/v1/comments/{cid}", json={"text": "*edited*"}, headers={"X-Edit-Token": token}
    )
    assert r.status_code == 200
    assert r.get_json()["html"] == "<p><em>edited</em></p>"
    assert r.get_json()["modified"] is not None
    assert (
        client.delete(f"/api/v1/comments/{cid}", headers={"X-Edit-Token": token}).status_code == 204
    )
    assert client.get(THREAD).get_json()["comments"] == []


def test_edit_after_window_is_403(client, clock):
    created = post(client, clock).get_json()
    clock.advance(901)
    r = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"text": "late"},
        headers={"X-Edit-Token": created["edit_token"]},
    )
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "token_expired"


@pytest.mark.parametrize("token", ["", "garbage", "eyJpZCI6MX0.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_edit_and_delete_with_bad_token_are_403(client, clock, token):
    cid = post(client, clock).get_json()["comment"]["id"]
    headers = {"X-Edit-Token": token} if token else {}
    assert (
        client.patch(f"/api/v1/comments/{cid}", json={"text": "x"}, headers=headers).status_code
        == 403
    )
    assert client.delete(f"/api/v1/comments/{cid}", headers=headers).status_code == 403


def test_edit_unknown_comment_is_404_and_bad_body_is_400(client, clock):
    created = post(client, clock).get_json()
    token = created["edit_token"]
    assert (
        client.delete("/api/v1/comments/999999", headers={"X-Edit-Token": token}).status_code == 403
    )
    r = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"text": ""},
        headers={"X-Edit-Token": token},
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["fields"] == {"text": "required"}


def test_unknown_api_path_and_method_are_json(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"
    r = client.put("/api/v1/comments")
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


def test_healthz_answers_when_the_database_does(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


def test_avatar_is_an_svg_identicon(client, clock):
    avatar = post(client, clock).get_json()["comment"]["avatar"]
    path = avatar.removeprefix("https://comments.example.org")
    r = client.get(path)
    assert r.status_code == 200
    assert r.mimetype == "image/svg+xml"
    assert b"<rect" in r.data
    assert client.get("/avatar/../../etc.svg").status_code == 404


def test_post_answer_says_until_when_the_author_may_edit(client, clock):
    data = post(client, clock).get_json()
    assert data["edit_until"] == "2026-01-15T12:16:00Z"  # created 12:01 + 15 minutes


def test_post_from_foreign_origin_is_403_before_any_field_check(client):
    r = client.post(
        "/api/v1/comments",
        json={"site": "blog", "text": ""},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


def test_embed_js_is_served_gzipped_when_accepted(client):
    import gzip

    plain = client.get("/embed.js", headers={"Accept-Encoding": "identity"})
    packed = client.get("/embed.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < 16384
    assert "Accept-Encoding" in packed.headers["Vary"]
    again = client.get(
        "/embed.js", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
    )
    assert again.status_code == 304
