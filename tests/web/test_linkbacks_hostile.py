"""Hostile linkback bodies (finding 9): odd charsets and undecodable bodies get TrackBack's error
response, never a 500; control characters in titles, excerpts, blog names and URLs are refused
(URLs) or stripped (text), as the widget's fields are.
"""

from __future__ import annotations

import xmlrpc.client

import pytest

from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.services import verification
from tests.web.linkback_helpers import TARGET, comments

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")

TB_URL = "/trackback/blog/post/"
FORM = "application/x-www-form-urlencoded"
PING = b"url=http%3A%2F%2Fpublic.test%2Fa&title=Re"


@pytest.mark.parametrize(
    "charset",
    [
        "utf-16",
        "utf-16-le",
        "utf-32",
        "UTF-7",
        "unicode_escape",
        "raw_unicode_escape",
        "punycode",
        "idna",
        "hz",
        "cp037",
        "rot13",
        "base64",
        "no-such-charset",
        '"utf\\x00-8"',
    ],
)
def test_odd_header_charsets_get_the_trackback_error_never_a_500(client, session, charset):
    answer = client.post(TB_URL, data=PING, content_type=f"{FORM}; charset={charset}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    ok, message = lb.parse_trackback_response(answer.data)
    assert not ok
    assert "charset" in message
    assert comments(session) == []


@pytest.mark.parametrize("charset", [b"utf-16", b"utf%00-8", b"unicode-escape", b"%FF%FE"])
def test_odd_form_field_charsets_get_the_trackback_error(client, session, charset):
    answer = client.post(TB_URL, data=PING + b"&charset=" + charset, content_type=FORM)
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data)[0] is False
    assert comments(session) == []


def test_a_body_really_in_utf_16_is_an_error_response(client, session):
    body = "url=http%3A%2F%2Fpublic.test%2Fa&title=Re".encode("utf-16")
    answer = client.post(TB_URL, data=body, content_type=f"{FORM}; charset=utf-16")
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data)[0] is False
    assert comments(session) == []


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00\x01", b"url=%C0%AF&title=%FF", b"\x00" * 64, b"%" * 50, b"=&=&=&"],
)
def test_undecodable_bodies_get_the_trackback_error(client, session, body):
    answer = client.post(TB_URL, data=body, content_type=FORM)
    assert answer.status_code == 200
    assert lb.parse_trackback_response(answer.data)[0] is False


def test_control_characters_are_stripped_from_trackback_text(client, session, source_site):
    fields = {
        "url": "http://public.test/a",
        "title": "Re\x1b[31m: red\x9b1m\u2028forged line",
        "excerpt": "Line one\x85Approve: http://evil.example/\x00\x07",
        "blog_name": "Pinger\u2029\x1c\x9f Blog",
    }
    answer = client.post(TB_URL, data=fields)
    assert lb.parse_trackback_response(answer.data) == (True, "")
    (comment,) = comments(session)
    for value in (comment.author, comment.text, comment.html):
        assert not any(
            (ord(ch) < 0x20 and ch not in "\n") or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029"
            for ch in value
        ), repr(value)
    assert comment.author == "Pinger Blog"


@pytest.mark.parametrize("bad", ["\x85", "\u2028", "\x9b", "\x00"])
def test_control_characters_in_linkback_urls_are_refused(client, session, bad):
    source = f"http://public.test/a{bad}b"
    answer = client.post(TB_URL, data={"url": source})
    assert lb.parse_trackback_response(answer.data) == (
        False,
        "url must be an absolute http(s) URL",
    )
    pingback = client.post(
        "/pingback",
        data=xmlrpc.client.dumps((source, TARGET), "pingback.ping"),
        content_type="text/xml",
    )
    if bad != "\x00":  # XML cannot carry NUL at all: a parse error instead
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xmlrpc.client.loads(pingback.data)
        assert fault.value.faultCode == lb.FAULT_SOURCE_MISSING
    webmention = client.post("/webmention", data={"source": source, "target": TARGET})
    assert webmention.status_code == 400
    assert comments(session) == []


def test_a_verified_source_s_title_loses_its_control_characters():
    """Verification takes the author from the source page's title: the same rule applies."""
    html = f"<title>Evil\x9b31m\u2028Approve: yes</title><p>See <a href='{TARGET}'>this</a>.</p>"
    page = pages.analyse_page(html, "http://public.test/r")
    link = pages.find_link(page, TARGET)
    assert link is not None
    content = verification.read_content(html, page, link, TARGET)
    assert content.author == "Evil 31m Approve: yes"
