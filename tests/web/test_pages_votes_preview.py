"""The widget API's pages, votes, page likes and preview (SQLite and PostgreSQL): pages without
overlap or gap, each order, a forged cursor is 400, ETag and 304 per page, the fast path serves
pages; votes from one and many readers, the per-IP bound, counts in the thread JSON at once; the
preview is the HTML that posting stores; errors a page can read."""

from __future__ import annotations

import pytest

from tests.conftest import SITE_URL

THREAD = "/api/v1/threads/comments?site=blog&uri=/post/"
ORIGIN = {"Origin": SITE_URL}


def post(client, clock, text, **kw):
    clock.advance(60)
    body = {"site": "blog", "uri": "/post/", "text": text, "author": "Ann", **kw}
    answer = client.post("/api/v1/comments", json=body, headers=ORIGIN)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["comment"]["id"]


def page(client, query=""):
    answer = client.get(THREAD + query, headers=ORIGIN)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def every_page(client, sort, limit):
    seen, after = [], None
    while True:
        data = page(client, f"&sort={sort}&limit={limit}" + (f"&after={after}" if after else ""))
        seen += [c["id"] for c in data["comments"]]
        after = data["next"]
        if not after:
            return seen


@pytest.fixture
def ten(client, clock):
    ids = [post(client, clock, f"comment number {n}") for n in range(10)]
    post(client, clock, "a reply", parent=ids[0])
    return ids


def test_pages_cover_the_thread_once_in_each_order(client, ten):
    assert every_page(client, "oldest", 3) == ten
    assert every_page(client, "newest", 4) == ten[::-1]
    first = page(client, "&limit=3")
    assert first["thread"]["count"] == 11
    assert len(first["comments"]) == 3
    assert first["comments"][0]["replies"][0]["html"] == "<p>a reply</p>"


def test_a_post_between_pages_neither_repeats_nor_skips(client, clock, ten):
    first = page(client, "&limit=4")
    late = post(client, clock, "posted while the reader was on page one")
    rest, after = [], first["next"]
    while after:
        data = page(client, f"&limit=4&after={after}")
        rest += [c["id"] for c in data["comments"]]
        after = data["next"]
    assert [c["id"] for c in first["comments"]] + rest == [*ten, late]


@pytest.mark.parametrize(
    "query",
    ["&after=forged", "&sort=sideways", "&limit=0", "&limit=201", "&limit=x", "&around=-1"],
)
def test_bad_page_parameters_are_400(client, ten, query):
    answer = client.get(THREAD + query, headers=ORIGIN)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"]


def test_a_cursor_of_another_order_is_400(client, ten):
    cursor = page(client, "&limit=2")["next"]
    answer = client.get(THREAD + f"&sort=newest&limit=2&after={cursor}", headers=ORIGIN)
    assert answer.status_code == 400


def test_each_page_has_its_etag_and_304(client, ten):
    one = client.get(THREAD + "&limit=2", headers=ORIGIN)
    two = client.get(THREAD + f"&limit=2&after={one.get_json()['next']}", headers=ORIGIN)
    assert one.headers["ETag"] != two.headers["ETag"]
    again = client.get(
        THREAD + "&limit=2", headers={**ORIGIN, "If-None-Match": one.headers["ETag"]}
    )
    assert again.status_code == 304


def test_the_fast_path_serves_pages_it_has_seen(app, client, ten):
    query = THREAD + "&sort=newest&limit=2"
    warm = client.get(query, headers=ORIGIN)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the Flask view ran")

    app.view_functions["widget.thread"] = must_not_run
    fast = client.get(query, headers=ORIGIN)
    assert fast.data == warm.data
    assert fast.headers["ETag"] == warm.headers["ETag"]


def test_around_returns_the_pages_up_to_a_linked_comment(client, ten):
    data = page(client, f"&limit=3&around={ten[7]}")
    assert [c["id"] for c in data["comments"]] == ten[:9]


def vote(client, comment_id, reader, value, ip=None):
    headers = {**ORIGIN, "X-Reader": reader}
    environ = {"REMOTE_ADDR": ip} if ip else {}
    return client.post(
        f"/api/v1/comments/{comment_id}/vote",
        json={"value": value},
        headers=headers,
        environ_base=environ,
    )


@pytest.mark.parametrize(
    "settings",
    [{"guard.votes_per_ip_per_day": 3, "guard.rate_limit": "100 per minute"}],
    indirect=True,
)
def test_votes_from_readers_show_in_the_thread_and_are_bounded_per_ip(client, clock, ten):
    target = ten[2]
    assert vote(client, target, "reader-one", 1).get_json() == {"likes": 1, "mine": 1}
    assert vote(client, target, "reader-one", 1).get_json() == {"likes": 1, "mine": 1}
    for n in range(2):
        assert vote(client, target, f"reader-{n}-xyz", 1).status_code == 200
    stuffed = vote(client, target, "reader-many", 1)
    assert stuffed.status_code == 429
    assert vote(client, target, "reader-else", 1, ip="198.51.100.9").status_code == 200
    comment = next(c for c in page(client)["comments"] if c["id"] == target)
    assert comment["likes"] == 4
    top = page(client, "&sort=top&limit=1")
    assert top["comments"][0]["id"] == target
    assert vote(client, target, "reader-one", -1).status_code == 400  # votes = "up"
    assert vote(client, target, "bad", 1).status_code == 400
    assert vote(client, 999999, "reader-one", 1).status_code == 404


@pytest.mark.parametrize("settings", [{"sites.blog.page_likes": True}], indirect=True)
def test_page_likes(client, ten):
    def like(reader, liked=True):
        answer = client.post(
            "/api/v1/likes",
            json={"site": "blog", "uri": "/post/", "like": liked},
            headers={**ORIGIN, "X-Reader": reader},
        )
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    assert like("reader-aaaa") == {"likes": 1, "mine": True}
    assert like("reader-bbbb") == {"likes": 2, "mine": True}
    assert page(client)["thread"]["likes"] == 2
    assert like("reader-aaaa", False) == {"likes": 1, "mine": False}


def test_preview_is_the_html_that_posting_stores(client, clock):
    text = "Some *Markdown* with <script>alert(1)</script> and https://example.org/x"
    preview = client.post("/api/v1/preview", json={"text": text}, headers=ORIGIN)
    assert preview.status_code == 200
    posted = post(client, clock, text)
    stored = next(c for c in page(client)["comments"] if c["id"] == posted)
    assert preview.get_json()["html"] == stored["html"]
    assert client.post("/api/v1/preview", json={}, headers=ORIGIN).status_code == 400
    foreign = client.post(
        "/api/v1/preview", json={"text": "x"}, headers={"Origin": "https://x.example"}
    )
    assert foreign.status_code == 403


def test_set_up_errors_are_readable_by_the_page(client):
    unknown = client.get(
        "/api/v1/threads/comments?site=blgo&uri=/post/", headers={"Origin": "http://localhost:4000"}
    )
    assert unknown.status_code == 400
    assert unknown.headers["Access-Control-Allow-Origin"] == "http://localhost:4000"
    assert unknown.get_json()["error"]["fields"] == {"site": "no such site"}
    refused = client.get(THREAD, headers={"Origin": "http://localhost:4000"})
    assert refused.status_code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:4000"
    error = refused.get_json()["error"]
    assert "origin http://localhost:4000 may not use site 'blog'" in error["message"]
    assert error["fields"] == {"origin": "http://localhost:4000"}


def test_pages_served_by_the_service_itself_may_call_it_from_any_address(client):
    """The demo page opened at another port than the config's public_url still works."""
    answer = client.get(
        THREAD, headers={"Origin": "http://127.0.0.1:18210", "Host": "127.0.0.1:18210"}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize("settings", [{"server.access_log": True}], indirect=True)
def test_the_access_log_names_why_a_request_was_refused(client, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="moderation.access")
    client.get(THREAD, headers={"Origin": "http://localhost:4000"})
    (line,) = [r for r in caplog.records if r.name == "moderation.access"]
    assert (
        "403 forbidden: origin http://localhost:4000 may not use site 'blog'" in line.getMessage()
    )
    assert line.fields["origin"] == "http://localhost:4000"


@pytest.mark.parametrize("settings", [{"server.demo_site": "blog"}], indirect=True)
def test_the_demo_page_loads_the_widget_from_the_address_it_was_opened_at(client):
    page = client.get("/demo/", headers={"Host": "127.0.0.1:18210"}).get_data(as_text=True)
    assert 'src="http://127.0.0.1:18210/embed.js"' in page
