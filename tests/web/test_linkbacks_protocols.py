"""The three linkback endpoints through Flask's test client: TrackBack, Pingback and Webmention,
every protocol answer and error body, and the Webmention status resource (PROTOCOLS.md §1–3). Runs
on SQLite and PostgreSQL.

Sources are `FakeSite` pages named ``public.test`` (a fake DNS; `guard_network` keeps every
connection on loopback); ``[fetch] allow_private`` stays false for the receiving side.
"""

from __future__ import annotations

import time
import urllib.parse
import xmlrpc.client
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from moderation.app import create_app
from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.domain.states import CommentKind, CommentStatus
from moderation.services.tokens import Tokens
from tests.conftest import make_settings
from tests.factories import make_thread
from tests.web.linkback_helpers import OK_BODY, TARGET, comments, source

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")

TB_URL = "/trackback/blog/post/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def make_client(tmp_path, database, ctx):
    """A client for an app with other settings (rate limits, closed threads ...)."""

    def make(**overrides: Any) -> Any:
        settings = make_settings(tmp_path / f"app{len(overrides)}", **overrides)
        context = replace(ctx, settings=settings, tokens=Tokens.from_settings(settings))
        app = create_app(settings, database=database, context=context)
        app.config["TESTING"] = True
        return app.test_client()

    return make


# --- TrackBack -------------------------------------------------------------------------------------


def test_tb_1_ping_answered_with_the_exact_success_body_and_verified(client, session, source_site):
    url = source(source_site)
    answer = client.post(
        TB_URL, data={"url": url, "title": "Re", "excerpt": "Good.", "blog_name": "Pinger"}
    )
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
        "Sorry, trackbacks are closed for this item."
    )


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
    other = client.post(
        TB_URL, data={"url": "http://public.test/8"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
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
        False,
        "not a TrackBack URL of this site: ping the one the page gives",
    )
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


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9))
    + b"]><methodCall><methodName>&j;</methodName></methodCall>"
)


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
        (
            xmlrpc.client.dumps(
                ("http://public.test/a", "https://else.example/"), "pingback.ping"
            ).encode(),
            33,
        ),
        (xmlrpc.client.dumps((TARGET, TARGET), "pingback.ping").encode(), 0),
    ],
)
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

    def call(n):
        return client.post(
            "/pingback",
            content_type="text/xml",
            data=xmlrpc.client.dumps((f"http://public.test/{n}", TARGET), "pingback.ping"),
        )

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
    assert status.json == {
        "status": "verified",
        "published": True,
        "source": url,
        "target": TARGET,
        "reason": None,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target": TARGET}, "source is required"),
        ({"source": "http://public.test/a"}, "target is required"),
        (
            {"source": "javascript:alert(1)", "target": TARGET},
            "source must be an absolute http(s) URL",
        ),
        (
            {"source": "http://public.test/a", "target": "file:///etc/passwd"},
            "target must be an absolute http(s) URL",
        ),
        ({"source": TARGET + "#c", "target": TARGET}, "source and target are the same page"),
        (
            {"source": "http://public.test/a", "target": "https://elsewhere.example/post/"},
            "the target is not a page of a site served here",
        ),
    ],
)
def test_wm_4_5_6_bad_equal_or_foreign_urls_are_400(client, session, data, message):
    answer = client.post("/webmention", data=data)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text == message + "\n"
    assert comments(session) == []


@pytest.mark.parametrize(
    "body",
    [
        b"source=http%3A%2F%2F%FF%FE%2F&target=" + urllib.parse.quote(TARGET, safe="").encode(),
        b"\x00\xff&&==%%",
        b"source=" + b"a" * 600 + b"&target=x",
        b"source&target",
    ],
)
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
    assert status["reason"] == "the source no longer links to the target"
    assert [c.status for c in comments(session)] == [CommentStatus.deleted]
