"""Receiving linkbacks (TrackBack, Pingback, Webmention), the status resource, what the
production pipeline sees of a linkback, and discovery (PROTOCOLS.md §1–3, §7). Runs on SQLite and
PostgreSQL.

Sources are ``public.test`` URLs on a `FakeSite` behind a fake DNS (tests/services/conftest.py);
`guard_network` keeps every connection on loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from moderation.domain import linkbacks as lb
from moderation.domain.scoring import Verdict
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import Duplicate, NotFound, RateLimited, ThreadClosed
from moderation.models import Comment, OutboxEntry, SpamCheck
from moderation.services import linkbacks as service
from moderation.services import outbox, verification
from moderation.services.comments import ClientInfo
from moderation.services.moderation import apply_action
from tests.factories import FixedScorer, make_thread
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet
from tests.services.linkback_helpers import (
    MODERATOR,
    PINGER,
    TARGET,
    build_ctx,
    events,
    linking,
    pingback,
    received,
    serve,
    trackback,
    verify,
    webmention,
)

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")


# --- receipt ---------------------------------------------------------------------------------------


def test_tb_10_trackback_stored_pending_with_its_spam_check_and_a_verification_job(
    session, database, ctx, clock
):
    comment = trackback(
        session,
        database,
        ctx,
        clock,
        "http://public.test/reply",
        title="My <b>reply</b>",
        excerpt="It was <i>good</i> & short.",
        blog_name="Pinger's Blog",
    )
    assert (comment.kind, comment.status, comment.verified) == (
        CommentKind.trackback,
        CommentStatus.pending,
        None,
    )
    assert (comment.author, comment.website, comment.source) == (
        "Pinger's Blog",
        "http://public.test/reply",
        "http://public.test/reply",
    )
    assert comment.text == "My reply\n\nIt was good & short."
    assert comment.html == "<p><strong>My reply</strong></p><p>It was good &amp; short.</p>"
    assert (comment.ip, comment.user_agent) == (PINGER.ip, PINGER.user_agent)
    check = session.scalars(select(SpamCheck).where(SpamCheck.comment_id == comment.id)).one()
    assert check.submitted["kind"] == "trackback"
    assert check.submitted["source"] == "http://public.test/reply"
    assert check.submitted["permalink"] == TARGET
    assert events(session, comment) == [("create", "pending", "source not verified yet")]
    (job,) = session.scalars(
        select(OutboxEntry).where(OutboxEntry.kind == verification.VERIFY)
    ).all()
    assert job.payload["comment_id"] == comment.id
    assert job.payload["target"] == TARGET


def test_tb_11_title_and_blog_name_never_rendered_as_html(session, database, ctx, clock):
    comment = trackback(
        session,
        database,
        ctx,
        clock,
        "http://public.test/x",
        title="&lt;script&gt;alert(1)&lt;/script&gt;",
        blog_name="<img src=x>B",
    )
    assert "<script" not in comment.html
    assert "&lt;script&gt;" in comment.html
    assert comment.author == "B"


def test_tb_9_duplicate_same_thread_and_source_refused(session, database, ctx, clock):
    trackback(session, database, ctx, clock, "http://public.test/a")
    with pytest.raises(Duplicate, match="already a ping from that URL"):
        trackback(session, database, ctx, clock, "http://public.test/a", title="again")
    another_post = trackback(session, database, ctx, clock, "http://public.test/a", uri="/other/")
    assert another_post.id
    assert trackback(session, database, ctx, clock, "http://public.test/b").id  # another source


def test_tb_9_duplicate_counts_spam_and_other_protocols_too(session, database, ctx, clock):
    comment = pingback(session, database, ctx, clock, "http://public.test/a")
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    with pytest.raises(Duplicate):
        trackback(session, database, ctx, clock, "http://public.test/a")


def test_tb_8_closed_thread_refused_and_nothing_written(session, database, ctx, clock):
    make_thread(session, uri="/post/", closed=True)
    with pytest.raises(ThreadClosed):
        trackback(session, database, ctx, clock, "http://public.test/a")
    with pytest.raises(ThreadClosed):
        pingback(session, database, ctx, clock, "http://public.test/a")
    with pytest.raises(ThreadClosed):
        webmention(session, database, ctx, clock, "http://public.test/a")
    assert session.scalars(select(Comment)).all() == []
    assert session.scalars(select(OutboxEntry)).all() == []


def test_tb_d5_pings_from_one_ip_keep_the_flood_gap_on_every_protocol(
    session, database, ctx, clock
):
    """WordPress's flood rule keys pings by the pinging server's IP (15 s in these settings)."""

    def receive(prepare, *args):
        return received(session, database, ctx, prepare, *args)

    clock.advance(60)
    receive(service.prepare_pingback, "http://public.test/a", TARGET, PINGER)
    clock.advance(5)
    with pytest.raises(RateLimited) as refused:
        receive(service.prepare_webmention, "http://public.test/b", TARGET, PINGER)
    assert refused.value.retry_after == 10
    ping = lb.parse_trackback({"url": "http://public.test/c"})
    with pytest.raises(RateLimited):
        receive(service.prepare_trackback, "blog", "/post/", ping, PINGER)
    other = ClientInfo(ip="198.51.100.99", user_agent="Another/1.0")
    assert receive(service.prepare_trackback, "blog", "/post/", ping, other).id
    clock.advance(11)
    assert receive(service.prepare_webmention, "http://public.test/b", TARGET, PINGER).id


def test_tb_d6_threads_close_after_n_days(session, tmp_path, clock, database):
    ctx = build_ctx(tmp_path, clock, database, **{"sites.blog.close_after_days": 14})
    make_thread(session, uri="/post/", created_at=clock.now - timedelta(days=15))
    with pytest.raises(ThreadClosed):
        pingback(session, database, ctx, clock, "http://public.test/a")


def test_tb_unknown_site_or_bad_page_refused(session, database, ctx, clock):
    ping = lb.parse_trackback({"url": "http://public.test/a"})
    with pytest.raises(lb.LinkbackRefused, match="no such site"):
        received(session, database, ctx, service.prepare_trackback, "nope", "/post/", ping, PINGER)
    with pytest.raises(lb.LinkbackRefused):
        received(session, database, ctx, service.prepare_trackback, "blog", "/a b/", ping, PINGER)
    with pytest.raises(lb.LinkbackRefused, match="cannot ping itself"):
        trackback(session, database, ctx, clock, TARGET)


@pytest.mark.parametrize(
    ("source", "target", "fault"),
    [
        ("ftp://public.test/a", TARGET, lb.FAULT_SOURCE_MISSING),
        ("not a url", TARGET, lb.FAULT_SOURCE_MISSING),
        ("http://public.test/a", "javascript:alert(1)", lb.FAULT_TARGET_MISSING),
        ("http://public.test/a", "", lb.FAULT_TARGET_MISSING),
        ("http://public.test/a", "https://elsewhere.example/post/", lb.FAULT_TARGET_INVALID),
        ("http://public.test/a", "http://blog.example.org/post/", lb.FAULT_TARGET_INVALID),
        (TARGET, TARGET + "#x", lb.FAULT_GENERIC),
    ],
)
def test_pb_5_6_bad_source_or_target_gets_its_fault(
    session, database, ctx, clock, source, target, fault
):
    with pytest.raises(lb.LinkbackRefused) as refused:
        pingback(session, database, ctx, clock, source, target)
    assert refused.value.fault == fault


def test_pb_8_duplicate_pingback_refused(session, database, ctx, clock):
    pingback(session, database, ctx, clock, "http://public.test/a")
    with pytest.raises(Duplicate):
        pingback(session, database, ctx, clock, "http://public.test/a")


def test_wm_6_target_of_the_longest_matching_site_and_fragment_ignored(
    session, tmp_path, clock, database
):
    ctx = build_ctx(
        tmp_path,
        clock,
        database,
        **{
            "sites.docs": {
                "url": "https://blog.example.org/docs",
                "origins": ["https://blog.example.org"],
            }
        },
    )
    comment = webmention(
        session,
        database,
        ctx,
        clock,
        "http://public.test/a",
        "https://blog.example.org/docs/intro/#part-2",
    )
    assert (comment.thread.site, comment.thread.uri) == ("docs", "/intro/")


def test_linkback_never_approved_before_verification(session, database, ctx, clock):
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.ham, -5.0)])
    comment = webmention(session, database, ctx, clock, "http://public.test/a")
    assert comment.status is CommentStatus.pending


# --- the status resource ----------------------------------------------------------------------------


def test_wm_14_status_resource_follows_verification(session, database, ctx, clock, source_site):
    comment = webmention(session, database, ctx, clock, serve(source_site, "/r", linking()))
    token = service.status_token(ctx, comment)
    assert service.webmention_status(session, ctx, token) == {
        "status": "pending",
        "published": False,
        "source": comment.source,
        "target": TARGET,
        "reason": None,
    }
    verify(session, database, ctx)
    assert service.webmention_status(session, ctx, token)["status"] == "verified"
    assert service.webmention_status(session, ctx, token)["published"] is True


@pytest.mark.parametrize("token", ["", "1", "eyJhIjoxfQ.bad", "MQ.x" * 40])
def test_wm_14_status_resource_refuses_forged_tokens(session, database, ctx, clock, token):
    comment = webmention(session, database, ctx, clock, "http://public.test/r")
    with pytest.raises(NotFound):
        service.webmention_status(session, ctx, token)
    forged = service.status_token(ctx, comment)[:-2] + "xx"
    with pytest.raises(NotFound):
        service.webmention_status(session, ctx, forged)


# --- the production pipeline (rules, classifier, Akismet) -------------------------------------------------


@pytest.fixture
def akismet() -> Iterator[FakeAkismet]:
    with FakeAkismet() as fake:
        yield fake


RECEIVE: dict[str, Callable[..., Comment]] = {
    "trackback": lambda s, d, c, k, url: trackback(
        s, d, c, k, url, title="T", excerpt="Nice post."
    ),
    "pingback": pingback,
    "webmention": webmention,
}


@pytest.mark.parametrize("kind", RECEIVE)
def test_pipeline_akismet_sees_the_linkback_kind_before_and_after_verification(
    session, database, tmp_path, clock, source_site, akismet, kind
):
    ctx = build_ctx(
        tmp_path,
        clock,
        database,
        **{"akismet.key": FAKE_KEY, "akismet.endpoint": akismet.url, "akismet.timeout": 1.0},
    )
    comment = RECEIVE[kind](session, database, ctx, clock, serve(source_site, "/r", linking()))
    verify(session, database, ctx)
    checks = akismet.requests_to("comment-check")
    assert [c.form["comment_type"] for c in checks] == [kind, kind]
    assert checks[0].form["user_ip"] == PINGER.ip
    assert checks[-1].form["comment_author_url"] == comment.source
    content = "Nice post." if kind == "trackback" else "words after"  # a trackback keeps its text
    assert content in checks[-1].form["comment_content"]
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)


def test_pipeline_akismet_down_at_receipt_cannot_publish_before_verification(
    session, database, tmp_path, clock, source_site, akismet
):
    akismet.mode = "error500"
    ctx = build_ctx(
        tmp_path,
        clock,
        database,
        **{"akismet.key": FAKE_KEY, "akismet.endpoint": akismet.url, "akismet.timeout": 1.0},
    )
    comment = webmention(
        session, database, ctx, clock, serve(source_site, "/r", "<p>no link here</p>")
    )
    assert comment.status is CommentStatus.pending
    akismet.mode = "normal"
    session.flush()
    for entry in session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "recheck")):
        assert outbox.run_entry(database, ctx, entry.id) is None  # the re-check job runs first
    session.expire_all()
    assert comment.status is CommentStatus.pending  # ...and does not publish it
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam


def test_pipeline_blocked_ip_is_spam_at_receipt(session, database, tmp_path, clock, source_site):
    ctx = build_ctx(tmp_path, clock, database, **{"spam.blocked_ips": [PINGER.ip]})
    comment = pingback(session, database, ctx, clock, serve(source_site, "/r", linking()))
    assert comment.status is CommentStatus.spam
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.spam)


# --- discovery --------------------------------------------------------------------------------------


def test_tb_15_discovery_uses_the_threads_title(session, ctx):
    make_thread(session, uri="/post/", title="The Post")
    found = service.page_discovery(session, ctx, "blog", "/post/")
    assert 'dc:title="The Post"' in found.trackback_rdf
    assert found.trackback_url == "https://comments.example.org/trackback/blog/post/"
    assert (
        service.discovery(ctx.settings, ctx.tokens, "blog", "/new/").page_url
        == "https://blog.example.org/new/"
    )
