"""The three linkback endpoints over HTTP, the status resource, the discovery API, the thread JSON's
``trackback_url`` and the ``moderation linkbacks`` commands (PROTOCOLS.md §1–3, §7).

Two layers: Flask's test client (every protocol answer and error body, on SQLite and PostgreSQL),
and a live server on 127.0.0.1 over a SQLite file, driven by real clients: the standard library's
``xmlrpc.client`` for pingbacks, ronkyuu for webmentions, plain form posts for trackbacks, and our
own sender. Sources are `FakeSite` pages named ``public.test`` (a fake DNS; `guard_network` keeps
every connection on loopback); ``[fetch] allow_private`` stays false for the receiving side.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import ronkyuu
from click.testing import CliRunner
from sqlalchemy import select

from moderation.app import create_app
from moderation.cli import main
from moderation.config import FetchSettings
from moderation.db import Database
from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.domain.states import CommentKind, CommentStatus
from moderation.fetch import Fetcher
from moderation.models import Comment
from moderation.services import Context
from moderation.services.tokens import Tokens
from tests.conftest import make_settings
from tests.factories import make_thread
from tests.fakes.app_server import AppServer
from tests.fakes.web_site import FakeSite, Handler, default_dns, guard_network, send

TARGET = "https://blog.example.org/post/"
TB_URL = "/trackback/blog/post/"
FORM = "application/x-www-form-urlencoded"
OK_BODY = b'<?xml version="1.0" encoding="utf-8"?>\n<response>\n<error>0</error>\n</response>\n'


@pytest.fixture(autouse=True)
def network(monkeypatch):
    # requests (ronkyuu) and urllib (xmlrpc.client) would send loopback traffic to a proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return guard_network(monkeypatch)


def receiving_fetcher() -> Fetcher:
    """The receiving side's fetcher: private addresses refused; public.test is the FakeSite."""
    settings = FetchSettings(allow_private=False, timeout=2.0)
    return Fetcher(settings, resolver=default_dns(), per_host_per_minute=1000)


@pytest.fixture(autouse=True)
def fetcher(ctx) -> None:
    ctx.extras["fetcher"] = receiving_fetcher()


@pytest.fixture
def source_site() -> Iterator[FakeSite]:
    with FakeSite() as site:
        yield site


def linking(target: str = TARGET, title: str = "A reply") -> bytes:
    return (f"<!doctype html><title>{title}</title><p>Before. <a href='{target}'>The post</a> "
            "said it well. After.</p>").encode()  # fmt: skip


def source(site: FakeSite, path: str = "/reply", body: bytes | None = None, **kw: Any) -> str:
    page = linking() if body is None else body
    site.routes[path] = lambda h: send(h, kw.get("status", 200), page)
    return site.url(path)


def comments(session) -> list[Comment]:
    session.expire_all()
    return list(session.scalars(select(Comment).order_by(Comment.id)))


@pytest.fixture
def make_client(tmp_path, database, ctx):
    """A client for an app with other settings (rate limits, closed threads ...)."""

    def make(**overrides: Any) -> Any:
        settings = make_settings(tmp_path / f"app{len(overrides)}", **overrides)
        context = Context(settings=settings, tokens=Tokens.from_settings(settings), clock=ctx.clock)
        context.extras["fetcher"] = receiving_fetcher()
        app = create_app(settings, database=database, context=context)
        app.config["TESTING"] = True
        return app.test_client()

    return make


# --- TrackBack -------------------------------------------------------------------------------------


def test_tb_1_ping_answered_with_the_exact_success_body_and_verified(client, session, source_site):
    url = source(source_site)
    answer = client.post(TB_URL, data={"url": url, "title": "Re", "excerpt": "Good.",
                                       "blog_name": "Pinger"})  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert answer.data == OK_BODY
    (comment,) = comments(session)
    assert (comment.kind, comment.source, comment.author) == (CommentKind.trackback, url, "Pinger")
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)  # job ran inline


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_tb_13_other_methods_get_405_and_never_create_a_ping(client, session, method):
    answer = client.open(f"{TB_URL}?url=http://public.test/x&title=t", method=method)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert lb.parse_trackback_response(answer.data) == (
        False,
        "Trackback pings must use HTTP POST.",
    )
    assert comments(session) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "url is required"),
        ({"title": "only a title"}, "url is required"),
        ({"url": "javascript:alert(1)"}, "url must be an absolute http(s) URL"),
        ({"url": "ftp://public.test/x"}, "url must be an absolute http(s) URL"),
    ],
)
def test_tb_4_tb_5_missing_or_bad_url_is_error(client, session, data, message):
    answer = client.post(TB_URL, data=data)
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data) == (False, message)
    assert comments(session) == []


def test_tb_8_closed_thread_answers_the_wordpress_message(client, session):
    make_thread(session, uri="/post/", closed=True)
    answer = client.post(TB_URL, data={"url": "http://public.test/x"})
    assert lb.parse_trackback_response(answer.data) == (False, lb.TRACKBACK_CLOSED)
    assert answer.data.decode() == lb.trackback_response(
        "Sorry, trackbacks are closed for this item.")  # fmt: skip


def test_tb_8_unknown_site_is_an_error_response(client):
    answer = client.post("/trackback/nope/post/", data={"url": "http://public.test/x"})
    assert lb.parse_trackback_response(answer.data) == (False, "no such site")


def test_tb_9_duplicate_ping_is_an_error_response(client, session, source_site):
    url = source(source_site)
    assert client.post(TB_URL, data={"url": url}).data == OK_BODY
    again = client.post(TB_URL, data={"url": url, "title": "again"})
    assert lb.parse_trackback_response(again.data) == (False, lb.TRACKBACK_DUPLICATE)
    assert len(comments(session)) == 1


def test_tb_14_charset_from_the_header_and_from_a_form_field(client, session, clock):
    title = urllib.parse.quote("Iñtërnâtiônàlizætiøn", encoding="latin-1")
    body = f"url=http://public.test/a&title={title}".encode()
    answer = client.post(TB_URL, data=body, content_type=f"{FORM}; charset=ISO-8859-1")
    assert answer.data == OK_BODY
    clock.advance(60)  # past the flood gap
    blog = urllib.parse.quote("日本語のブログ", encoding="shift_jis")
    body = f"url=http://public.test/b&charset=Shift_JIS&blog_name={blog}".encode()
    assert client.post(TB_URL, data=body, content_type=FORM).data == OK_BODY
    first, second = comments(session)
    assert first.text.startswith("Iñtërnâtiônàlizætiøn")
    assert second.author == "日本語のブログ"


def test_tb_14_utf7_refused(client, session):
    body = b"url=http://public.test/a&title=%2BADw-script%2BAD4-"
    answer = client.post(TB_URL, data=body, content_type=f"{FORM}; charset=utf-7")
    assert lb.parse_trackback_response(answer.data) == (False, "the UTF-7 charset is refused")
    assert comments(session) == []


def test_tb_2_multipart_form_accepted_other_types_refused(client, session):
    answer = client.post(
        TB_URL, data={"url": "http://public.test/a"}, content_type="multipart/form-data"
    )
    assert answer.data == OK_BODY
    answer = client.post(TB_URL, json={"url": "http://public.test/b"})
    assert "x-www-form-urlencoded" in lb.parse_trackback_response(answer.data)[1]


@pytest.mark.parametrize(
    "body", [b"\x00\xff\xfe%%%%=&&==&url", b"url=%ZZ%&title=%", b"=" * 5000, b"url&url&&"]
)
def test_tb_garbage_bodies_get_the_protocols_error_never_a_500(client, body):
    answer = client.post(TB_URL, data=body, content_type=FORM)
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data)[0] is False


def test_tb_oversized_body_gets_an_error_response(client):
    answer = client.post(TB_URL, data=b"url=" + b"x" * 600_000, content_type=FORM)
    assert answer.status_code == 413
    assert lb.parse_trackback_response(answer.data)[0] is False


def test_tb_d5_rate_limited_per_ip(make_client):
    client = make_client(**{"guard.rate_limit": "2 per minute", "guard.flood_seconds": 0})
    for n in range(2):
        assert client.post(TB_URL, data={"url": f"http://public.test/{n}"}).data == OK_BODY
    answer = client.post(TB_URL, data={"url": "http://public.test/9"})
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert lb.parse_trackback_response(answer.data) == (False, lb.TRACKBACK_TOO_FAST)
    other = client.post(TB_URL, data={"url": "http://public.test/8"},
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})  # fmt: skip
    assert other.data == OK_BODY


def test_tb_d5_a_second_ping_inside_the_flood_gap_is_refused_as_too_fast(client, session, clock):
    assert client.post(TB_URL, data={"url": "http://public.test/a"}).data == OK_BODY
    answer = client.post(TB_URL, data={"url": "http://public.test/b"})
    assert lb.parse_trackback_response(answer.data) == (False, lb.TRACKBACK_TOO_FAST)
    clock.advance(16)
    assert client.post(TB_URL, data={"url": "http://public.test/b"}).data == OK_BODY
    assert len(comments(session)) == 2


def test_tb_d8_a_signing_site_advertises_keyed_urls_and_takes_only_them(
    make_client, session, source_site
):
    client = make_client(**{"sites.blog.signed_trackback_urls": True})
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/post/").json["thread"]
    advertised = thread["trackback_url"]
    base, _, key = advertised.partition("?key=")
    assert base == "https://comments.example.org/trackback/blog/post/"
    assert len(key) >= 27  # an HMAC: nothing to enumerate
    found = client.get("/api/v1/discovery?site=blog&uri=/post/").json
    assert found["trackback_url"] == advertised
    assert pages.find_trackback_ping(found["trackback_rdf"], TARGET) == advertised

    path = urllib.parse.urlsplit(advertised)
    answer = client.post(f"{path.path}?{path.query}", data={"url": source(source_site)})
    assert answer.data == OK_BODY
    assert [c.kind for c in comments(session)] == [CommentKind.trackback]


@pytest.mark.parametrize("query", ["", "?key=", "?key=made-up", "?key=OTHER", "?k=OWN"])
def test_tb_d8_a_ping_without_its_pages_key_is_refused(make_client, session, query):
    client = make_client(**{"sites.blog.signed_trackback_urls": True})
    tokens = Tokens.from_settings(make_settings(Path("unused")))
    query = query.replace("OTHER", tokens.page_key("blog", "/other/"))
    query = query.replace("OWN", tokens.page_key("blog", "/post/"))
    answer = client.post(TB_URL + query, data={"url": "http://public.test/a"})
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data) == (
        False, "not a TrackBack URL of this site: ping the one the page gives")  # fmt: skip
    assert comments(session) == []


def test_tb_d8_a_site_that_does_not_sign_advertises_and_takes_plain_urls(client, session):
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/post/").json["thread"]
    assert "?" not in thread["trackback_url"]
    answer = client.post(TB_URL + "?key=whatever", data={"url": "http://public.test/a"})
    assert answer.data == OK_BODY


def test_tb_trackback_for_the_root_page(client, session):
    assert client.post("/trackback/blog/", data={"url": "http://public.test/a"}).data == OK_BODY
    assert comments(session)[0].thread.uri == "/"


# --- Pingback (through the test client; the live server below uses xmlrpc.client) -----------------------


def fault_of(answer) -> tuple[int, str]:
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(answer.data)
    return fault.value.faultCode, fault.value.faultString


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                  + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10)
                             for i in range(9))
                  + b"]><methodCall><methodName>&j;</methodName></methodCall>")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (BILLION_LAUGHS, lb.PARSE_ERROR),
        (b"", lb.PARSE_ERROR),
        (b"\xff\xfe\x00garbage", lb.PARSE_ERROR),
        (b"<methodCall><methodName>evil.exec</methodName></methodCall>", lb.METHOD_NOT_FOUND),
        (xmlrpc.client.dumps(("only one",), "pingback.ping").encode(), lb.INVALID_PARAMS),
        (xmlrpc.client.dumps(("ftp://x/", TARGET), "pingback.ping").encode(), 16),
        (xmlrpc.client.dumps(("http://public.test/a", "mailto:a@b"), "pingback.ping").encode(), 32),
        (xmlrpc.client.dumps(("http://public.test/a", "https://else.example/"), "pingback.ping")
         .encode(), 33),
        (xmlrpc.client.dumps((TARGET, TARGET), "pingback.ping").encode(), 0),
    ],
)  # fmt: skip
def test_pb_garbage_and_bad_calls_get_faults_never_a_500(client, session, body, code):
    start = time.monotonic()
    assert fault_of(client.post("/pingback", data=body, content_type="text/xml"))[0] == code
    assert time.monotonic() - start < 2
    assert comments(session) == []


def test_pb_get_is_405(client):
    answer = client.get("/pingback")
    assert (answer.status_code, answer.headers["Allow"]) == (405, "POST")


def test_pb_7_closed_target_is_fault_33(client, session):
    make_thread(session, uri="/post/", closed=True)
    body = xmlrpc.client.dumps(("http://public.test/a", TARGET), "pingback.ping")
    assert fault_of(client.post("/pingback", data=body, content_type="text/xml"))[0] == 33


def test_pb_rate_limit_is_fault_49(make_client):
    client = make_client(**{"guard.rate_limit": "1 per minute"})
    call = lambda n: client.post("/pingback", content_type="text/xml", data=xmlrpc.client.dumps(  # noqa: E731
        (f"http://public.test/{n}", TARGET), "pingback.ping"))  # fmt: skip
    assert xmlrpc.client.loads(call(1).data)[0][0].startswith("Pingback from")
    assert fault_of(call(2))[0] == lb.FAULT_ACCESS_DENIED


def test_pb_oversized_body_is_a_fault(client):
    answer = client.post("/pingback", data=b"<a>" * 200_000, content_type="text/xml")
    assert fault_of(answer)[0] == lb.FAULT_GENERIC


# --- Webmention ------------------------------------------------------------------------------------


def test_wm_7_accepted_with_a_location_to_its_status(client, session, source_site):
    url = source(source_site)
    answer = client.post("/webmention", data={"source": url, "target": TARGET})
    assert answer.status_code == 202
    location = answer.headers["Location"]
    assert location.startswith("https://comments.example.org/webmention/status/")
    assert location in answer.text
    status = client.get(urllib.parse.urlsplit(location).path)
    assert status.status_code == 200
    assert status.json == {"status": "verified", "published": True, "source": url,
                           "target": TARGET, "reason": None}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target": TARGET}, "source is required"),
        ({"source": "http://public.test/a"}, "target is required"),
        ({"source": "javascript:alert(1)", "target": TARGET}, "source must be an absolute http(s) URL"),
        ({"source": "http://public.test/a", "target": "file:///etc/passwd"},
         "target must be an absolute http(s) URL"),
        ({"source": TARGET + "#c", "target": TARGET}, "source and target are the same page"),
        ({"source": "http://public.test/a", "target": "https://elsewhere.example/post/"},
         "the target is not a page of a site served here"),
    ],
)  # fmt: skip
def test_wm_4_5_6_bad_equal_or_foreign_urls_are_400(client, session, data, message):
    answer = client.post("/webmention", data=data)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text == message + "\n"
    assert comments(session) == []


@pytest.mark.parametrize(
    "body",
    [b"source=http%3A%2F%2F%FF%FE%2F&target=" + urllib.parse.quote(TARGET, safe="").encode(),
     b"\x00\xff&&==%%", b"source=" + b"a" * 600 + b"&target=x", b"source&target"],
)  # fmt: skip
def test_wm_garbage_bodies_get_400_never_a_500(client, body):
    answer = client.post("/webmention", data=body, content_type=FORM)
    assert answer.status_code in (202, 400)
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_wm_3_json_body_refused(client):
    answer = client.post("/webmention", json={"source": "http://public.test/a", "target": TARGET})
    assert answer.status_code == 400


def test_wm_closed_thread_is_400(client, session):
    make_thread(session, uri="/post/", closed=True)
    answer = client.post("/webmention", data={"source": "http://public.test/a", "target": TARGET})
    assert (answer.status_code, answer.text) == (400, "comments are closed for this page\n")


def test_wm_10_rate_limited_is_429_with_retry_after(make_client):
    client = make_client(**{"guard.rate_limit": "1 per minute"})
    data = {"source": "http://public.test/a", "target": TARGET}
    assert client.post("/webmention", data=data).status_code == 202
    answer = client.post("/webmention", data=data)
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1


def test_wm_get_is_405_and_unknown_status_is_404(client):
    assert client.get("/webmention").status_code == 405
    answer = client.get("/webmention/status/forged.token")
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "not_found"


def test_wm_15_16_resent_after_the_source_removed_the_link_is_removed(client, session, source_site):
    url = source(source_site)
    data = {"source": url, "target": TARGET}
    location = client.post("/webmention", data=data).headers["Location"]
    source(source_site, body=b"<p>The link is gone now.</p>")
    assert client.post("/webmention", data=data).headers["Location"] == location
    status = client.get(urllib.parse.urlsplit(location).path).json
    assert status["status"] == "deleted"
    assert status["reason"].startswith("source no longer links to the target")
    assert [c.status for c in comments(session)] == [CommentStatus.deleted]


# --- what pages show and carry -------------------------------------------------------------------------


def test_thread_json_carries_the_trackback_url_and_shows_linkbacks(client, session, source_site):
    client.post("/webmention", data={"source": source(source_site), "target": TARGET})
    data = client.get("/api/v1/threads/comments?site=blog&uri=/post/").json
    assert data["thread"]["trackback_url"] == "https://comments.example.org/trackback/blog/post/"
    (shown,) = data["comments"]
    assert (shown["kind"], shown["author"], shown["website"]) == (
        "webmention", "A reply", source_site.url("/reply"))  # fmt: skip
    assert shown["html"] == "<p>Before. The post said it well. After.</p>"


def test_thread_json_of_an_unknown_page_still_has_its_trackback_url(client):
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/new/").json["thread"]
    assert thread["trackback_url"] == "https://comments.example.org/trackback/blog/new/"


def test_tb_15_discovery_api(client, session):
    make_thread(session, uri="/post/", title="Post")
    answer = client.get("/api/v1/discovery?site=blog&uri=/post/")
    assert answer.status_code == 200
    found = answer.json
    assert found["trackback_url"] == "https://comments.example.org/trackback/blog/post/"
    assert found["link_header"] == '<https://comments.example.org/webmention>; rel="webmention"'
    assert found["x_pingback"] == "https://comments.example.org/pingback"
    assert '<link rel="pingback" href="https://comments.example.org/pingback">' in found["html"]
    assert pages.find_trackback_ping(found["trackback_rdf"], TARGET) == found["trackback_url"]
    assert 'dc:title="Post"' in found["trackback_rdf"]


@pytest.mark.parametrize("query", ["", "?site=nope&uri=/p/", "?site=blog&uri=nope"])
def test_tb_15_discovery_api_bad_query_is_400(client, query):
    answer = client.get("/api/v1/discovery" + query)
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "invalid"


# --- a live server and real clients ---------------------------------------------------------------------


@dataclass
class Live:
    url: str
    blog: FakeSite
    database: Database
    app: Any

    def page(self, path: str) -> str:
        return self.blog.url(path, "127.0.0.1")

    def comment(self, source: str) -> Comment | None:
        with self.database.unit_of_work(write=False) as session:
            return session.scalars(select(Comment).where(Comment.source == source)).first()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    """The app over a migrated SQLite file on 127.0.0.1, and the blog it serves: a FakeSite whose
    pages carry the discovery markup of /api/v1/discovery, as a host site would."""
    tmp = tmp_path_factory.mktemp("live-linkbacks")
    server = AppServer(tmp)
    base = server.url
    blog = FakeSite()
    blog_url = blog.url("", "127.0.0.1")
    settings = make_settings(tmp, **{
        "server.public_url": base, "database.url": server.db_url,
        "sites": {"blog": {"url": blog_url, "origins": [blog_url], "moderation": "none"}},
        "guard.flood_seconds": 0, "guard.rate_limit": "1000 per minute"})  # fmt: skip
    context = Context(settings=settings, tokens=Tokens.from_settings(settings))
    context.extras["fetcher"] = receiving_fetcher()
    app = create_app(settings, database=server.database, context=context)
    server.serve(app)

    def blog_page(h: Handler) -> None:
        uri = urllib.parse.urlsplit(h.path).path
        with app.test_client() as c:
            found = c.get(f"/api/v1/discovery?site=blog&uri={uri}").json
        body = f"<html><head>{found['html']}</head><body>{found['trackback_rdf']}</body></html>"
        send(h, body=body.encode(), Link=found["link_header"], X_Pingback=found["x_pingback"])

    for path in ("/post-a/", "/post-b/", "/post-c/", "/post-d/", "/post-e/"):
        blog.routes[path] = blog_page
    try:
        yield Live(base, blog, server.database, app)
    finally:
        server.close()  # disposes of its database's engine too
        blog.close()


def test_pb_live_xmlrpc_client_gets_success_then_fault_48(live, source_site):
    target = live.page("/post-a/")
    url = source(source_site, "/pb", linking(target))
    proxy = xmlrpc.client.ServerProxy(f"{live.url}/pingback")
    assert "received" in proxy.pingback.ping(url, target)
    with pytest.raises(xmlrpc.client.Fault) as again:
        proxy.pingback.ping(url, target)
    assert again.value.faultCode == 48
    comment = live.comment(url)
    assert (comment.kind, comment.verified, comment.status) == (
        CommentKind.pingback, True, CommentStatus.approved)  # fmt: skip


@pytest.mark.parametrize(
    ("source_url", "target", "code"),
    [
        ("gopher://public.test/x", "{page}", 16),
        ("http://public.test/x", "not a url", 32),
        ("http://public.test/x", "https://elsewhere.example/post/", 33),
        ("{page}", "{page}", 0),
    ],
)
def test_pb_live_faults(live, source_url, target, code):
    page = live.page("/post-b/")
    proxy = xmlrpc.client.ServerProxy(f"{live.url}/pingback")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.pingback.ping(source_url.format(page=page), target.format(page=page))
    assert fault.value.faultCode == code


def test_pb_live_private_source_is_verified_false_with_the_reason(live, network):
    target = live.page("/post-b/")
    proxy = xmlrpc.client.ServerProxy(f"{live.url}/pingback")
    proxy.pingback.ping("http://169.254.169.254/latest/meta-data/", target)
    comment = live.comment("http://169.254.169.254/latest/meta-data/")
    assert (comment.verified, comment.status) == (False, CommentStatus.spam)
    assert all(host == "127.0.0.1" for host, _ in network.connects)


def test_wm_live_ronkyuu_discovers_our_endpoint_and_sends(live, source_site):
    target = live.page("/post-c/")
    status, endpoint = ronkyuu.discoverEndpoint(target, timeout=5)
    assert (status, endpoint) == (200, f"{live.url}/webmention")
    url = source(source_site, "/wm", linking(target))
    answer = ronkyuu.sendWebmention(url, target, timeout=5)
    assert answer.status_code == 202
    with urllib.request.urlopen(answer.headers["Location"], timeout=5) as status_page:
        assert json.load(status_page)["status"] == "verified"
    same = ronkyuu.sendWebmention(target, target, timeout=5)
    assert (same.status_code, same.text) == (400, "source and target are the same page\n")


def test_tb_live_plain_form_post_to_the_advertised_ping_url(live, source_site):
    target = live.page("/post-d/")
    with urllib.request.urlopen(target, timeout=5) as page:
        ping_url = pages.find_trackback_ping(page.read().decode(), target)
    assert ping_url == f"{live.url}/trackback/blog/post-d/"
    url = source(source_site, "/tb", linking(target))
    form = urllib.parse.urlencode({"url": url, "title": "Re: D", "excerpt": "Yes.",
                                   "blog_name": "B"}).encode()  # fmt: skip
    request = urllib.request.Request(ping_url, data=form, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.read() == OK_BODY
    assert live.comment(url).status is CommentStatus.approved


def test_send_live_our_sender_against_our_receiver(live, source_site):
    from moderation.services.sending import Poster, send_linkbacks

    target = live.page("/post-e/")
    post = source(source_site, "/my-post", linking(target, "My post"))
    private_ok = FetchSettings(allow_private=True, timeout=5.0)  # the blog lives on 127.0.0.1
    fetcher = Fetcher(private_ok, resolver=default_dns())
    (sent,) = send_linkbacks(fetcher, Poster(private_ok, resolver=default_dns()), post)
    assert (sent.target, sent.protocol, sent.ok) == (target, "webmention", True)
    assert live.comment(post).status is CommentStatus.approved


# --- the command line ------------------------------------------------------------------------------------


def write_config(tmp_path: Path, **fetch: Any) -> Path:
    path = tmp_path / "config.toml"
    lines = [
        "[server]", 'secret_key = "a-secret-key-of-enough-length"',
        'public_url = "https://comments.example.org"', f'data_dir = "{tmp_path / "var"}"',
        "[sites.blog]", 'url = "https://blog.example.org"', 'origins = ["https://blog.example.org"]',
        "[fetch]", *(f"{k} = {json.dumps(v)}" for k, v in fetch.items()),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_linkbacks_discovery_prints_the_same_as_the_api(tmp_path, client):
    config = write_config(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["--config", str(config), "linkbacks", "discovery", "blog", "/post/",
                               "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == client.get("/api/v1/discovery?site=blog&uri=/post/").json
    text = runner.invoke(
        main, ["--config", str(config), "linkbacks", "discovery", "blog", "/post/"]
    )
    assert '<link rel="webmention" href="https://comments.example.org/webmention">' in text.output
    assert 'Link: <https://comments.example.org/webmention>; rel="webmention"' in text.output
    assert "X-Pingback: https://comments.example.org/pingback" in text.output
    assert 'trackback:ping="https://comments.example.org/trackback/blog/post/"' in text.output
    bad = runner.invoke(main, ["--config", str(config), "linkbacks", "discovery", "nope", "/p/"])
    assert bad.exit_code == 1
    assert "no site 'nope'" in bad.output


def test_tb_d8_the_cli_prints_the_signed_url_of_a_signing_site(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        'origins = ["https://blog.example.org"]',
        'origins = ["https://blog.example.org"]\nsigned_trackback_urls = true'))  # fmt: skip
    out = CliRunner().invoke(main, ["--config", str(config), "linkbacks", "discovery", "blog",
                                    "/post/", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    url = json.loads(out.output)["trackback_url"]
    base, _, key = url.partition("?key=")
    assert base == "https://comments.example.org/trackback/blog/post/"
    assert Tokens(("a-secret-key-of-enough-length",), {}).check_page_key("blog", "/post/", key)


class Receiver(Handler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.site.posts.append((self.path, body))
        if self.path == "/xmlrpc":
            send(self, body=lb.xmlrpc_success("ok").encode(), ctype="text/xml")
        elif self.path == "/tb-ping":
            send(self, body=lb.trackback_response().encode(), ctype="text/xml")
        else:
            send(self, 202, b"", "text/plain")


def test_cli_linkbacks_send_prints_one_line_per_target(tmp_path):
    with FakeSite() as site:
        site.server.RequestHandlerClass = Receiver
        site.posts = []
        at = lambda path: site.url(path, "127.0.0.1")  # noqa: E731
        rdf = (f'<!-- <rdf:RDF><rdf:Description dc:identifier="{at("/tb")}" '
               f'trackback:ping="{at("/tb-ping")}" /></rdf:RDF> -->')  # fmt: skip
        pages = {
            "/wm": f'<link rel="webmention" href="{at("/wm-endpoint")}">',
            "/pb": f'<link rel="pingback" href="{at("/xmlrpc")}">',
            "/tb": rdf,
            "/none": "<p>nothing</p>",
        }
        links = "".join(f'<a href="{at(p)}">{p}</a>' for p in pages)
        pages["/post"] = f"<title>Post</title><p>{links}</p>"
        for path, body in pages.items():
            site.routes[path] = lambda h, b=body: send(h, body=b.encode())
        config = write_config(tmp_path, allow_private=True, timeout=3.0)
        out = CliRunner().invoke(main, ["--config", str(config), "linkbacks", "send", at("/post")])
        assert out.exit_code == 0, out.output
        lines = out.output.splitlines()
        assert lines == [
            f"{at('/wm')}  webmention  ok: HTTP 202 from {at('/wm-endpoint')}",
            f"{at('/pb')}  pingback  ok: registered at {at('/xmlrpc')}",
            f"{at('/tb')}  trackback  ok: accepted by {at('/tb-ping')}",
            f"{at('/none')}  -  failed: no linkback endpoint advertised",
        ]
        assert [p for p, _ in site.posts] == ["/wm-endpoint", "/xmlrpc", "/tb-ping"]
        unreadable = CliRunner().invoke(main, ["--config", str(config), "linkbacks", "send",
                                               at("/missing")])  # fmt: skip
        assert unreadable.exit_code == 1
        assert "HTTP 404" in unreadable.output
