"""The pure part of the three linkback protocols (PROTOCOLS.md §1–3): parsing, answers, page reading
and discovery. Test names cite the checklist ids. The tests use the package's one namespace (`lb`),
as callers do; each section names the module of `moderation.domain.linkbacks` it covers."""

import re
import subprocess
import sys
import time
import xmlrpc.client

import pytest

from moderation.domain import linkbacks as lb
from moderation.domain import pages

TARGET = "https://blog.example.org/2010/07/co-production/"
FORM = "application/x-www-form-urlencoded"


def refused(fn, *args, **kwargs) -> lb.LinkbackRefused:
    with pytest.raises(lb.LinkbackRefused) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_domain_linkbacks_imports_no_framework_database_or_network_code():
    code = (
        "import sys, moderation.domain.linkbacks, moderation.domain.linkbacks.common,"
        " moderation.domain.linkbacks.trackback, moderation.domain.linkbacks.pingback,"
        " moderation.domain.linkbacks.webmention, moderation.domain.linkbacks.discovery;"
        "bad = [m for m in ('flask', 'sqlalchemy', 'akismet', 'httpx', 'werkzeug', 'requests',"
        " 'mf2py', 'socket') if m in sys.modules and m != 'socket'];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- TrackBack (trackback.py): the form and its charsets ------------------------------------------


@pytest.mark.parametrize(
    "content_type", [FORM, f"{FORM}; charset=utf-8", "Application/X-WWW-Form-Urlencoded ; x=y", ""]
)
def test_tb_2_form_media_type_accepted_with_or_without_parameters(content_type):
    assert (
        lb.decode_form(b"url=http%3A%2F%2Fa.example%2F", content_type)["url"] == "http://a.example/"
    )


@pytest.mark.parametrize("content_type", ["application/json", "text/xml", "multipart/mixed"])
def test_tb_2_other_media_types_refused(content_type):
    assert "x-www-form-urlencoded" in refused(lb.decode_form, b"url=x", content_type).message


def test_tb_3_unknown_fields_ignored_and_first_value_wins():
    fields = lb.decode_form(b"url=http://a.example/1&url=http://a.example/2&tb_id=7", FORM)
    ping = lb.parse_trackback(fields)
    assert ping.url == "http://a.example/1"


@pytest.mark.parametrize("fields", [{}, {"url": ""}, {"url": "   "}, {"title": "no url"}])
def test_tb_4_missing_url_is_error(fields):
    assert refused(lb.parse_trackback, fields).message == "url is required"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://a.example/x",
        "javascript:alert(1)",
        "/relative/path",
        "http://",
        "mailto:a@b.c",
        "http://user:pw@a.example/",
        "http://a.example:99999/",
        "http://a .example/",
        "http://[::1/",
        "http://a.example/" + "x" * 600,
    ],
)
def test_tb_5_url_must_be_absolute_http(url):
    error = refused(lb.parse_trackback, {"url": url})
    assert error.fields == {"url": error.message}


def test_tb_6_missing_title_is_first_five_words_of_excerpt_else_url():
    ping = lb.parse_trackback(
        {"url": "http://a.example/p", "excerpt": "one two three four five six"}
    )
    assert ping.title == "one two three four five …"
    assert not ping.title_given
    assert lb.parse_trackback({"url": "http://a.example/p"}).title == "http://a.example/p"


def test_tb_7_excerpt_cut_to_252_characters_plus_ellipsis_title_to_250():
    ping = lb.parse_trackback(
        {"url": "http://a.example/", "excerpt": "é" * 300, "title": "t" * 400}
    )
    assert ping.excerpt == "é" * 252 + "…"
    assert ping.title == "t" * 250 + "…"
    exact = lb.parse_trackback({"url": "http://a.example/", "excerpt": "x" * 252})
    assert exact.excerpt == "x" * 252


def test_tb_d10_html_stripped_from_every_field():
    ping = lb.parse_trackback(
        {
            "url": " http://a.example/p ",
            "title": "<b>Bold</b> &amp; <script>alert(1)</script>title",
            "excerpt": "<p>An <a href='http://spam.example'>excerpt</a></p>\n\n with   space",
            "blog_name": "<i>Blog</i>",
        }
    )
    assert ping == lb.TrackbackPing(
        "http://a.example/p", "Bold & title", "An excerpt with space", "Blog"
    )


def test_tb_14_charset_from_the_content_type_header():
    body = b"title=" + _pct("Iñtërnâtiônàlizætiøn".encode("latin-1")) + b"&url=http://a.b/"
    fields = lb.decode_form(body, f"{FORM}; charset=ISO-8859-1")
    assert fields["title"] == "Iñtërnâtiônàlizætiøn"


def test_tb_14_charset_from_a_form_field():
    body = b"charset=Shift_JIS&blog_name=" + _pct("日本語のブログ".encode("shift_jis"))
    assert lb.decode_form(body, FORM)["blog_name"] == "日本語のブログ"


def test_tb_14_header_charset_beats_the_form_field():
    body = b"charset=shift_jis&title=" + _pct("café".encode("latin-1"))
    assert lb.decode_form(body, f"{FORM}; charset=latin-1")["title"] == "café"


def test_tb_14_utf8_without_charset_then_windows_1252_fallback():
    assert lb.decode_form(b"t=" + _pct("ça".encode()), FORM)["t"] == "ça"
    assert lb.decode_form(b"t=caf%E9+%93ok%94", FORM)["t"] == "café “ok”"  # not UTF-8


@pytest.mark.parametrize("charset", ["utf-7", "UTF-7", "csUnicode11UTF7", "rot13", "no-such-thing"])
def test_tb_14_utf7_and_unknown_charsets_refused(charset):
    error = refused(
        lb.decode_form, b"url=http://a.b/&title=%2BADw-script%2BAD4-", f"{FORM}; charset={charset}"
    )
    assert "charset" in error.message or "UTF-7" in error.message


def _pct(raw: bytes) -> bytes:
    return "".join(f"%{b:02X}" for b in raw).encode()


# --- TrackBack (trackback.py): the answers --------------------------------------------------------


def test_tb_12_success_response_is_exactly_the_spec_body():
    assert lb.trackback_response() == (
        '<?xml version="1.0" encoding="utf-8"?>\n<response>\n<error>0</error>\n</response>\n'
    )


def test_tb_12_error_response_escapes_the_message():
    body = lb.trackback_response('No <b>"&" allowed\x00')
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')  # nothing before it
    assert '<error>1</error>\n<message>No &lt;b&gt;"&amp;" allowed</message>' in body
    assert lb.parse_trackback_response(body.encode()) == (False, 'No <b>"&" allowed')
    assert lb.parse_trackback_response(lb.trackback_response().encode()) == (True, "")


# --- Pingback (pingback.py, faults in common.py): XML-RPC in and out ------------------------------


def test_pb_request_parsed_from_the_standard_librarys_client():
    body = xmlrpc.client.dumps(("http://a.example/src", TARGET), "pingback.ping").encode()
    assert lb.parse_pingback_request(body) == ("http://a.example/src", TARGET)


def test_pb_untyped_values_are_strings():
    body = (
        b"<?xml version='1.0'?><methodCall><methodName> pingback.ping </methodName><params>"
        b"<param><value>http://a/</value></param><param><value>http://b/</value></param>"
        b"</params></methodCall>"
    )
    assert lb.parse_pingback_request(body) == ("http://a/", "http://b/")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<methodCall><methodName>pingback.ping</methodName><params>
<param><value><string>&lol9;</string></value></param>
<param><value><string>http://b/</string></value></param></params></methodCall>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>pingback.ping</methodName><params><param><value>&x;</value></param>
<param><value>http://b/</value></param></params></methodCall>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE methodCall SYSTEM "http://169.254.169.254/x.dtd">
<methodCall><methodName>pingback.ping</methodName></methodCall>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, EXTERNAL_DTD])
def test_pb_billion_laughs_external_entities_and_dtds_refused(body):
    error = refused(lb.parse_pingback_request, body)
    assert error.fault == lb.PARSE_ERROR
    assert "DTD" in error.message


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (b"", lb.PARSE_ERROR),
        (b"\x00\xff\xfe garbage", lb.PARSE_ERROR),
        (b"<methodCall><methodName>pingback.ping", lb.PARSE_ERROR),
        (b'<?xml version="1.0" encoding="no-such-codec"?><methodCall/>', lb.PARSE_ERROR),
        (b"<html><body>hello</body></html>", lb.INVALID_REQUEST),
        (
            b"<methodCall><methodName>system.listMethods</methodName></methodCall>",
            lb.METHOD_NOT_FOUND,
        ),
        (b"<methodCall><methodName>pingback.ping</methodName></methodCall>", lb.INVALID_PARAMS),
        (xmlrpc.client.dumps(("http://a/",), "pingback.ping").encode(), lb.INVALID_PARAMS),
        (xmlrpc.client.dumps(("http://a/", 7), "pingback.ping").encode(), lb.INVALID_PARAMS),
        (xmlrpc.client.dumps(("a", "b", "c"), "pingback.ping").encode(), lb.INVALID_PARAMS),
    ],
)
def test_pb_garbage_requests_get_xmlrpc_faults(body, fault):
    assert refused(lb.parse_pingback_request, body).fault == fault


@pytest.mark.parametrize("code", [0, 16, 17, 32, 33, 48, 49, 50, -32700])
def test_pb_faults_round_trip_through_the_standard_librarys_client(code):
    body = lb.xmlrpc_fault(code, "Target <b>&</b>\x01 nope")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(body)
    assert (fault.value.faultCode, fault.value.faultString) == (code, "Target <b>&</b> nope")
    assert lb.parse_xmlrpc_response(body.encode()) == (code, "Target <b>&</b> nope")


def test_pb_1_fault_codes_grouped_by_high_nibble():
    assert {lb.FAULT_SOURCE_MISSING >> 4, lb.FAULT_NO_LINK >> 4} == {1}
    assert {lb.FAULT_TARGET_MISSING >> 4, lb.FAULT_TARGET_INVALID >> 4} == {2}
    assert {
        lb.FAULT_ALREADY_REGISTERED >> 4,
        lb.FAULT_ACCESS_DENIED >> 4,
        lb.FAULT_UPSTREAM >> 4,
    } == {3}
    assert (lb.FAULT_SOURCE_MISSING, lb.FAULT_NO_LINK, lb.FAULT_TARGET_MISSING) == (16, 17, 32)
    assert (lb.FAULT_TARGET_INVALID, lb.FAULT_ALREADY_REGISTERED, lb.FAULT_ACCESS_DENIED) == (
        33,
        48,
        49,
    )
    assert (lb.FAULT_UPSTREAM, lb.FAULT_GENERIC) == (50, 0)


def test_pb_success_is_a_single_string():
    assert xmlrpc.client.loads(lb.xmlrpc_success("queued"))[0] == ("queued",)
    assert lb.parse_xmlrpc_response(lb.xmlrpc_success("queued").encode()) == (None, "queued")


def test_pb_request_for_sending_is_pingback_ping():
    assert xmlrpc.client.loads(lb.pingback_request("http://a/", TARGET)) == (
        ("http://a/", TARGET),
        "pingback.ping",
    )


# --- Webmention (webmention.py): the synchronous checks -------------------------------------------


def test_wm_4_source_and_target_required_and_http():
    assert refused(lb.check_webmention, "", TARGET).fields == {"source": "source is required"}
    assert "target" in refused(lb.check_webmention, "http://a.example/", "").fields
    assert "source" in refused(lb.check_webmention, "gopher://a.example/", TARGET).fields
    assert "target" in refused(lb.check_webmention, "http://a.example/", "file:///etc").fields
    assert lb.check_webmention(" http://a.example/ ", TARGET) == ("http://a.example/", TARGET)


@pytest.mark.parametrize(
    "source", [TARGET, TARGET + "#comments", "HTTPS://Blog.Example.org:443/2010/07/co-production/"]
)
def test_wm_5_source_equal_to_target_refused(source):
    assert (
        refused(lb.check_webmention, source, TARGET).message
        == "source and target are the same page"
    )


# --- reading a source page (WM-12, PB-10) --------------------------------------------------------------

SOURCE = "https://source.example/posts/reply"
PAGE = f"""<!doctype html><html><head><title>  A reply
 to the post </title><base href="https://source.example/base/">
<style>p {{ color: red }}</style><script>var x = "<a href='{TARGET}'>no</a>";</script></head>
<body><!-- <a href="{TARGET}">commented out</a> -->
<article><p>I read <a href="/2010/07/co-production/">something</a> elsewhere.</p>
<p>{"Lorem ipsum dolor sit amet. " * 10}As <a href="{TARGET}#comments">this post</a> says,
the co-production model {"works well in practice. " * 10}</p>
<img src="https://cdn.example/pic.png"></article></body></html>"""


def test_wm_12_exact_target_found_with_fragment_ignored():
    page = pages.analyse_page(PAGE, SOURCE)
    link = pages.find_link(page, TARGET)
    assert link is not None
    assert page.text[link.start : link.end] == "this post"
    assert page.title == "A reply to the post"


def test_wm_12_relative_links_resolve_against_base_and_final_url():
    page = pages.analyse_page(PAGE, SOURCE)
    assert "https://source.example/2010/07/co-production/" in [link.url for link in page.links]
    no_base = pages.analyse_page(
        '<a href="co-production/">x</a>', "https://blog.example.org/2010/07/"
    )
    assert pages.find_link(no_base, TARGET) is not None


@pytest.mark.parametrize(
    "html",
    [
        f"<!-- <a href='{TARGET}'>x</a> -->",
        f"<script>document.write('<a href=\"{TARGET}\">x</a>')</script>",
        f"<p>{TARGET}</p>",  # the URL as text is no link
        f"<a href='{TARGET}extra'>longer</a>",
        f"<a href='{TARGET[:-1]}'>shorter</a>",
        f"<a href='https://evil.example/?u={TARGET}'>inside</a>",
        f"<a data-href='{TARGET}'>other attribute</a>",
    ],
)
def test_wm_12_no_exact_link_means_no_link(html):
    assert pages.find_link(pages.analyse_page(html, SOURCE), TARGET) is None


@pytest.mark.parametrize(
    "tag",
    [
        "<img src='{t}'>",
        "<video src='{t}'></video>",
        "<audio src='{t}'></audio>",
        "<area href='{t}'>",
    ],
)
def test_wm_12_media_and_area_links_count(tag):
    assert pages.find_link(pages.analyse_page(tag.format(t=TARGET), SOURCE), TARGET) is not None


def test_pb_10_excerpt_is_the_text_around_the_link():
    page = pages.analyse_page(PAGE, SOURCE)
    excerpt = pages.excerpt_around(page, pages.find_link(page, TARGET))
    assert excerpt.startswith("[…] ")
    assert excerpt.endswith(" […]")
    assert "Lorem ipsum dolor sit amet. As this post says, the co-production model works" in excerpt
    assert len(excerpt) < 2 * pages.CONTEXT_CHARS + len("this post") + 12


def test_pb_10_short_page_excerpt_has_no_ellipses():
    page = pages.analyse_page(f"<p>See <a href='{TARGET}'>this</a>.</p>", SOURCE)
    assert pages.excerpt_around(page, page.links[0]) == "See this."


def test_page_reader_is_linear_on_unclosed_links_and_rdf_openings():
    start = time.monotonic()
    page = pages.analyse_page("<a href='x'>" * 20_000 + "</b>" * 20_000, SOURCE)
    assert len(page.links) == 20_000
    assert pages.find_trackback_ping("<rdf:RDF " * 100_000, TARGET) is None
    assert time.monotonic() - start < 5


def test_page_reader_survives_hostile_markup():
    page = pages.analyse_page("<a href='http://[::1'>x</a><title><a><<<>>></p></div>" * 50, SOURCE)
    assert page.links[0].url == ""
    pages.analyse_page("\x00<a href=" + "a" * 100_000, SOURCE)


# --- microformats ------------------------------------------------------------------------------------


def test_wm_13_h_entry_that_mentions_the_target_gives_author_and_content():
    parsed = {
        "items": [
            {"type": ["h-entry"], "properties": {"name": ["Unrelated"], "content": ["other"]}},
            {
                "type": ["h-feed"],
                "properties": {},
                "children": [
                    {
                        "type": ["h-entry"],
                        "properties": {
                            "name": ["A reply"],
                            "author": [
                                {"type": ["h-card"], "properties": {"name": ["Ann Author"]}}
                            ],
                            "content": [
                                {
                                    "html": f"<p>Agreed with <a href='{TARGET}'>this</a></p>",
                                    "value": "Agreed with this",
                                }
                            ],
                            "in-reply-to": [TARGET],
                        },
                    }
                ],
            },
        ]
    }
    assert pages.h_entry(parsed, TARGET) == {
        "author": "Ann Author",
        "text": "Agreed with this",
        "name": "A reply",
        "html": f"<p>Agreed with <a href='{TARGET}'>this</a></p>",
    }


def test_wm_13_likes_and_implied_names():
    parsed = {
        "items": [
            {
                "type": ["h-entry"],
                "properties": {
                    "name": ["Ann liked this"],
                    "author": ["Ann"],
                    "content": ["Ann liked this"],
                    "like-of": [{"type": ["h-cite"], "properties": {"url": [TARGET]}}],
                },
            }
        ]
    }
    fields = pages.h_entry(parsed, TARGET)
    assert fields["action"] == "liked this"
    assert "name" not in fields  # implied from the text: no title
    assert pages.h_entry({"items": []}, TARGET) is None
    assert pages.h_entry({"items": "garbage"}, TARGET) is None


# --- discovery, reading (sending side) ------------------------------------------------------------------


def test_wm_1_link_header_beats_html_and_rel_may_hold_several_values():
    page = pages.analyse_page('<link rel="webmention" href="/html-endpoint">', TARGET)
    headers = ['<https://a.example/other>; rel="other", </header?x=1>; rel="pingback webmention"']
    assert pages.find_webmention_endpoint(headers, page) == "https://blog.example.org/header?x=1"


def test_wm_1_first_link_or_a_in_document_order_relative_and_empty_href():
    html = (
        '<!-- <link rel="webmention" href="/commented"> --><a rel="nofollow webmention" '
        'href="wm/a">a</a><link rel="webmention" href="/link">'
    )
    assert pages.find_webmention_endpoint([], pages.analyse_page(html, TARGET)) == TARGET + "wm/a"
    empty = pages.analyse_page('<link rel="webmention" href="">', TARGET)
    assert pages.find_webmention_endpoint([], empty) == TARGET
    assert pages.find_webmention_endpoint(['<x>; rel="me"'], pages.analyse_page("", TARGET)) is None


def test_pb_3_x_pingback_header_wins_over_the_link_element():
    html = '<link rel="pingback" href="https://blog.example.org/xmlrpc.php?a=1&amp;b=2">'
    assert pages.find_pingback_endpoint(None, html) == "https://blog.example.org/xmlrpc.php?a=1&b=2"
    assert pages.find_pingback_endpoint(" https://x.example/rpc ", html) == "https://x.example/rpc"


@pytest.mark.parametrize(
    "html",
    ["<link href='https://x/rpc' rel='pingback'>", '<link rel="pingback"  href="https://x/">'],
)
def test_pb_3_only_the_exact_link_form_is_read(html):
    assert pages.find_pingback_endpoint(None, html) is None


def test_tb_discovery_rdf_block_matching_the_linked_url():
    other = lb.discovery_markup("https://c.example", "blog", "/other/", "https://blog/other/", "O")
    mine = lb.discovery_markup("https://c.example", "blog", "/p/", "https://blog/p/", "Mine")
    html = f"<body>{other.trackback_rdf}<p>text</p>{mine.trackback_rdf}</body>"
    assert (
        pages.find_trackback_ping(html, "https://blog/p/") == "https://c.example/trackback/blog/p/"
    )
    assert pages.find_trackback_ping(html, "https://blog/none/") is None  # two blocks, no match
    assert pages.find_trackback_ping(mine.trackback_rdf, "https://blog/x/") == mine.trackback_url


# --- discovery, advertising ours (discovery.py; TB-15) --------------------------------------------

PINGBACK_SPEC_REGEX = re.compile(r'<link rel="pingback" href="([^"]+)" ?/?>')


def test_tb_15_discovery_markup_for_a_page():
    found = lb.discovery_markup(
        "https://comments.example.org/",
        "blog",
        "/2010/07/co-production/",
        TARGET,
        'A "quoted" -- title -->',
    )
    assert (
        found.trackback_url == "https://comments.example.org/trackback/blog/2010/07/co-production/"
    )
    assert found.link_header == '<https://comments.example.org/webmention>; rel="webmention"'
    assert found.x_pingback == "https://comments.example.org/pingback"
    assert '<link rel="webmention" href="https://comments.example.org/webmention">' in found.html
    rdf = found.trackback_rdf
    assert rdf.startswith("<!--\n<rdf:RDF")
    assert rdf.endswith("</rdf:RDF>\n-->")
    assert rdf.count("--") == 2  # the title cannot end the comment early
    assert f'dc:identifier="{TARGET}"' in rdf
    assert 'dc:title="A &quot;quoted&quot; &#45;&#45; title &#45;&#45;&gt;"' in rdf
    assert pages.find_trackback_ping(rdf, TARGET) == found.trackback_url


def test_pb_4_pingback_link_matches_the_specs_exact_regex():
    found = lb.discovery_markup("https://comments.example.org", "blog", "/p/", TARGET, "")
    assert PINGBACK_SPEC_REGEX.findall(found.html) == ["https://comments.example.org/pingback"]
    assert pages.find_pingback_endpoint(None, found.html) == found.pingback_url


def test_trackback_url_quotes_odd_paths():
    assert lb.trackback_url("https://c.example", "blog", "/a b/é?x#y") == (
        "https://c.example/trackback/blog/a%20b/%C3%A9%3Fx%23y"
    )
