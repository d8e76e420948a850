"""What pages show and carry (the thread JSON's ``trackback_url``, the discovery API), the
linkback endpoints on a live server driven by real clients, and the ``moderation linkbacks``
commands (PROTOCOLS.md §1–3, §7).

The live server runs on 127.0.0.1 over a SQLite file; its clients are the standard library's
``xmlrpc.client`` for pingbacks, ronkyuu for webmentions, plain form posts for trackbacks, and our
own sender. Sources are `FakeSite` pages named ``public.test`` (a fake DNS; `guard_network` keeps
every connection on loopback); ``[fetch] allow_private`` stays false for the receiving side.
"""

from __future__ import annotations

import json
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
from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment
from moderation.net.fetcher import Fetcher
from moderation.services import Context
from moderation.services.tokens import Tokens
from moderation.storage.db import Database
from tests.conftest import make_settings
from tests.factories import make_thread
from tests.fakes.app_server import AppServer
from tests.fakes.web_site import FakeSite, Handler, default_dns, send
from tests.web.linkback_helpers import OK_BODY, TARGET, linking, receiving_fetcher, source

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")


# --- what pages show and carry -------------------------------------------------------------------------


def test_thread_json_carries_the_trackback_url_and_shows_linkbacks(client, session, source_site):
    client.post("/webmention", data={"source": source(source_site), "target": TARGET})
    data = client.get("/api/v1/threads/comments?site=blog&uri=/post/").json
    assert data["thread"]["trackback_url"] == "https://comments.example.org/trackback/blog/post/"
    (shown,) = data["comments"]
    assert (shown["kind"], shown["author"], shown["website"]) == (
        "webmention",
        "A reply",
        source_site.url("/reply"),
    )
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
        with self.database.read() as session:
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
    settings = make_settings(
        tmp,
        **{
            "server.public_url": base,
            "database.url": server.db_url,
            "sites": {"blog": {"url": blog_url, "origins": [blog_url], "moderation": "none"}},
            "guard.flood_seconds": 0,
            "guard.rate_limit": "1000 per minute",
        },
    )
    context = Context(
        settings=settings, tokens=Tokens.from_settings(settings), fetcher=receiving_fetcher()
    )
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
        CommentKind.pingback,
        True,
        CommentStatus.approved,
    )


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
    form = urllib.parse.urlencode(
        {"url": url, "title": "Re: D", "excerpt": "Yes.", "blog_name": "B"}
    ).encode()
    request = urllib.request.Request(
        ping_url,
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
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
        "[server]",
        'secret_key = "a-secret-key-of-enough-length"',
        'public_url = "https://comments.example.org"',
        f'data_dir = "{tmp_path / "var"}"',
        "[sites.blog]",
        'url = "https://blog.example.org"',
        'origins = ["https://blog.example.org"]',
        "[fetch]",
        *(f"{k} = {json.dumps(v)}" for k, v in fetch.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_linkbacks_discovery_prints_the_same_as_the_api(tmp_path, client):
    config = write_config(tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        main, ["--config", str(config), "linkbacks", "discovery", "blog", "/post/", "--json"]
    )
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
    config.write_text(
        config.read_text().replace(
            'origins = ["https://blog.example.org"]',
            'origins = ["https://blog.example.org"]\nsigned_trackback_urls = true',
        )
    )
    out = CliRunner().invoke(
        main, ["--config", str(config), "linkbacks", "discovery", "blog", "/post/", "--json"]
    )
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
        rdf = (
            f'<!-- <rdf:RDF><rdf:Description dc:identifier="{at("/tb")}" '
            f'trackback:ping="{at("/tb-ping")}" /></rdf:RDF> -->'
        )
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
        unreadable = CliRunner().invoke(
            main, ["--config", str(config), "linkbacks", "send", at("/missing")]
        )
        assert unreadable.exit_code == 1
        assert "HTTP 404" in unreadable.output
