"""Verifying linkback sources in the background: the link back, what the source's page gives the
comment, refused, slow and unusable sources, and resent mentions updating or removing their comment
(PROTOCOLS.md §1–3). Runs on SQLite and PostgreSQL.

Network rule: sources live on a `FakeSite` on 127.0.0.1, named ``public.test`` through a fake DNS
so the fetcher's SSRF guard (``allow_private = false``) accepts them; `guard_network` fails any
attempt to connect beyond loopback, so the private-address cases prove the fetcher refused them
before a packet left.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from moderation.domain import linkbacks as lb
from moderation.domain.scoring import Verdict
from moderation.domain.states import Action, CommentStatus
from moderation.models import Comment, OutboxEntry, SpamCheck
from moderation.services import linkbacks as service
from moderation.services import verification
from moderation.services.comments import ClientInfo
from moderation.services.moderation import apply_action
from tests.factories import FixedScorer, LockWatchingScorer
from tests.fakes.web_site import MB, PUBLIC, drip_body, huge, send
from tests.services.linkback_helpers import (
    MODERATOR,
    PINGER,
    TARGET,
    build_ctx,
    events,
    linking,
    make_fetcher,
    page,
    pingback,
    received,
    serve,
    trackback,
    verify,
    webmention,
)

# The network guard and the receiving side's fetcher, for every test (see conftest.py).
pytestmark = pytest.mark.usefixtures("network", "fetcher")


# --- verification ---------------------------------------------------------------------------------


def test_tb_d1_verified_source_links_back_and_is_approved(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/reply", linking())
    comment = trackback(
        session, database, ctx, clock, url, title="Reply", excerpt="Nice.", blog_name="B"
    )
    assert verify(session, database, ctx) == [None]
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)
    assert events(session, comment)[-1] == (
        "approve",
        "approved",
        "source links to the target; scored ham",
    )
    assert comment.text == "Reply\n\nNice."  # the sender's words are kept
    assert comment.thread.approved_count == 1
    assert source_site.requests[0].headers["User-Agent"].startswith("moderation/")


def test_scoring_on_receipt_and_verification_runs_with_no_write_lock_held(
    session, database, ctx, clock, source_site
):
    """Scorers may call Akismet, which may hang for its whole timeout: never under the lock."""
    watcher = LockWatchingScorer(database)
    ctx = replace(ctx, scorers=(*ctx.scorers, watcher))
    url = serve(source_site, "/reply", linking())
    comment = trackback(session, database, ctx, clock, url, title="Reply", excerpt="Hi.")
    assert verify(session, database, ctx) == [None]
    assert comment.verified is True
    assert watcher.held == [False, False]  # on receipt, then with the source's content


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
    comment = trackback(
        session, database, ctx, clock, url, title="Reply", excerpt="Nice.", blog_name="B"
    )
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved  # a nudge, not a refusal
    reason = latest_signals(session, comment)["rules.ping_origin"]["reason"]
    assert reason == f"pinged from {PINGER.ip}, not an address of public.test ({PUBLIC})"

    clock.advance(60)
    ping = lb.parse_trackback({"url": serve(source_site, "/own", linking()), "title": "Own"})
    own = received(
        session,
        database,
        ctx,
        service.prepare_trackback,
        "blog",
        "/post/",
        ping,
        ClientInfo(ip=PUBLIC, user_agent="WordPress/6.5"),
    )
    verify(session, database, ctx)
    assert "rules.ping_origin" not in latest_signals(session, own)


def test_tb_trackback_without_blog_name_gets_the_sources_author(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/reply", linking(title="Pinger's page"))
    comment = trackback(session, database, ctx, clock, url, excerpt="An excerpt")
    assert comment.author == "public.test"
    verify(session, database, ctx)
    assert comment.author == "Pinger's page"


def test_pb_10_pingback_takes_title_and_text_around_the_link(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/p", linking(title="Their <em>post</em>"))
    comment = pingback(session, database, ctx, clock, url)
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
    comment = webmention(session, database, ctx, clock, serve(source_site, "/reply", body))
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
    body = (
        f'<div class="h-entry"><a class="p-author h-card" href="/">Bo</a> liked '
        f'<a class="u-like-of" href="{TARGET}">this post</a></div>'
    )
    comment = webmention(session, database, ctx, clock, serve(source_site, "/like", body))
    verify(session, database, ctx)
    assert (comment.author, comment.text, comment.html) == ("Bo", "liked this", "<p>liked this</p>")


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
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (False, CommentStatus.spam)
    action, status, reason = events(session, comment)[-1]
    assert (action, status) == ("spam", "spam")
    assert reason == f"source does not link to the target: no link to {TARGET} on {url}"


def blocked_sources(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/reply",
        "http://10.0.0.1/reply",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::1]:{port}/reply",
        "http://intranet.test/reply",
    ]


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("via_redirect", [False, True], ids=["direct", "redirect"])
def test_wm_s3_private_sources_rejected_before_any_connection(
    session, database, ctx, clock, source_site, network, index, via_redirect
):
    source_site.routes["/reply"] = page(linking())
    blocked = blocked_sources(source_site.port)[index]
    source_site.routes["/go"] = lambda h: send(h, 302, Location=blocked)
    source = source_site.url("/go") if via_redirect else blocked
    comment = webmention(session, database, ctx, clock, source)
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
    ctx = replace(ctx, fetcher=make_fetcher(dns, timeout=0.5))
    source_site.routes["/slow"] = drip_body
    comment = webmention(session, database, ctx, clock, source_site.url("/slow"))
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
    comment = webmention(session, database, ctx, clock, source_site.url("/huge"))
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert f"(in its first {MB} characters)" in events(session, comment)[-1][2]
    assert source_site.huge_done.wait(5)
    assert source_site.huge_sent < 25 * MB


def test_wm_11_source_down_then_up_is_verified_on_the_retry(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/flaky", "<p>busy</p>", status=503)
    comment = pingback(session, database, ctx, clock, url)
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
    comment = pingback(session, database, ctx, clock, source_site.url("/odd"))
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert reason in events(session, comment)[-1][2]


def test_spam_verdict_stays_spam_after_verification(session, database, ctx, clock, source_site):
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.spam)])
    comment = webmention(session, database, ctx, clock, serve(source_site, "/r", linking()))
    assert comment.status is CommentStatus.spam
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.spam)
    assert events(session, comment)[-1][:2] == ("verify", "spam")
    assert len(comment.checks) == 2  # scored again with the source's content


def test_verified_linkback_waits_under_first_time_and_all_policies(
    session, database, ctx, clock, source_site
):
    comment = webmention(
        session,
        database,
        ctx,
        clock,
        serve(source_site, "/r", linking("https://other.example.net/page/")),
        "https://other.example.net/page/",
    )
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.pending)
    assert events(session, comment)[-1] == (
        "verify",
        "pending",
        "source links to the target; first comment of this author",
    )


# --- updates and removals (WM-15, WM-16) -------------------------------------------------------------


def test_wm_16_source_gone_410_deletes_the_mention(session, database, ctx, clock, source_site):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    serve(source_site, "/r", "<p>gone</p>", status=410)
    assert webmention(session, database, ctx, clock, url).id == comment.id
    verify(session, database, ctx)
    assert (comment.status, comment.verified) == (CommentStatus.deleted, False)
    assert comment.thread.approved_count == 0
    status = service.webmention_status(session, ctx, service.status_token(ctx, comment))
    assert status["status"] == "deleted"
    assert status["reason"] == "the source is gone"


def test_wm_15_resent_after_the_link_was_removed_is_removed(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    serve(source_site, "/r", "<p>I took the link out.</p>")
    again = webmention(session, database, ctx, clock, url)
    assert again.id == comment.id
    assert session.scalars(select(Comment)).all() == [comment]  # updated, not a second mention
    token = service.status_token(ctx, comment)
    assert service.webmention_status(session, ctx, token)["status"] == "pending"
    verify(session, database, ctx)
    assert comment.status is CommentStatus.deleted
    assert events(session, comment)[-1][2].startswith("source no longer links to the target: ")


def test_wm_15_resent_with_new_content_updates_the_mention(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking(title="First title"))
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    version = comment.thread.version
    serve(source_site, "/r", linking(title="Edited title"))
    webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.status, comment.author) == (CommentStatus.approved, "Edited title")
    assert comment.thread.version > version


def test_wm_15_resent_content_that_scores_unsure_goes_back_to_the_queue(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.unsure)])
    webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.pending
    assert events(session, comment)[-1] == (
        "hold",
        "pending",
        "source links to the target; scored unsure",
    )


def test_wm_15_removed_by_the_system_comes_back_when_the_link_does(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", "<p>not yet</p>")
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    serve(source_site, "/r", linking())
    webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert (comment.verified, comment.status) == (True, CommentStatus.approved)
    serve(source_site, "/r", "<p>gone</p>", status=410)
    webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.deleted
    serve(source_site, "/r", linking())
    webmention(session, database, ctx, clock, url)
    assert comment.status is CommentStatus.pending  # restored to the queue, then verified
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved


def test_wm_15_removed_by_a_moderator_stays_removed(session, database, ctx, clock, source_site):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, database, ctx, clock, url)
    apply_action(session, ctx, comment, Action.delete, MODERATOR, "no thanks")
    webmention(session, database, ctx, clock, url)
    assert verify(session, database, ctx) == [None]
    assert comment.status is CommentStatus.deleted
    assert source_site.requests == []


def test_wm_16_published_mention_kept_while_its_source_is_down(
    session, database, ctx, clock, source_site
):
    url = serve(source_site, "/r", linking())
    comment = webmention(session, database, ctx, clock, url)
    verify(session, database, ctx)
    serve(source_site, "/r", "<p>not found</p>", status=404)
    webmention(session, database, ctx, clock, url)
    clock.advance(service.GIVE_UP_AFTER.total_seconds() + 1)  # its only try is past the limit
    verify(session, database, ctx)
    assert comment.status is CommentStatus.approved
    assert events(session, comment)[-1] == (
        "verify",
        "approved",
        "re-verification failed: the source answered HTTP 404",
    )


def test_moderator_decision_in_the_meantime_stands(session, database, ctx, clock, source_site):
    comment = pingback(session, database, ctx, clock, serve(source_site, "/r", "<p>no link</p>"))
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    verify(session, database, ctx)
    assert comment.status is CommentStatus.spam
    assert events(session, comment)[-1][0] == "verify"
