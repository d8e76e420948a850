"""Atom feeds parse cleanly in a real feed parser, with threading and conditional GET."""

import feedparser

from tests.conftest import SITE_URL


def post(client, clock, **kw):
    clock.advance(60)
    data = {
        "site": "blog",
        "uri": "/post/",
        "text": "Hello *feed*",
        "author": "Ann",
        "email": "ann@example.org",
        "title": "A post",
    }
    data.update(kw)
    return client.post("/api/v1/comments", json=data, headers={"Origin": SITE_URL}).get_json()


def parse(response):
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_thread_feed_is_valid_atom_with_replies_threaded(client, clock):
    first = post(client, clock)["comment"]
    reply = post(
        client,
        clock,
        text="A reply <script>x</script>",
        parent=first["id"],
        author="Bob",
        email="bob@example.org",
        website="https://bob.example",
    )["comment"]
    post(client, clock, uri="/other/", text="elsewhere")
    r = client.get("/feeds/blog/thread.atom?uri=/post/")
    assert r.status_code == 200
    assert r.mimetype == "application/atom+xml"
    feed = parse(r)
    assert feed.version == "atom10"
    assert feed.feed.title == "Comments on A post"
    assert [e.link for e in feed.entries] == [
        f"{SITE_URL}/post/#comment-{reply['id']}",
        f"{SITE_URL}/post/#comment-{first['id']}",
    ]
    newest = feed.entries[0]
    assert newest.author_detail.name == "Bob"
    assert newest.author_detail.href == "https://bob.example"
    assert "<script" not in newest.content[0].value
    assert f"comment-{first['id']}" in r.get_data(as_text=True).split("in-reply-to")[1]


def test_site_feed_lists_every_thread_newest_first(client, clock):
    post(client, clock, uri="/a/")
    post(client, clock, uri="/b/", text="second")
    feed = parse(client.get("/feeds/blog/comments.atom"))
    assert [e.link.split("#")[0] for e in feed.entries] == [f"{SITE_URL}/b/", f"{SITE_URL}/a/"]


def test_feed_leaves_out_pending_and_spam(app, client, clock, tmp_path):
    from tests.conftest import make_settings, reconfigure

    reconfigure(app, settings=make_settings(tmp_path, **{"sites.blog.moderation": "all"}))
    post(client, clock)
    assert parse(client.get("/feeds/blog/comments.atom")).entries == []


def test_feed_conditional_get(client, clock):
    post(client, clock)
    first = client.get("/feeds/blog/thread.atom?uri=/post/")
    assert first.headers["Last-Modified"]
    again = client.get(
        "/feeds/blog/thread.atom?uri=/post/", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    post(client, clock, text="news")
    assert (
        client.get(
            "/feeds/blog/thread.atom?uri=/post/", headers={"If-None-Match": first.headers["ETag"]}
        ).status_code
        == 200
    )


def test_feed_unknown_site_is_404_and_bad_uri_400(client):
    assert client.get("/feeds/nope/comments.atom").status_code == 404
    assert client.get("/feeds/blog/thread.atom?uri=relative").status_code == 400
    empty = parse(client.get("/feeds/blog/thread.atom?uri=/never/"))
    assert empty.entries == []
