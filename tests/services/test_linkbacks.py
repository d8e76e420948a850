"""Receiving linkbacks, verifying their sources in the background, the status resource, discovery
and sending (PROTOCOLS.md §1–3, §7). Runs on SQLite and PostgreSQL.

Network rule: sources live on a `FakeSite` on 127.0.0.1, named ``public.test`` through a fake DNS
so the fetcher's SSRF guard (``allow_private = false``) accepts them; `guard_network` fails any
attempt to connect beyond loopback, so the private-address cases prove the fetcher refused them
before a packet left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from moderation.config import FetchSettings
from moderation.domain import linkbacks as lb
from moderation.domain.scoring import Verdict
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import Duplicate, NotFound, RateLimited, ThreadClosed
from moderation.fetch import Fetcher
from moderation.models import Comment, ModerationEvent, OutboxEntry, SpamCheck
from moderation.outbound import BlockedAddress
from moderation.services import build_context, outbox, sending, verification
from moderation.services import linkbacks as service
from moderation.services.comments import ClientInfo
from moderation.services.moderation import Actor, apply_action
from tests.conftest import make_settings
from tests.factories import FixedScorer, make_thread
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet
from tests.fakes.web_site import (
    MB,
    PUBLIC,
    FakeSite,
    Handler,
    Network,
    default_dns,
    drip_body,
    guard_network,
    huge,
    send,
)

TARGET = "https://blog.example.org/post/"
PINGER = ClientInfo(ip="198.51.100.20", user_agent="WordPress/6.5; https://pinger.example")
MODERATOR = Actor("moderator:mod@example.org")


@pytest.fixture(autouse=True)
def network(monkeypatch) -> Network:
    return guard_network(monkeypatch)


@pytest.fixture
def dns():
    return default_dns()


@pytest.fixture
def source_site() -> Iterator[FakeSite]:
    with FakeSite() as site:
        yield site


def make_fetcher(dns, **kw) -> Fetcher:
    timeout = kw.pop("timeout", 2.0)
    settings = FetchSettings(
        allow_private=False, timeout=timeout, max_bytes=kw.pop("max_bytes", MB)
    )
    return Fetcher(settings, resolver=dns, per_host_per_minute=1000, **kw)


@pytest.fixture(autouse=True)
def fetcher(ctx, dns) -> Fetcher:
    ctx.extras["fetcher"] = make_fetcher(dns)
    return ctx.extras["fetcher"]


def page(body: str, status: int = 200, ctype: str = "text/html; charset=utf-8", **headers):
    return lambda h: send(h, status, body.encode(), ctype, **headers)


def serve(site: FakeSite, path: str, body: str, **kw) -> str:
    """Put a page on the source site; returns its public URL."""
    site.routes[path] = page(body, **kw)
    return site.url(path)


def linking(target: str = TARGET, title: str = "A reply", extra: str = "") -> str:
    return (f"<!doctype html><title>{title}</title><body><p>Some words before. "
            f"As <a href='{target}'>this post</a> says, words after.</p>{extra}</body>")  # fmt: skip


def verify(session, database, ctx) -> list[float | None]:
    """Run every verification job that is due, as the worker does after the commit."""
    session.flush()
    due = session.scalars(
        select(OutboxEntry.id).where(OutboxEntry.kind == verification.VERIFY,
                                     OutboxEntry.done_at.is_(None))
    ).all()  # fmt: skip
    delays = [outbox.run_entry(database, ctx, entry_id) for entry_id in due]
    session.expire_all()
    return delays


def events(session, comment) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(ModerationEvent).where(ModerationEvent.comment_id == comment.id)
        .order_by(ModerationEvent.id)
    )  # fmt: skip
    return [(e.action, e.to_status.value, e.reason) for e in rows]


def pingback(session, ctx, clock, source: str, target: str = TARGET) -> Comment:
    clock.advance(60)
    return service.receive_pingback(session, ctx, source, target, PINGER)


def webmention(session, ctx, clock, source: str, target: str = TARGET) -> Comment:
    clock.advance(60)
    return service.receive_webmention(session, ctx, source, target, PINGER)


def trackback(session, ctx, clock, url: str, uri: str = "/post/", **fields) -> Comment:
    clock.advance(60)
    ping = lb.parse_trackback({"url": url, **fields})
    return service.receive_trackback(session, ctx, "blog", uri, ping, PINGER)


# --- receipt ---------------------------------------------------------------------------------------


def test_tb_10_trackback_stored_pending_with_its_spam_check_and_a_verification_job(
    session, ctx, clock
):
    comment = trackback(session, ctx, clock, "http://public.test/reply", title="My <b>reply</b>",
                        excerpt="It was <i>good</i> & short.", blog_name="Pinger's Blog")  # fmt: skip
    assert (comment.kind, comment.status, comment.verified) == (CommentKind.trackback,
                                                                CommentStatus.pending, None)  # fmt: skip
    assert (comment.author, comment.website, comment.source) == (
        "Pinger's Blog", "http://public.test/reply", "http://public.test/reply")  # fmt: skip
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


def test_tb_11_title_and_blog_name_never_rendered_as_html(session, ctx, clock):
    comment = trackback(session, ctx, clock, "http://public.test/x",
                        title="&lt;script&gt;alert(1)&lt;/script&gt;", blog_name="<img src=x>B")  # fmt: skip
    assert "<script" not in comment.html
    assert "&lt;script&gt;" in comment.html
    assert comment.author == "B"


def test_tb_9_duplicate_same_thread_and_source_refused(session, ctx, clock):
    trackback(session, ctx, clock, "http://public.test/a")
    with pytest.raises(Duplicate, match="already a ping from that URL"):
        trackback(session, ctx, clock, "http://public.test/a", title="again")
    assert trackback(session, ctx, clock, "http://public.test/a", uri="/other/").id  # another post
    assert trackback(session, ctx, clock, "http://public.test/b").id  # another source


def test_tb_9_duplicate_counts_spam_and_other_protocols_too(session, ctx, clock):
    comment = pingback(session, ctx, clock, "http://public.test/a")
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    with pytest.raises(Duplicate):
        trackback(session, ctx, clock, "http://public.test/a")


def test_tb_8_closed_thread_refused_and_nothing_written(session, ctx, clock):
    make_thread(session, uri="/post/", closed=True)
    with pytest.raises(ThreadClosed):
        trackback(session, ctx, clock, "http://public.test/a")
    with pytest.raises(ThreadClosed):
        pingback(session, ctx, clock, "http://public.test/a")
    with pytest.raises(ThreadClosed):
        webmention(session, ctx, clock, "http://public.test/a")
    assert session.scalars(select(Comment)).all() == []
    assert session.scalars(select(OutboxEntry)).all() == []


def test_tb_d5_pings_from_one_ip_keep_the_flood_gap_on_every_protocol(session, ctx, clock):
    """WordPress's flood rule keys pings by the pinging server's IP (15 s in these settings)."""
    clock.advance(60)
    service.receive_pingback(session, ctx, "http://public.test/a", TARGET, PINGER)
    clock.advance(5)
    with pytest.raises(RateLimited) as refused:
        service.receive_webmention(session, ctx, "http://public.test/b", TARGET, PINGER)
    assert refused.value.retry_after == 10
    ping = lb.parse_trackback({"url": "http://public.test/c"})
    with pytest.raises(RateLimited):
        service.receive_trackback(session, ctx, "blog", "/post/", ping, PINGER)
    other = ClientInfo(ip="198.51.100.99", user_agent="Another/1.0")
    assert service.receive_trackback(session, ctx, "blog", "/post/", ping, other).id
    clock.advance(11)
    assert service.receive_webmention(session, ctx, "http://public.test/b", TARGET, PINGER).id


def test_tb_d6_threads_close_after_n_days(session, tmp_path, clock, database):
    ctx = build_ctx(tmp_path, clock, database, **{"sites.blog.close_after_days": 14})
    make_thread(session, uri="/post/", created_at=clock.now - timedelta(days=15))
    with pytest.raises(ThreadClosed):
        pingback(session, ctx, clock, "http://public.test/a")


def test_tb_unknown_site_or_bad_page_refused(session, ctx, clock):
    ping = lb.parse_trackback({"url": "http://public.test/a"})
    with pytest.raises(lb.LinkbackRefused, match="no such site"):
        service.receive_trackback(session, ctx, "nope", "/post/", ping, PINGER)
    with pytest.raises(lb.LinkbackRefused):
        service.receive_trackback(session, ctx, "blog", "/a b/", ping, PINGER)
    with pytest.raises(lb.LinkbackRefused, match="cannot ping itself"):
        trackback(session, ctx, clock, TARGET)


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
def test_pb_5_6_bad_source_or_target_gets_its_fault(session, ctx, clock, source, target, fault):
    with pytest.raises(lb.LinkbackRefused) as refused:
        pingback(session, ctx, clock, source, target)
    assert refused.value.fault == fault


def test_pb_8_duplicate_pingback_refused(session, ctx, clock):
    pingback(session, ctx, clock, "http://public.test/a")
    with pytest.raises(Duplicate):
        pingback(session, ctx, clock, "http://public.test/a")


def test_wm_6_target_of_the_longest_matching_site_and_fragment_ignored(session, tmp_path, clock,
                                                                       database):  # fmt: skip
    ctx = build_ctx(tmp_path, clock, database, **{"sites.docs": {
        "url": "https://blog.example.org/docs", "origins": ["https://blog.example.org"]}})  # fmt: skip
    comment = webmention(session, ctx, clock, "http://public.test/a",
                         "https://blog.example.org/docs/intro/#part-2")  # fmt: skip
    assert (comment.thread.site, comment.thread.uri) == ("docs", "/intro/")


def test_linkback_never_approved_before_verification(session, ctx, clock):
    ctx.scorers = [FixedScorer(Verdict.ham, -5.0)]
    comment = webmention(session, ctx, clock, "http://public.test/a")
    assert comment.status is CommentStatus.pending


# --- verification ---------------------------------------------------------------------------------


def test_tb_d1_verified_source_links_back_and_is_approved(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/reply", linking())
    comment = trackback(session, ctx, clock, url, title="Reply", excerpt="Nice.", blog_name="B")
    assert verify(session, database, ctx) == [None]
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)
    assert events(session, comment)[-1] == ("approve", "approved",
                                            "source links to the target; scored ham")  # fmt: skip
    assert comment.text == "Reply\n\nNice."  # the sender's words are kept
    assert comment.thread.approved_count == 1
    assert source_site.requests[0].headers["User-Agent"].startswith("moderation/")


def latest_signals(session, comment) -> dict[str, dict]:
    check = session.scalars(
        select(SpamCheck).where(SpamCheck.comment_id == comment.id).order_by(SpamCheck.id.desc())
    ).first()
    return {signal["name"]: signal for signal in check.signals}


def test_tb_d2_ping_from_an_address_the_source_host_lacks_is_flagged_not_refused(
    session, database, tmp_path, clock, source_site
):
    ctx = build_ctx(tmp_path, clock, database)  # with the rules
    url = serve(source_site, "/reply", linking())
    comment = trackback(session, ctx, clock, url, title="Reply", excerpt="Nice.", blog_name="B")
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved  # a nudge, not a refusal
    reason = latest_signals(session, comment)["rules.ping_origin"]["reason"]
    assert reason == f"pinged from {PINGER.ip}, not an address of public.test ({PUBLIC})"

    clock.advance(60)
    ping = lb.parse_trackback({"url": serve(source_site, "/own", linking()), "title": "Own"})
    own = service.receive_trackback(session, ctx, "blog", "/post/", ping,
                                    ClientInfo(ip=PUBLIC, user_agent="WordPress/6.5"))  # fmt: skip
    verify(session, database, ctx)
    assert "rules.ping_origin" not in latest_signals(session, own)


def test_tb_trackback_without_blog_name_gets_the_sources_author(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/reply", linking(title="Pinger's page"))
    comment = trackback(session, ctx, clock, url, excerpt="An excerpt")
    assert comment.author == "public.test"
    verify(session, database, ctx)
    assert comment.author == "Pinger's page"


def test_pb_10_pingback_takes_title_and_text_around_the_link(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/p", linking(title="Their <em>post</em>"))
    comment = pingback(session, ctx, clock, url)
    assert comment.text == ""
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    assert comment.author == "Their post"
    assert comment.text == "Some words before. As this post says, words after."
    assert comment.html == "<p>Some words before. As this post says, words after.</p>"
    assert comment.website == url


def test_wm_13_h_entry_gives_author_title_and_sanitized_content(
    session, database, ctx, clock, source_site
):
    body = f"""<html><title>Page title</title><body><div class="h-entry">
      <a class="p-author h-card" href="/me">Ann <b>Author</b></a>
      <h1 class="p-name">Re: the post</h1>
      <div class="e-content"><p>I <strong>agree</strong> with
        <a class="u-in-reply-to" href="{TARGET}">this</a>.
        <script>alert(1)</script><img src=x onerror=alert(2)></p></div>
    </div></body></html>"""
    comment = webmention(session, ctx, clock, serve(source_site, "/reply", body))
    verify(session, database, ctx)
    assert comment.author == "Ann Author"
    assert comment.text.startswith("Re: the post\n\nI agree with this.")
    assert comment.html.startswith(
        "<p><strong>Re: the post</strong></p><p>I <strong>agree</strong>"
    )
    assert "script" not in comment.html
    assert "onerror" not in comment.html
    assert f'<a href="{TARGET}" rel="nofollow ugc noopener">this</a>' in comment.html


def test_wm_13_a_like_reads_as_a_like(session, database, ctx, clock, source_site):
    body = (f'<div class="h-entry"><a class="p-author h-card" href="/">Bo</a> liked '
            f'<a class="u-like-of" href="{TARGET}">this post</a></div>')  # fmt: skip
    comment = webmention(session, ctx, clock, serve(source_site, "/like", body))
    verify(session, database, ctx)
    assert (comment.author, comment.text, comment.html) == ("Bo", "liked this",
                                                            "<p>liked this</p>")  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        "<p>No link at all.</p>",
        f"<!-- <a href='{TARGET}'>hidden</a> --><p>{TARGET}</p>",
        f"<a href='{TARGET}extra'>almost</a>",
    ],
)
def test_wm_12_source_without_an_exact_link_is_spam_with_the_reason(
    session, database, ctx, clock, source_site, body
):
    url = serve(source_site, "/spam", body)
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (False, CommentStatus.spam)
    action, status, reason = events(session, comment)[-1]
    assert (action, status) == ("spam", "spam")
    assert reason == f"source does not link to the target: no link to {TARGET} on {url}"


def blocked_sources(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/reply", "http://10.0.0.1/reply",
            "http://169.254.169.254/latest/meta-data/", f"http://[::1]:{port}/reply",
            "http://intranet.test/reply"]  # fmt: skip


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("via_redirect", [False, True], ids=["direct", "redirect"])
def test_wm_s3_private_sources_rejected_before_any_connection(
    session, database, ctx, clock, source_site, network, index, via_redirect
):
    source_site.routes["/reply"] = page(linking())
    blocked = blocked_sources(source_site.port)[index]
    source_site.routes["/go"] = lambda h: send(h, 302, Location=blocked)
    source = source_site.url("/go") if via_redirect else blocked
    comment = webmention(session, ctx, clock, source)
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (False, CommentStatus.spam)
    reason = events(session, comment)[-1][2]
    assert reason.startswith("source does not link to the target: the source was not fetched: ")
    assert "non-public address" in reason
    assert network.connects == ([(PUBLIC, source_site.port)] if via_redirect else [])
    assert [r.path for r in source_site.requests] == (["/go"] if via_redirect else [])


def test_wm_s2_slow_source_is_retried_then_rejected(
    session, database, ctx, clock, source_site, dns
):
    ctx.extras["fetcher"] = make_fetcher(dns, timeout=0.5)
    source_site.routes["/slow"] = drip_body
    comment = webmention(session, ctx, clock, source_site.url("/slow"))
    assert verify(session, database, ctx) == [60.0]  # down: tried again in a minute
    assert (comment.status, comment.verified) == (CommentStatus.pending, None)
    (job,) = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == verification.VERIFY))
    assert re.search("timed out|deadline", job.last_error)
    clock.advance(service.GIVE_UP_AFTER.total_seconds())
    assert verify(session, database, ctx) == [None]
    assert (comment.status, comment.verified) == (CommentStatus.spam, False)
    reason = events(session, comment)[-1][2]
    assert re.search(
        "could not fetch the source: (timed out|the fetch ran past its deadline)", reason
    )


def test_wm_s2_fifty_megabyte_source_cut_off_at_the_cap(session, database, ctx, clock, source_site):
    source_site.routes["/huge"] = huge
    comment = webmention(session, ctx, clock, source_site.url("/huge"))
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert f"(in its first {MB} characters)" in events(session, comment)[-1][2]
    assert source_site.huge_done.wait(5)
    assert source_site.huge_sent < 25 * MB


def test_wm_11_source_down_then_up_is_verified_on_the_retry(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/flaky", "<p>busy</p>", status=503)
    comment = pingback(session, ctx, clock, url)
    assert verify(session, database, ctx) == [60.0]
    serve(source_site, "/flaky", linking())
    clock.advance(61)
    assert verify(session, database, ctx) == [None]
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (page("{}", ctype="application/json"), "not an HTML page"),
        # a non-text "charset" is ignored (decoded as UTF-8), so this page is read and has no link
        (page("<p>x</p>", ctype="text/html; charset=base64"), "no link to"),
    ],
)
def test_wm_11_unusable_source_rejected(session, database, ctx, clock, source_site, route, reason):
    source_site.routes["/odd"] = route
    comment = pingback(session, ctx, clock, source_site.url("/odd"))
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert reason in events(session, comment)[-1][2]


def test_spam_verdict_stays_spam_after_verification(session, database, ctx, clock, source_site):
    ctx.scorers = [FixedScorer(Verdict.spam)]
    comment = webmention(session, ctx, clock, serve(source_site, "/r", linking()))
    assert comment.status is CommentStatus.spam
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.spam)
    assert events(session, comment)[-1][:2] == ("verify", "spam")
    assert len(comment.checks) == 2  # scored again with the source's content


def test_verified_linkback_waits_under_first_time_and_all_policies(
    session, database, ctx, clock, source_site
):
    comment = webmention(session, ctx, clock, serve(source_site, "/r", linking(
        "https://other.example.net/page/")), "https://other.example.net/page/")  # fmt: skip
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.pending)
    assert events(session, comment)[-1] == (
        "verify", "pending", "source links to the target; first comment of this author")  # fmt: skip


# --- updates and removals (WM-15, WM-16) -------------------------------------------------------------


def test_wm_16_source_gone_410_deletes_the_mention(session, database, ctx, clock, source_site):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    serve(source_site, "/r", "<p>gone</p>", status=410)
    assert webmention(session, ctx, clock, url).id == comment.id
    verify(session, database, ctx)
    assert (comment.status, comment.verified) == (CommentStatus.deleted, False)
    assert comment.thread.approved_count == 0
    status = service.webmention_status(session, ctx, service.status_token(ctx, comment))
    assert status["status"] == "deleted"
    assert status["reason"] == "source does not link to the target: the source is gone (HTTP 410)"


def test_wm_15_resent_after_the_link_was_removed_is_removed(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    serve(source_site, "/r", "<p>I took the link out.</p>")
    again = webmention(session, ctx, clock, url)
    assert again.id == comment.id
    assert session.scalars(select(Comment)).all() == [comment]  # updated, not a second mention
    token = service.status_token(ctx, comment)
    assert service.webmention_status(session, ctx, token)["status"] == "pending"
    verify(session, database, ctx)
    assert comment.status is CommentStatus.deleted
    assert events(session, comment)[-1][2].startswith("source no longer links to the target: ")


def test_wm_15_resent_with_new_content_updates_the_mention(session, database, ctx, clock,
                                                           source_site):  # fmt: skip
    url = serve(source_site, "/r", linking(title="First title"))
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    version = comment.thread.version
    serve(source_site, "/r", linking(title="Edited title"))
    webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.status, comment.author) == (CommentStatus.approved, "Edited title")
    assert comment.thread.version > version


def test_wm_15_resent_content_that_scores_unsure_goes_back_to_the_queue(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    ctx.scorers = [FixedScorer(Verdict.unsure)]
    webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.pending
    assert events(session, comment)[-1] == ("hold", "pending",
                                            "source links to the target; scored unsure")  # fmt: skip


def test_wm_15_removed_by_the_system_comes_back_when_the_link_does(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", "<p>not yet</p>")
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    serve(source_site, "/r", linking())
    webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)
    serve(source_site, "/r", "<p>gone</p>", status=410)
    webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.deleted
    serve(source_site, "/r", linking())
    webmention(session, ctx, clock, url)
    assert comment.status is CommentStatus.pending  # restored to the queue, then verified
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved


def test_wm_15_removed_by_a_moderator_stays_removed(session, database, ctx, clock, source_site):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, ctx, clock, url)
    apply_action(session, ctx, comment, Action.delete, MODERATOR, "no thanks")
    webmention(session, ctx, clock, url)
    assert verify(session, database, ctx) == [None]
    assert comment.status is CommentStatus.deleted
    assert source_site.requests == []


def test_wm_16_published_mention_kept_while_its_source_is_down(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, ctx, clock, url)
    verify(session, database, ctx)
    serve(source_site, "/r", "<p>not found</p>", status=404)
    webmention(session, ctx, clock, url)
    clock.advance(service.GIVE_UP_AFTER.total_seconds() + 1)  # its only try is past the limit
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    assert events(session, comment)[-1] == (
        "verify", "approved", "re-verification failed: the source answered HTTP 404")  # fmt: skip


def test_moderator_decision_in_the_meantime_stands(session, database, ctx, clock, source_site):
    comment = pingback(session, ctx, clock, serve(source_site, "/r", "<p>no link</p>"))
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert events(session, comment)[-1][0] == "verify"


# --- the status resource ----------------------------------------------------------------------------


def test_wm_14_status_resource_follows_verification(session, database, ctx, clock, source_site):
    comment = webmention(session, ctx, clock, serve(source_site, "/r", linking()))
    token = service.status_token(ctx, comment)
    assert service.webmention_status(session, ctx, token) == {
        "status": "pending", "published": False, "source": comment.source, "target": TARGET,
        "reason": None}  # fmt: skip
    verify(session, database, ctx)
    assert service.webmention_status(session, ctx, token)["status"] == "verified"
    assert service.webmention_status(session, ctx, token)["published"] is True


@pytest.mark.parametrize("token", ["", "1", "eyJhIjoxfQ.bad", "MQ.x" * 40])
def test_wm_14_status_resource_refuses_forged_tokens(session, ctx, clock, token):
    comment = webmention(session, ctx, clock, "http://public.test/r")
    with pytest.raises(NotFound):
        service.webmention_status(session, ctx, token)
    forged = service.status_token(ctx, comment)[:-2] + "xx"
    with pytest.raises(NotFound):
        service.webmention_status(session, ctx, forged)


# --- the production pipeline (rules, classifier, Akismet) -------------------------------------------------


def build_ctx(tmp_path, clock, database, **overrides):
    from moderation.jobs import Jobs

    # Rules and Akismet; the shared classifier needs the built base model, which is not at issue here.
    overrides = {"jobs.immediate": False, "spam.classifier": False, **overrides}
    settings = make_settings(tmp_path, **overrides)
    ctx = build_context(settings)
    ctx.clock = clock
    Jobs(settings, database, ctx)
    ctx.extras["fetcher"] = make_fetcher(default_dns())
    return ctx


@pytest.fixture
def akismet() -> Iterator[FakeAkismet]:
    with FakeAkismet() as fake:
        yield fake


RECEIVE: dict[str, Callable[..., Comment]] = {
    "trackback": lambda s, c, k, url: trackback(s, c, k, url, title="T", excerpt="Nice post."),
    "pingback": pingback,
    "webmention": webmention,
}


@pytest.mark.parametrize("kind", RECEIVE)
def test_pipeline_akismet_sees_the_linkback_kind_before_and_after_verification(
    session, database, tmp_path, clock, source_site, akismet, kind
):
    ctx = build_ctx(tmp_path, clock, database, **{"akismet.key": FAKE_KEY,
                    "akismet.endpoint": akismet.url, "akismet.timeout": 1.0})  # fmt: skip
    comment = RECEIVE[kind](session, ctx, clock, serve(source_site, "/r", linking()))
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
    ctx = build_ctx(tmp_path, clock, database, **{"akismet.key": FAKE_KEY,
                    "akismet.endpoint": akismet.url, "akismet.timeout": 1.0})  # fmt: skip
    comment = webmention(session, ctx, clock, serve(source_site, "/r", "<p>no link here</p>"))
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
    comment = pingback(session, ctx, clock, serve(source_site, "/r", linking()))
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
    site.post_routes.update({
        "/wm-endpoint?x=1": lambda h, b: send(h, 202, b"queued", "text/plain"),
        "/xmlrpc": lambda h, b: send(h, body=lb.xmlrpc_success("thanks").encode(), ctype="text/xml"),
        "/xmlrpc-dup": lambda h, b: send(h, body=lb.xmlrpc_fault(48, "dup").encode(),
                                         ctype="text/xml"),
        "/tb-ping": lambda h, b: send(h, body=lb.trackback_response().encode(), ctype="text/xml"),
    })  # fmt: skip
    return site.url("/post")


def test_send_discovers_webmention_then_pingback_then_trackback(receivers, dns):
    other = lambda path: receivers.url(path, "other.test")  # noqa: E731
    links = "".join(f'<a href="{other(p)}">{p}</a> ' for p in
                    ["/wm-header", "/wm-html", "/pb-header", "/pb-html", "/pb-dup", "/tb",
                     "/nothing", "/missing", "/evil", "/wm-header#again"])  # fmt: skip
    post = fake_receivers(receivers, f"<title>My post</title><p>Links: {links}</p>"
                                     f"<a href='/post'>self</a><a href='mailto:x@y.z'>m</a>")  # fmt: skip
    fetcher = make_fetcher(dns)
    poster = sending.Poster(FetchSettings(allow_private=False, timeout=2.0), resolver=dns)
    sent = {s.target: s for s in sending.send_linkbacks(fetcher, poster, post)}
    assert list(sent) == [other(p) for p in ["/wm-header", "/wm-html", "/pb-header", "/pb-html",
                                            "/pb-dup", "/tb", "/nothing", "/missing", "/evil"]]  # fmt: skip
    summary = {p: (sent[other(p)].protocol, sent[other(p)].ok) for p in
               ["/wm-header", "/wm-html", "/pb-header", "/pb-html", "/pb-dup", "/tb", "/nothing",
                "/missing", "/evil"]}  # fmt: skip
    assert summary == {
        "/wm-header": ("webmention", True), "/wm-html": ("webmention", True),
        "/pb-header": ("pingback", True), "/pb-html": ("pingback", True),
        "/pb-dup": ("pingback", True), "/tb": ("trackback", True), "/nothing": (None, False),
        "/missing": (None, False), "/evil": (None, False),
    }  # fmt: skip
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
    post = fake_receivers(receivers, f"""<nav><a href="{receivers.url('/nothing', 'other.test')}">
        nav</a></nav><article class="h-entry"><div class="e-content">See
        <a href="{receivers.url('/wm-html', 'other.test')}">this</a>.</div></article>""")  # fmt: skip
    poster = sending.Poster(FetchSettings(timeout=2.0), resolver=dns)
    sent = sending.send_linkbacks(make_fetcher(dns), poster, post)
    assert [(s.target, s.protocol) for s in sent] == [
        (receivers.url("/wm-html", "other.test"), "webmention")]  # fmt: skip


def test_send_poster_refuses_private_endpoints_without_connecting(network, dns):
    poster = sending.Poster(FetchSettings(timeout=1.0), resolver=dns)
    for url in ["http://127.0.0.1:9/x", "http://[::1]/x", "http://intranet.test/x"]:
        with pytest.raises(BlockedAddress, match="non-public"):
            poster.post(url, b"", "text/plain")
    assert network.connects == []


def test_verify_handler_is_registered():
    assert verification.VERIFY in outbox.HANDLERS


def test_wm_s4_one_verification_job_per_receipt(session, ctx, clock):
    webmention(session, ctx, clock, "http://public.test/a")
    webmention(session, ctx, clock, "http://public.test/a")
    jobs = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == verification.VERIFY)).all()
    assert len(jobs) == 2
    assert {j.payload["comment_id"] for j in jobs} == {session.scalars(select(Comment.id)).one()}
