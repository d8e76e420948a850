"""The weighted rules for blog spam (issue 22): service pitches, keyword names with a website and
generic praise with a link; each fires on the blog-spam shape and not on a reader's lookalike."""

from __future__ import annotations

import pytest

from moderation.domain.scoring import Verdict, run_pipeline
from moderation.domain.states import CommentKind
from moderation.domain.verdict_words import SPAM_PHRASES
from moderation.scorers.rules import RuleScorer
from moderation.scorers.rules.weighted import (
    KEYWORD_AUTHOR_POINTS,
    PRAISE_LINK_POINTS,
    SERVICE_PITCH_POINTS,
)
from tests.scorers.rule_helpers import make, signals, verdict

# -- service pitches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Need help? Our essay writing service delivers in 24 hours.",
        "Can someone write my essay for tomorrow?",
        "We are the best SEO company around, cheap SEO packages.",
        "You should build quality backlinks, it will help you to increase traffic.",
        "Top web design company for small business.",
        "Join the best digital marketing course in Delhi today.",
        "Trusted packers and movers in Pune, call now.",
        "Call the Brother printer support number 1-800-555-0199 for help.",
        "Flight booking number for all airlines: +1 888 555 0142",
        "Payday loans approved in minutes.",
        "Independent call girls available.",
    ],
)
def test_service_pitch_fires_on_pitches(text):
    sig = signals(make(text))["rules.service_pitch"]
    assert sig.score == SERVICE_PITCH_POINTS
    assert sig.reason.startswith('"')


def test_service_pitch_fires_on_a_pitch_in_the_name():
    assert "rules.service_pitch" in signals(make("Nice.", author="Cheap SEO Services"))


@pytest.mark.parametrize(
    "text",
    [
        "I wrote my essay on this topic last year, thanks for the sources.",
        "SEO is overrated, write for people.",
        "Our support team fixed it; the ticket number was 4411.",
        "I took a Python course in college and this still helped.",
        "The loan of the book was appreciated.",
        "Design of the web page is clean, nice work on the development blog.",
    ],
)
def test_service_pitch_leaves_readers_alone(text):
    assert "rules.service_pitch" not in signals(make(text))


# -- keyword names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "author",
    ["best coffee maker 2014", "emt training", "Cheap Boots Shop", "Debt Settlement Program"],
)
def test_keyword_author_fires_on_a_commercial_name_with_a_website(author):
    sub = make("I love your blog, very nice colors.", author=author, website="http://shop.example")
    sig = signals(sub)["rules.keyword_author"]
    assert sig.score == KEYWORD_AUTHOR_POINTS


@pytest.mark.parametrize(
    ("author", "website"),
    [
        ("best coffee maker 2014", ""),  # no website to build a link to
        ("Ann Example", "http://ann.example"),
        ("Andrew K Kirk", "http://www.andrewkkirk.com"),
        ("Designer", "http://ann.example"),  # one word
        ("Bestie Freeman", "http://bf.example"),  # keywords inside longer words
    ],
)
def test_keyword_author_leaves_people_alone(author, website):
    sub = make("Nice write-up.", author=author, website=website)
    assert "rules.keyword_author" not in signals(sub)


def test_keyword_author_only_on_form_comments():
    sub = make(
        "excerpt",
        kind=CommentKind.trackback,
        author="Best SEO Company",
        website="https://b.example",
        source="https://b.example/p",
    )
    assert "rules.keyword_author" not in signals(sub)


# -- praise with a link -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "website"),
    [
        ("Great post, thanks for sharing!", "http://shop.example"),
        ("Very informative. Keep up the good work.", "http://shop.example"),
        ("Nice article! More here: http://deals.example/x", ""),
        ("What a great resource!", "http://course.example"),
    ],
)
def test_praise_link_fires_on_short_praise_with_a_link(text, website):
    sig = signals(make(text, website=website))["rules.praise_link"]
    assert sig.score == PRAISE_LINK_POINTS


def test_praise_link_needs_a_link_and_a_short_text():
    assert "rules.praise_link" not in signals(make("Great post, thanks for sharing!"))
    long_text = (
        "Great post. " + "I tried the second approach on our build server and it worked. " * 5
    )
    assert "rules.praise_link" not in signals(make(long_text, website="http://ann.example"))
    on_site = make("Great post, see also https://blog.example/2023/older/")
    assert "rules.praise_link" not in signals(on_site)


def test_praise_link_ignores_praise_of_other_things():
    sub = make("Great song, thanks for the fix.", website="http://ann.example")
    assert "rules.praise_link" not in signals(sub)


# -- together -----------------------------------------------------------------------------------------


def test_a_reader_praising_with_a_website_stays_ham():
    sub = make("Great post, just tried it on my Debian ;)", website="http://tomitzel.example")
    assert verdict(sub) is Verdict.ham


def test_a_keyword_name_praising_with_a_link_is_held_never_spam_by_rules_alone():
    sub = make(
        "Great post! Check my site http://boots.example",
        author="cheap boots outlet",
        website="http://boots.example",
    )
    assert verdict(sub) is Verdict.unsure


def test_each_new_rule_stays_under_the_hold_threshold_and_has_words():
    for points in (SERVICE_PITCH_POINTS, KEYWORD_AUTHOR_POINTS, PRAISE_LINK_POINTS):
        assert 0 < points < 1.0
    for name in ("rules.service_pitch", "rules.keyword_author", "rules.praise_link"):
        assert SPAM_PHRASES[name]


# -- a website and one link: the hold counts them, the linked points do not add to it ----------------


def test_linked_is_silent_when_the_hold_counts_the_website():
    sub = make(
        "A related post... https://elsewhere.example/2010/03/01/specs", website="http://r.example"
    )
    found = signals(sub)
    assert "counting the website" in found["rules.links"].reason
    assert "rules.linked" not in found


def test_linked_still_fires_below_the_hold_or_when_the_text_alone_reaches_it():
    assert "rules.linked" in signals(make("see https://elsewhere.example/a"))
    two = make("see https://a.example/x and https://b.example/y", website="http://r.example")
    assert "rules.linked" in signals(two)
    assert "rules.linked" in signals(make("see https://a.example/x and https://b.example/y"))


def test_a_reader_with_a_website_and_one_link_is_held_not_binned_by_the_rules():
    text = "Don't forget to vote for this bug: https://bugs.example/show_bug.cgi?id=321239"
    sub = make(text, website="http://zviki.example")
    assessment = run_pipeline(sub, [RuleScorer()])
    assert assessment.verdict is Verdict.unsure
    assert assessment.score == pytest.approx(1.2)  # the hold (1.0) and the website (0.2)
