"""The same text on other pages (issue 22): the text fingerprint, the repeated-text rule's points
and reasons, and the evaluation's stand-in for the database's count (`RepeatCounter`)."""

from __future__ import annotations

import re

import pytest

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind
from moderation.scorers.evaluation import RepeatCounter, Row
from moderation.scorers.rules import weighted
from moderation.scorers.rules.text import fingerprint_text, text_fingerprint
from moderation.scorers.rules.weighted import (
    REPEAT_MANY_POINTS,
    REPEAT_POINTS,
    REPEAT_SPAM_POINTS,
    repeat_points,
)
from tests.scorers.rule_helpers import make, signals, verdict

PITCH = "Great article, I learned a lot! Visit my page for cheap watches."

# -- fingerprint --------------------------------------------------------------------------------------


def test_fingerprint_is_16_hex_digits():
    assert re.fullmatch(r"[0-9a-f]{16}", text_fingerprint(PITCH))


@pytest.mark.parametrize(
    "copy",
    [
        "GREAT ARTICLE, I LEARNED A LOT!!! Visit my page for cheap watches",
        "great   article\n\ni learned a lot visit my page for cheap watches.",
        "<p>Great <b>article</b>, I learned a lot!</p> Visit my page for cheap watches.",
        "Great article, I learned a lot! Visit my page for cheap watches. http://a.example/x",
        "Great article, I learned a lot! Visit my [page](https://b.example/y) for cheap watches.",
        'Great article, I learned a lot! Visit my <a href="http://c.example">page</a> for cheap '
        "watches.",
        "Great article, I learned a lot! Visit my page for cheap watches. bob@spam.example",
        "Great article, I learned a lot! Visit my page for cheap\u200b watches.",
    ],
)
def test_copies_that_differ_in_case_spacing_markup_links_share_the_fingerprint(copy):
    assert text_fingerprint(copy) == text_fingerprint(PITCH)


def test_numbers_are_one_word_whatever_their_digits():
    assert fingerprint_text("Call 555 0199 now, only 20 left for you") == (
        "call 0 0 now only 0 left for you"
    )
    first, second = "Win 1000 dollars every day here", "Win 25 dollars every day here"
    assert text_fingerprint(first) == text_fingerprint(second)


def test_other_words_give_another_fingerprint():
    assert text_fingerprint(PITCH) != text_fingerprint(PITCH.replace("watches", "phones"))
    assert text_fingerprint("I love this song so much") != text_fingerprint(
        "I love this video so much"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Nice post",
        "Thanks!",
        "Great post, thanks!",  # three words
        "a b c d e f g",  # seven words, under 20 characters
        "http://spam.example/a-very-long-path-to-somewhere/else",  # nothing left without the link
        "<p>   </p>",
    ],
)
def test_short_texts_get_no_fingerprint(text):
    assert text_fingerprint(text) == ""


def test_four_words_of_20_characters_get_one():
    assert text_fingerprint("Thanks for this lovely walkthrough") != ""


# -- the rule ------------------------------------------------------------------------------------------


def test_rule_is_silent_without_copies():
    assert "rules.repeated_text" not in signals(make(PITCH))


def test_rule_points_are_each_a_nudge_under_the_hold_threshold():
    """Like every heuristic (tests/scorers/test_rules.py), no tier holds a comment alone."""
    assert 0 < REPEAT_POINTS < REPEAT_MANY_POINTS < 1.0
    assert 0 < REPEAT_SPAM_POINTS < 1.0
    sig = signals(make(PITCH, repeat_pages=1))["rules.repeated_text"]
    assert sig.score == REPEAT_POINTS
    assert sig.verdict is None


def test_rule_points_grow_with_pages_and_spam_copies(monkeypatch):
    monkeypatch.setattr(weighted, "REPEAT_POINTS", 0.4)
    monkeypatch.setattr(weighted, "REPEAT_MANY_POINTS", 0.6)
    monkeypatch.setattr(weighted, "REPEAT_SPAM_POINTS", 0.3)
    one = signals(make(PITCH, repeat_pages=1))["rules.repeated_text"]
    two = signals(make(PITCH, repeat_pages=2))["rules.repeated_text"]
    many = signals(make(PITCH, repeat_pages=3))["rules.repeated_text"]
    spam = signals(make(PITCH, repeat_pages=1, repeat_spam_pages=1))["rules.repeated_text"]
    assert one.score == two.score == 0.4
    assert many.score == 0.6
    assert spam.score == pytest.approx(0.7)
    assert repeat_points(0, 0) == 0.0


def test_rule_reason_says_how_many_pages_never_which():
    one = signals(make(PITCH, repeat_pages=1))["rules.repeated_text"]
    assert one.reason == "the same text was posted on 1 other page lately"
    spam = signals(make(PITCH, repeat_pages=4, repeat_spam_pages=2))["rules.repeated_text"]
    assert spam.reason == "the same text was posted on 4 other pages lately, marked spam on 2"


def test_rule_holds_a_text_on_many_pages_with_a_spam_copy_and_never_flags_it():
    plain = "Thanks, this fixed my build on the second try."
    assert verdict(make(plain, repeat_pages=2)) is Verdict.ham
    assert verdict(make(plain, repeat_pages=50)) is Verdict.ham
    assert verdict(make(plain, repeat_pages=1, repeat_spam_pages=1)) is Verdict.ham
    assert verdict(make(plain, repeat_pages=50, repeat_spam_pages=50)) is Verdict.unsure
    assert repeat_points(10**6, 10**6) < 5.0  # never a spam verdict by itself


def test_rule_leaves_linkbacks_alone():
    """A blog post citing several pages sends each the same excerpt."""
    linkback = make(PITCH, kind=CommentKind.trackback, repeat_pages=5, repeat_spam_pages=1)
    assert "rules.repeated_text" not in signals(linkback)


# -- evaluation ----------------------------------------------------------------------------------------


def row(content: str, source: str, label: str = "spam") -> Row:
    return Row("A", "", "", content, label, source)


def test_counter_counts_other_pages_once_each():
    counter = RepeatCounter()
    for page in ("v1", "v1", "v2", "v3"):
        counter.add(row(PITCH, page), spam=page == "v3")
    assert counter.counts(row(PITCH, "v1")) == (2, 1)
    assert counter.counts(row(PITCH, "v4")) == (3, 1)
    assert counter.counts(row(PITCH.upper(), "v4")) == (3, 1)
    assert counter.counts(row("Something else entirely, said at length", "v4")) == (0, 0)


def test_counter_ignores_short_texts():
    counter = RepeatCounter()
    counter.add(row("Nice song!", "v1"), spam=True)
    assert counter.counts(row("Nice song!", "v2")) == (0, 0)


def test_counter_mark_of_a_row_is_replaced_by_its_decision():
    counter, first = RepeatCounter(), row(PITCH, "v1", "ham")
    counter.add(first, spam=True)  # scored spam...
    assert counter.counts(row(PITCH, "v2")) == (1, 1)
    counter.add(first, spam=False)  # ...a moderator said ham
    assert counter.counts(row(PITCH, "v2")) == (1, 0)


def test_counter_puts_the_counts_in_the_submission():
    counter = RepeatCounter()
    counter.add(row(PITCH, "v1"), spam=True)
    later = row(PITCH, "v2")
    submission = counter.submission(later, later.submission())
    assert (submission.repeat_pages, submission.repeat_spam_pages) == (1, 1)
    alone = row("A text nobody else has written yet", "v2")
    assert counter.submission(alone, alone.submission()) == alone.submission()
