"""The verdict in plain words: the sentence follows where the comment is and why, then what the
latest spam check found; and the first line of a comment's text."""

from __future__ import annotations

import pytest

from moderation.domain.states import CommentKind, CommentStatus
from moderation.domain.verdict_words import Check, Event, describe, first_line, join

S = CommentStatus
SPAMMY = Check(
    "spam",
    9.1,
    [
        {"name": "rules.shortener", "score": 3.0, "reason": '"bit.ly/x"'},
        {"name": "rules.promo", "score": 2.0, "reason": '"check out my channel"'},
        {"name": "rules.user_agent", "score": 0.5, "reason": "no user agent"},
        {"name": "classifier", "score": 4.2, "reason": "classifier: 0.93 spam probability"},
    ],
)
HAMMY = Check(
    "ham",
    -0.9,
    [{"name": "classifier", "score": -0.9, "reason": "classifier: 0.04 spam probability"}],
)
SYSTEM_SPAM = Event("system", "create", "scored spam")


def test_spam_names_its_strongest_signals_and_the_classifier():
    words = describe(S.spam, check=SPAMMY, event=SYSTEM_SPAM)
    assert words.sentence == (
        "Probably spam: links to a URL shortener, promotional phrases, no browser sent it, "
        "and the classifier's 93\N{NO-BREAK SPACE}%"
    )
    assert words.tone == "spam"


def test_ham_says_it_looks_fine():
    words = describe(S.approved, check=HAMMY, event=Event("system", "create", "scored ham"))
    assert words.sentence == "Looks fine: the classifier's 4\N{NO-BREAK SPACE}%"
    assert words.tone == "ok"


def test_first_time_author_is_held():
    event = Event("system", "create", "first comment of this author")
    assert describe(S.pending, check=HAMMY, event=event).sentence == "Held for a first-time author"


def test_a_moderators_decision_is_named_whatever_the_check_said():
    event = Event("moderator:mod@example.org", "approve", "")
    assert describe(S.approved, check=SPAMMY, event=event).sentence == "Approved by mod@example.org"
    event = Event("moderator:mod@example.org", "spam", "")
    words = describe(S.spam, check=HAMMY, event=event)
    assert (words.sentence, words.tone) == ("Marked as spam by mod@example.org", "spam")


def test_an_unreachable_akismet_waits_for_a_recheck():
    check = Check(
        "unsure",
        0.0,
        [{"name": "akismet.unavailable", "score": 0.0, "reason": "no answer: timed out"}],
    )
    words = describe(S.pending, check=check, recheck_reason="akismet: timed out")
    assert words.sentence == "Waiting: Akismet could not be reached; it will be checked again"


def test_an_unverified_linkback_in_spam_never_says_ham():
    event = Event("system", "spam", "source does not link to the target: no link to ...")
    words = describe(S.spam, kind=CommentKind.trackback, verified=False, check=HAMMY, event=event)
    assert words.sentence == "Linkback not verified: the source does not link here"
    assert words.tone == "spam"
    assert "fine" not in words.sentence.lower()
    assert "ham" not in words.sentence.lower()


def test_spam_by_a_ham_check_gives_the_audit_reason_not_the_checks_verdict():
    words = describe(S.spam, check=HAMMY, event=Event("system", "spam", "blocked by a rule"))
    assert words.sentence == "In spam: blocked by a rule"


def test_imported_comments():
    event = Event("import:wordpress", "import", "imported (wordpress 12)")
    words = describe(S.approved, check=None, event=event, import_source="wordpress")
    assert words.sentence == "Imported from WordPress"
    assert describe(S.pending, import_source="disqus").sentence == "Imported from Disqus"


def test_unsure_and_discarded():
    unsure = Check("unsure", 1.5, [{"name": "rules.links", "score": 1.5, "reason": "2 links"}])
    assert describe(S.pending, check=unsure).sentence == "Unsure: many links"
    assert describe(S.spam, check=SPAMMY, discarded=True).sentence.startswith(
        "Spam, hidden from the tab: links to a URL shortener"
    )


@pytest.mark.parametrize("status", list(S))
def test_the_tone_follows_the_status_never_the_check(status):
    for check in (SPAMMY, HAMMY, None):
        tone = describe(status, check=check).tone
        assert (
            tone
            == {"approved": "ok", "pending": "hold", "spam": "spam", "deleted": "gone"}[
                status.value
            ]
        )


def test_join():
    assert join(["a"]) == "a"
    assert join(["a", "b"]) == "a and b"
    assert join(["a", "b", "c"]) == "a, b, and c"


def test_first_line_is_plain_text_cut_at_140():
    assert first_line("> quoted\n\nsecond paragraph") == "quoted"
    assert first_line("# Title\nmore of it\n\nnext") == "Title more of it"
    html = "<p>Yes, I <em>agree</em> &amp; more.</p><p>Second.</p>"
    assert first_line(html, is_html=True) == "Yes, I agree & more."
    long = "word " * 60
    cut = first_line(long)
    assert len(cut) <= 140
    assert cut.endswith("…")
    assert " " in cut
    assert first_line("") == ""
    assert first_line("See **this** [post](https://x.example/) and `code`") == (
        "See this post and code"
    )
