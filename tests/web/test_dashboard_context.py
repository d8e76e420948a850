"""The dashboard's context and plain words, through Flask's test client on SQLite and PostgreSQL: a
reply shows the comment it answers (queue and detail page, one query for a whole page), the detail
page shows the thread around it, verdicts are sentences that agree with the comment's status, the
Spam tab names its actions by what they do, and one action shows one banner."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind
from moderation.models import ModerationEvent, SpamCheck
from tests.factories import make_comment
from tests.web.dashboard_helpers import S, pending, text

pytestmark = pytest.mark.usefixtures("fast_hashes")


def reply_to(session, parent, text_="Yes, I agree with you.", **kw):
    return pending(session, parent.thread, parent_id=parent.id, text=text_, **kw)


def test_a_reply_in_the_queue_shows_what_it_answers(as_moderator, session, thread):
    parent = make_comment(
        session,
        thread,
        author="Petra",
        text="Tabs are **better** than spaces for indentation.\n\nSecond paragraph.",
    )
    reply = reply_to(session, parent, author="Rob")
    html = text(as_moderator.get("/moderate/"))
    row = html[html.index(f'id="c{reply.id}"') :]
    context = re.search(r'<p class="reply-to">(.*?)</p>', row, re.S).group(1)
    assert "In reply to" in context
    assert f'href="/moderate/comments/{parent.id}"' in context
    assert "Petra" in context
    assert "badge-approved" in context
    assert "Tabs are better than spaces for indentation." in context
    assert "Second paragraph" not in context  # the first paragraph only
    assert "<strong>" not in context  # text, not HTML


def test_a_top_level_comment_has_no_reply_context(as_moderator, session, thread):
    pending(session, thread)
    assert 'class="reply-to"' not in text(as_moderator.get("/moderate/"))


def test_parents_for_a_whole_page_cost_the_same_queries_as_for_one(
    as_moderator, session, thread, database
):
    parent = make_comment(session, thread, author="Petra")

    def statements_for_queue() -> int:
        sent: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            sent.append(statement)

        event.listen(database.reader, "before_cursor_execute", record)
        try:
            assert as_moderator.get("/moderate/").status_code == 200
        finally:
            event.remove(database.reader, "before_cursor_execute", record)
        return len(sent)

    reply_to(session, parent)
    one = statements_for_queue()
    for i in range(8):
        other = make_comment(session, thread, author=f"P{i}")
        reply_to(session, other)
    assert statements_for_queue() == one


def test_the_detail_page_shows_the_thread_around_it(as_moderator, session, thread):
    top = make_comment(session, thread, author="Top", text="Where it all began.")
    middle = make_comment(session, thread, author="Middle", text="A middle word.", parent_id=top.id)
    held = reply_to(session, middle, author="Held")
    answer = make_comment(session, thread, author="Answer", text="An answer.", parent_id=held.id)
    spam = make_comment(
        session, thread, author="Spammer", text="Buy now.", parent_id=held.id, status=S.spam
    )
    html = text(as_moderator.get(f"/moderate/comments/{held.id}"))
    start = html.index('class="detail-head"')
    head = html[start : html.index("</header>", start)]
    assert "In reply to" in head
    assert "Middle" in head
    assert "A middle word." in head
    around = re.search(r'<section class="panel" id="around">(.*?)</section>', html, re.S).group(1)
    order = [around.index(s) for s in ("Where it all began.", "A middle word.", "This comment")]
    assert order == sorted(order)  # from the top down to this comment
    for other in (top, middle, answer, spam):
        assert f'href="/moderate/comments/{other.id}"' in around
    assert "An answer." in around
    assert "Buy now." in around
    assert "badge-spam" in around


def test_the_parent_chain_stops_at_five(as_moderator, session, thread):
    comment = make_comment(session, thread, text="level 0")
    for level in range(1, 8):
        comment = make_comment(session, thread, text=f"level {level}", parent_id=comment.id)
    html = text(as_moderator.get(f"/moderate/comments/{comment.id}"))
    around = re.search(r'<section class="panel" id="around">(.*?)</section>', html, re.S).group(1)
    assert "level 6" in around
    assert "level 2" in around
    assert "level 1" not in around
    assert "earlier comments above" in around


def add_check(session, comment, verdict, score, signals):
    session.add(
        SpamCheck(
            comment_id=comment.id, verdict=verdict, score=score, signals=signals, submitted={}
        )
    )
    session.flush()


def add_event(session, comment, actor, action, reason):
    session.add(
        ModerationEvent(
            comment_id=comment.id,
            actor=actor,
            action=action,
            from_status=None,
            to_status=comment.status,
            reason=reason,
        )
    )
    session.flush()


def test_spam_is_said_in_words_with_the_raw_signals_behind_a_disclosure(
    as_moderator, session, thread
):
    spam = make_comment(session, thread, status=S.spam, text="Watch my videos bit.ly/x")
    add_check(
        session,
        spam,
        Verdict.spam,
        8.0,
        [
            {"name": "rules.shortener", "score": 3.0, "reason": '"bit.ly/x"'},
            {"name": "rules.promo", "score": 2.0, "reason": '"watch my videos"'},
            {"name": "classifier", "score": 3.0, "reason": "classifier: 0.93 spam probability"},
        ],
    )
    add_event(session, spam, "system", "create", "scored spam")
    html = text(as_moderator.get("/moderate/?status=spam"))
    sentence = "Probably spam: links to a URL shortener, promotional phrases, and the classifier&#39;s 93\N{NO-BREAK SPACE}%"
    assert f'<p class="words words-spam">{sentence}</p>' in html
    raw = re.search(r'<details class="raw-signals">(.*?)</details>', html, re.S).group(1)
    assert "rules.shortener" in raw
    assert "verdict-spam" in raw


def test_imported_comments_say_so(as_moderator, session, thread):
    imported = make_comment(session, thread, import_source="wordpress", import_id="12")
    add_event(session, imported, "import:wordpress", "import", "imported (wordpress 12)")
    html = text(as_moderator.get("/moderate/?status=approved"))
    assert '<p class="words words-ok">Imported from WordPress</p>' in html
    detail = text(as_moderator.get(f"/moderate/comments/{imported.id}"))
    assert "Imported from WordPress" in detail


def test_an_unverified_trackback_in_spam_never_says_ham(as_moderator, session, thread):
    ping = make_comment(
        session,
        thread,
        status=S.spam,
        kind=CommentKind.trackback,
        source="https://elsewhere.example/post",
        verified=False,
    )
    add_check(
        session,
        ping,
        Verdict.ham,
        -0.3,
        [{"name": "classifier", "score": -0.3, "reason": "classifier: 0.10 spam probability"}],
    )
    add_event(session, ping, "system", "spam", "source does not link to the target: no link")
    html = text(as_moderator.get("/moderate/?status=spam"))
    row = html[html.index(f'id="c{ping.id}"') :]
    words = re.search(r'<p class="words words-(\w+)">(.*?)</p>', row).groups()
    assert words == ("spam", "Linkback not verified: the source does not link here")
    assert "Looks fine" not in row


def test_a_moderators_decision_is_named(as_moderator, session, thread):
    comment = pending(session, thread)
    as_moderator.post(f"/moderate/comments/{comment.id}/approve")
    html = text(as_moderator.get(f"/moderate/comments/{comment.id}"))
    assert '<p class="words words-ok">Approved by mod@example.org</p>' in html


def test_the_spam_tab_names_its_actions_by_what_they_do(as_moderator, session, thread):
    spam = make_comment(session, thread, status=S.spam)
    html = text(as_moderator.get("/moderate/?status=spam"))
    toolbar = re.search(r'<span class="bulk-buttons">(.*?)</span>', html, re.S).group(1)
    labels = re.findall(r">([^<>]+)</button>", toolbar)
    assert labels == [
        "Not spam (publish and teach the filter)",
        "Publish",
        "Back to the queue",
        "Delete",
    ]
    row = html[html.index(f'id="c{spam.id}"') :]
    for label in labels:
        assert f">{label}</button>" in row
    assert "Unapprove" not in html
    # the other tabs keep their words
    approved = text(as_moderator.get("/moderate/?status=approved"))
    assert ">Unapprove</button>" in approved


@pytest.mark.parametrize(
    "path",
    ["approve", "approve-and-trust", "spam", "delete"],
)
def test_one_action_shows_one_banner(as_moderator, session, thread, path):
    comment = pending(session, thread, author="Zoe", email="zoe@example.org")
    html = text(as_moderator.post(f"/moderate/comments/{comment.id}/{path}", follow=True))
    notices = re.search(r'<div class="notices"[^>]*>(.*?)\n  </div>', html, re.S).group(1)
    assert len(re.findall(r'class="notice ', notices)) == 1, notices
    assert len(re.findall(r'id="undo-form"', notices)) == 1
    assert "Last action:" not in notices  # the undo rides in the action's banner
    assert notices.strip().startswith('<div class="banner')
    if path == "approve-and-trust":
        assert "1 comment approved. Its author is trusted now" in notices


def test_the_undo_bar_alone_on_the_next_page(as_moderator, session, thread):
    comment = pending(session, thread)
    as_moderator.post(f"/moderate/comments/{comment.id}/approve", follow=True)
    html = text(as_moderator.get("/moderate/"))
    notices = re.search(r'<div class="notices"[^>]*>(.*?)\n  </div>', html, re.S).group(1)
    assert 'class="notice ' not in notices
    assert "Last action: 1 comment approved." in notices


def test_a_search_from_pending_points_at_its_matches_in_other_tabs(session, as_moderator):
    from moderation.domain.states import CommentStatus
    from tests.factories import make_comment, make_thread

    thread = make_thread(session, uri="/search-elsewhere/")
    spam = make_comment(session, thread, text="Cheap zanzibar watches", status=CommentStatus.spam)
    make_comment(
        session, thread, text="I visited Zanzibar last year", status=CommentStatus.approved
    )
    page = as_moderator.get("/moderate/?status=pending&q=zanzibar").get_data(as_text=True)
    assert "No comments match." not in page
    assert "This search also matches:" in page
    assert "1 approved" in page
    assert "1 in Spam" in page
    assert "status=spam" in page
    spam_tab = as_moderator.get("/moderate/?status=spam&q=zanzibar").get_data(as_text=True)
    assert f"/moderate/comments/{spam.id}" in spam_tab
