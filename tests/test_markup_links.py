"""Links in comment HTML (finding 10): only absolute http(s) and mailto links keep their href.
Protocol-relative links (``//evil.example``, and what browsers read as one: ``\\\\evil.example``,
``/\\evil.example``, leading spaces) and relative ones would point wherever the page showing the
comment is (the host site, our dashboard, an e-mail link page), so they lose it, as javascript:
does.
"""

from __future__ import annotations

import re

import pytest

from moderation import markup
from tests.conftest import SITE_URL

HREF = re.compile(r'href="([^"]*)"')


@pytest.mark.parametrize(
    "text",
    [
        "[x](//evil.example/a)",
        "[x](\\\\evil.example/a)",
        "[x](/\\evil.example/a)",
        "[x](/relative/path)",
        "[x](relative)",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "<//evil.example/a>",
    ],
)
def test_markdown_links_that_are_not_absolute_lose_their_href(text):
    html = markup.render(text)
    assert HREF.findall(html) == [], html


@pytest.mark.parametrize(
    "fragment",
    [
        '<a href="//evil.example/a">x</a>',
        '<a href="  //evil.example/a">x</a>',
        '<a href="\\\\evil.example/a">x</a>',
        '<a href="/\\evil.example/a">x</a>',
        '<a href="\t//evil.example">x</a>',
        '<a href="/moderate/act/token">x</a>',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
    ],
)
def test_cleaned_html_keeps_no_protocol_relative_relative_or_javascript_href(fragment):
    html = markup.clean(fragment)
    assert HREF.findall(html) == [], html
    assert ">x</a>" in html  # the text stays


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("[x](https://example.org/a?b=1)", "https://example.org/a?b=1"),
        ("[x](http://example.org/)", "http://example.org/"),
        ("<mailto:ann@example.org>", "mailto:ann@example.org"),
        ("see https://example.org/page", "https://example.org/page"),
    ],
)
def test_absolute_links_stay(text, href):
    assert HREF.findall(markup.render(text)) == [href]


def test_the_widget_serves_no_protocol_relative_link(client, clock):
    clock.advance(60)
    body = {
        "site": "blog",
        "uri": "/post/",
        "text": "Look [here](//evil.example/phish) or [there](\\\\evil.example).",
        "author": "Ann",
        "email": "ann@example.org",
    }
    answer = client.post("/api/v1/comments", json=body, headers={"Origin": SITE_URL})
    assert answer.status_code == 201
    html = answer.get_json()["comment"]["html"]
    assert HREF.findall(html) == [], html
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/post/").get_json()
    assert "evil.example" not in str(thread)
