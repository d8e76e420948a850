"""The local rule scorer's weighted spam heuristics (`moderation.scorers.rules.weighted`), how they
add up with the other rules in the pipeline, and their rates on the open data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from moderation.domain.scoring import Verdict, run_pipeline
from moderation.domain.states import CommentKind
from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings
from moderation.scorers.rules.weighted import PROMO_POINTS, SELF_MENTION_POINTS, find_phone
from tests.scorers.rule_helpers import make, signals, verdict

YOUTUBE_CSV = Path(__file__).resolve().parents[3] / "shared/data/spam/comments/youtube.csv"


# -- user agent ---------------------------------------------------------------------------------------


def test_user_agent_missing_on_comment_scores():
    sig = signals(make(user_agent=""))["rules.user_agent"]
    assert 0 < sig.score < 1.0
    assert sig.verdict is None


def test_user_agent_missing_on_linkback_or_present_does_not_fire():
    assert "rules.user_agent" not in signals(make(user_agent="", kind=CommentKind.pingback))
    assert "rules.user_agent" not in signals(make(user_agent="", kind=CommentKind.webmention))
    assert "rules.user_agent" not in signals(make())


# -- lengths ------------------------------------------------------------------------------------------


def test_text_short_fires_on_empty_ish_comment():
    assert "rules.text_short" in signals(make("."))
    assert "rules.text_short" in signals(make("<p> </p>"))


def test_text_short_does_not_fire_on_two_chars_or_linkbacks():
    assert "rules.text_short" not in signals(make("ok"))
    assert "rules.text_short" not in signals(make("", kind=CommentKind.webmention))


def test_text_long_fires_over_the_limit_only():
    settings = RuleSettings(max_text_chars=100)
    assert "rules.text_long" in signals(make("a " * 51), settings)
    assert "rules.text_long" not in signals(make("a " * 50), settings)


def test_author_long_fires_over_the_limit_only():
    assert "rules.author_long" in signals(make(author="Best Cheap Essay Writing Service " * 3))
    assert "rules.author_long" not in signals(make(author="Ann " * 15))


def test_author_url_fires_on_links_or_domains_in_the_name():
    assert "rules.author_url" in signals(make(author="cheap-essays.com"))
    assert "rules.author_url" in signals(make(author="Bob https://bob.example"))


def test_author_url_does_not_fire_on_ordinary_names():
    assert "rules.author_url" not in signals(make(author="J. R. R. Tolkien"))
    assert "rules.author_url" not in signals(make(author="Mr.Smith"))


# -- shouting, repeats, punctuation -------------------------------------------------------------------


def test_caps_fires_on_shouted_text():
    sig = signals(make("THIS IS THE BEST VIDEO IN THE WHOLE WORLD EVER MADE"))["rules.caps"]
    assert sig.score < 1.0


def test_caps_does_not_fire_on_short_or_mixed_text():
    assert "rules.caps" not in signals(make("OMG YES"))
    assert "rules.caps" not in signals(make("This is a NORMAL sentence with SOME capitals in it."))


def test_repeats_fires_on_long_runs_only():
    assert "rules.repeats" in signals(make("s" + "o" * 20 + " good"))
    assert "rules.repeats" not in signals(make("s" + "o" * 19 + " good"))


def test_punctuation_fires_on_long_runs_only():
    assert "rules.punctuation" in signals(make("Wow" + "!" * 10))
    assert "rules.punctuation" not in signals(make("Wow" + "!?" * 4))


# -- content patterns ---------------------------------------------------------------------------------


def test_phone_fires_on_phone_numbers():
    assert "rules.phone" in signals(make("Call me on +44 20 7946 0958 tonight"))
    assert find_phone("text 555.201.3344 now") == "555.201.3344"
    assert find_phone("ring (020) 7946-0958") == "(020) 7946-0958"


def test_phone_does_not_fire_on_view_counts_ips_or_years():
    assert find_phone("2.126.521.750 views!") is None
    assert find_phone("from 198.51.100.7") is None
    assert find_phone("in 2015 and 2016") is None
    assert "rules.phone" not in signals(make("2,124,923,004 views and counting"))


def test_promo_fires_on_self_promotion():
    for text in ("Check out my channel!", "please subscribe", "sub4sub anyone", "follow me"):
        assert "rules.promo" in signals(make(text)), text


def test_a_mention_of_ones_own_blog_is_only_a_nudge():
    for text in (
        "I point to your example in my own blog entry on testing in production.",
        "I wrote about the same bug on my blog last year.",
        "We link to this from our site's FAQ.",
    ):
        assert signals(make(text))["rules.promo"].score == SELF_MENTION_POINTS, text


def test_a_pitch_for_ones_own_blog_is_full_promotion():
    for text in (
        "Look at my website: best practice tips",
        "Please visit my blog for more",
        "My blog is great, check out my videos too",
        "Check out my channel and my site",
    ):
        assert signals(make(text))["rules.promo"].score == PROMO_POINTS, text


def test_promo_does_not_fire_on_ordinary_comments():
    assert "rules.promo" not in signals(make("This is my favorite song"))
    assert "rules.promo" not in signals(make("I checked the docs and it works"))


def test_money_fires_on_money_and_prize_wording():
    assert "rules.money" in signals(make("Make easy money online, click here"))
    assert "rules.money" in signals(make("You have won a prize, claim now"))


def test_money_does_not_fire_on_ordinary_comments():
    assert "rules.money" not in signals(make("You won't believe how well this works"))


def test_shortener_fires_on_shortened_links_only():
    assert "rules.shortener" in signals(make("look bit.ly/3xYz"))
    assert "rules.shortener" not in signals(make("look https://docs.example/x"))


def test_linked_fires_on_links_to_other_sites():
    sig = signals(make("read https://elsewhere.example/a"))["rules.linked"]
    assert sig.reason == "links to elsewhere.example"


def test_linked_does_not_fire_on_links_to_the_site_itself():
    text = "see https://blog.example/2023/older/ and https://www.blog.example/about"
    assert "rules.linked" not in signals(make(text))


def test_domain_mention_fires_on_bare_or_spaced_domains():
    assert "rules.domain_mention" in signals(make("I earn $3000 at ZONEPA.COM"))
    assert "rules.domain_mention" in signals(make("visit tvcmcadavid.weebly . com"))


def test_domain_mention_does_not_fire_on_urls_emails_or_abbreviations():
    assert "rules.domain_mention" not in signals(make("see https://docs.example.com/x"))
    assert "rules.domain_mention" not in signals(make("write to ann@mail.com"))
    assert "rules.domain_mention" not in signals(make("e.g. this, i.e. that, at home.in the end"))


def test_email_in_text_fires_on_addresses():
    assert signals(make("mail me: deals@offers.example"))["rules.email_in_text"].reason == (
        '"deals@offers.example"'
    )
    assert "rules.email_in_text" not in signals(make("see you @ the meetup"))


def test_homoglyph_fires_on_mixed_scripts_styled_or_hidden_letters():
    assert "rules.homoglyph" in signals(make("best c\u0430sino here"))  # Cyrillic "а"
    assert "rules.homoglyph" in signals(make("\U0001d41f\U0001d42b\U0001d41e\U0001d41e money"))
    assert "rules.homoglyph" in signals(make("cheap vi\u200bagra"))


def test_homoglyph_does_not_fire_on_ordinary_non_ascii_text():
    text = "Café crème, Grüße, привет, 강남스타일, ❤️"
    assert "rules.homoglyph" not in signals(make(text))


def test_website_fires_for_first_time_author_only():
    assert "rules.website" in signals(make(website="https://ann.example"))
    assert "rules.website" not in signals(make(website="https://ann.example", author_trusted=True))
    assert "rules.website" not in signals(
        make(website="https://a.example", kind=CommentKind.pingback)
    )
    assert "rules.website" not in signals(make())


def test_trusted_author_gets_points_off():
    sig = signals(make(author_trusted=True))["rules.trusted"]
    assert sig.score == -1.0
    assert "rules.trusted" not in signals(make())


# -- the pipeline -------------------------------------------------------------------------------------


def test_pipeline_trusted_author_with_two_links_still_held():
    sub = make("https://a.example and https://b.example", author_trusted=True)
    assessment = run_pipeline(sub, [RuleScorer()])
    assert assessment.verdict is Verdict.unsure
    assert [s.name for s in assessment.signals] == ["rules.links", "rules.linked", "rules.trusted"]


def test_pipeline_disallowed_beats_trusted_and_honeypot_beats_everything():
    lists = RuleLists(disallowed_keys=("viagra",))
    assert verdict(make("viagra", author_trusted=True), lists=lists) is Verdict.spam
    assert verdict(make("viagra", honeypot="x"), lists=lists) is Verdict.discard


def test_pipeline_single_heuristic_stays_ham_several_hold():
    assert verdict(make("Check out my channel please")) is Verdict.ham
    promo_and_link = make("Check out my channel https://tube.example/c/me")
    assert verdict(promo_and_link) is Verdict.unsure


def test_pipeline_heuristics_alone_never_reach_spam_for_typical_spam():
    sub = make(
        "CHECK OUT MY CHANNEL AND SUBSCRIBE!!!!!!!!!! MAKE MONEY FROM HOME, CALL +1 555 010 9999 "
        "OR MAIL DEALS@OFFERS.EXAMPLE, VISIT ZONEPA.COM",
        user_agent="",
        website="https://spam.example",
    )
    assessment = run_pipeline(sub, [RuleScorer()])
    assert assessment.verdict is Verdict.unsure
    assert 1.0 <= assessment.score < 5.0


def test_pipeline_trusted_author_offsets_a_weak_heuristic():
    sub = make(
        "please subscribe to the newsletter", author_trusted=True, website="https://a.example"
    )
    assessment = run_pipeline(sub, [RuleScorer()])
    assert assessment.verdict is Verdict.ham
    assert assessment.score < 0


# -- the open data ------------------------------------------------------------------------------------


def _youtube_rows(label: str) -> list[dict[str, str]]:
    """The rows of youtube.csv with `label`, or skip when the shared data is not there."""
    if not YOUTUBE_CSV.is_file():
        pytest.skip(f"open data not found at {YOUTUBE_CSV} (shared/data is outside the repo)")
    with YOUTUBE_CSV.open(encoding="utf-8", newline="") as f:
        return [row for row in csv.DictReader(f) if row["label"] == label]


def _verdicts(rows: list[dict[str, str]]) -> list[Verdict]:
    """The rule scorer's verdict for each CSV row, sent as a browser form comment."""
    scorer = RuleScorer()
    return [
        run_pipeline(make(row["content"], author=row["author"], email=""), [scorer]).verdict
        for row in rows
    ]


def test_youtube_ham_under_one_percent_spam_or_discard():
    verdicts = _verdicts(_youtube_rows("ham"))
    binned = sum(v in (Verdict.spam, Verdict.discard) for v in verdicts)
    assert len(verdicts) > 900
    assert binned / len(verdicts) < 0.01


def test_youtube_ham_rarely_held():
    verdicts = _verdicts(_youtube_rows("ham"))
    held = sum(v is Verdict.unsure for v in verdicts)
    assert held / len(verdicts) < 0.02


def test_youtube_spam_partly_held():
    verdicts = _verdicts(_youtube_rows("spam"))
    held = sum(v is not Verdict.ham for v in verdicts)
    assert held / len(verdicts) > 0.05
