"""Sending linkbacks: discovering each linked page's endpoint (Webmention, then Pingback, then
TrackBack) and posting to it, and the verification job's registration (PROTOCOLS.md §7). Runs on
SQLite and PostgreSQL.

The receivers are a `FakeSite` named ``other.test`` through a fake DNS; the poster refuses private
endpoints before connecting (`guard_network` records every connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from moderation.config import FetchSettings
from moderation.domain import linkbacks as lb
from moderation.models import Comment, OutboxEntry
from moderation.net.guarded import BlockedAddress
from moderation.services import outbox, sending, verification
from tests.fakes.web_site import FakeSite, Handler, send
from tests.services.linkback_helpers import make_fetcher, page, webmention

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")


# --- sending -----------------------------------------------------------------------------------------


class Receiver(Handler):
    """A FakeSite handler that also takes POSTs (the fake receivers' endpoints)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.site.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        self.site.post_routes[self.path](self, body)


@pytest.fixture
def receivers() -> Iterator[FakeSite]:
    with FakeSite() as site:
        site.server.RequestHandlerClass = Receiver
        site.posts, site.post_routes = [], {}
        yield site


def fake_receivers(site: FakeSite, post_html: str) -> str:
    """Pages advertising each kind of endpoint on other.test, and the post linking to them."""
    wm, rpc = site.url("/wm-endpoint?x=1", "other.test"), site.url("/xmlrpc", "other.test")
    pages = {
        "/wm-header": page("<p>target</p>", Link=f'<{wm}>; rel="webmention"'),
        "/wm-html": page('<link rel="webmention" href="/wm-endpoint?x=1">'),
        "/pb-header": page("<p>pb</p>", X_Pingback=rpc),
        "/pb-html": page(f'<link rel="pingback" href="{rpc}">'),
        "/pb-dup": page('<link rel="pingback" href="/xmlrpc-dup">'),
        "/tb": page(
            f'<!-- <rdf:RDF><rdf:Description dc:identifier="{site.url("/tb", "other.test")}"'
            f' trackback:ping="{site.url("/tb-ping", "other.test")}" /></rdf:RDF> -->'
        ),
        "/nothing": page("<p>no endpoint</p>"),
        "/missing": page("<p>gone</p>", status=404),
        "/evil": page('<link rel="webmention" href="http://169.254.169.254/wm">'),
        "/post": page(post_html),
    }
    site.routes.update(pages)
    site.post_routes.update(
        {
            "/wm-endpoint?x=1": lambda h, b: send(h, 202, b"queued", "text/plain"),
            "/xmlrpc": lambda h, b: send(
                h, body=lb.xmlrpc_success("thanks").encode(), ctype="text/xml"
            ),
            "/xmlrpc-dup": lambda h, b: send(
                h, body=lb.xmlrpc_fault(48, "dup").encode(), ctype="text/xml"
            ),
            "/tb-ping": lambda h, b: send(
                h, body=lb.trackback_response().encode(), ctype="text/xml"
            ),
        }
    )
    return site.url("/post")


def test_send_discovers_webmention_then_pingback_then_trackback(receivers, dns):
    other = lambda path: receivers.url(path, "other.test")  # noqa: E731
    links = "".join(
        f'<a href="{other(p)}">{p}</a> '
        for p in [
            "/wm-header",
            "/wm-html",
            "/pb-header",
            "/pb-html",
            "/pb-dup",
            "/tb",
            "/nothing",
            "/missing",
            "/evil",
            "/wm-header#again",
        ]
    )
    post = fake_receivers(
        receivers,
        f"<title>My post</title><p>Links: {links}</p>"
        f"<a href='/post'>self</a><a href='mailto:x@y.z'>m</a>",
    )
    fetcher = make_fetcher(dns)
    poster = sending.Poster(FetchSettings(allow_private=False, timeout=2.0), resolver=dns)
    sent = {s.target: s for s in sending.send_linkbacks(fetcher, poster, post)}
    assert list(sent) == [
        other(p)
        for p in [
            "/wm-header",
            "/wm-html",
            "/pb-header",
            "/pb-html",
            "/pb-dup",
            "/tb",
            "/nothing",
            "/missing",
            "/evil",
        ]
    ]
    summary = {
        p: (sent[other(p)].protocol, sent[other(p)].ok)
        for p in [
            "/wm-header",
            "/wm-html",
            "/pb-header",
            "/pb-html",
            "/pb-dup",
            "/tb",
            "/nothing",
            "/missing",
            "/evil",
        ]
    }
    assert summary == {
        "/wm-header": ("webmention", True),
        "/wm-html": ("webmention", True),
        "/pb-header": ("pingback", True),
        "/pb-html": ("pingback", True),
        "/pb-dup": ("pingback", True),
        "/tb": ("trackback", True),
        "/nothing": (None, False),
        "/missing": (None, False),
        "/evil": (None, False),
    }
    assert "non-public address" in sent[other("/evil")].detail
    assert sent[other("/pb-dup")].detail == "fault 48: dup"
    posted = {path: (ctype, body) for path, ctype, body in receivers.posts}
    wm = dict(parse_qsl(posted["/wm-endpoint?x=1"][1].decode()))
    assert wm == {"source": post, "target": other("/wm-html")}
    tb_ctype, tb_body = posted["/tb-ping"]
    assert tb_ctype == "application/x-www-form-urlencoded; charset=utf-8"
    tb = dict(parse_qsl(tb_body.decode()))
    assert (tb["url"], tb["title"], tb["blog_name"]) == (post, "My post", "public.test")
    assert lb.parse_pingback_request(posted["/xmlrpc"][1]) == (post, other("/pb-html"))
    assert sent[other("/nothing")].line().endswith("-  failed: no linkback endpoint advertised")


def test_send_uses_the_h_entry_content_only(receivers, dns):
    post = fake_receivers(
        receivers,
        f"""<nav><a href="{receivers.url("/nothing", "other.test")}">
        nav</a></nav><article class="h-entry"><div class="e-content">See
        <a href="{receivers.url("/wm-html", "other.test")}">this</a>.</div></article>""",
    )
    poster = sending.Poster(FetchSettings(timeout=2.0), resolver=dns)
    sent = sending.send_linkbacks(make_fetcher(dns), poster, post)
    assert [(s.target, s.protocol) for s in sent] == [
        (receivers.url("/wm-html", "other.test"), "webmention")
    ]


def test_send_poster_refuses_private_endpoints_without_connecting(network, dns):
    poster = sending.Poster(FetchSettings(timeout=1.0), resolver=dns)
    for url in ["http://127.0.0.1:9/x", "http://[::1]/x", "http://intranet.test/x"]:
        with pytest.raises(BlockedAddress, match="non-public"):
            poster.post(url, b"", "text/plain")
    assert network.connects == []


def test_verify_handler_is_registered():
    assert verification.VERIFY in outbox.HANDLERS


def test_wm_s4_one_verification_job_per_receipt(session, database, ctx, clock):
    webmention(session, database, ctx, clock, "http://public.test/a")
    webmention(session, database, ctx, clock, "http://public.test/a")
    jobs = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == verification.VERIFY)).all()
    assert len(jobs) == 2
    assert {j.payload["comment_id"] for j in jobs} == {session.scalars(select(Comment.id)).one()}
