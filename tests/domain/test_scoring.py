import pytest

from moderation.domain.scoring import (
    NullScorer,
    Signal,
    Submission,
    Thresholds,
    Verdict,
    combine,
    run_pipeline,
)
from moderation.domain.states import CommentKind
from moderation.errors import ScorerUnavailable


def submission(**kw):
    base = {
        "kind": CommentKind.comment,
        "site": "blog",
        "site_url": "https://b.example",
        "permalink": "https://b.example/p/",
        "text": "hello",
    }
    base.update(kw)
    return Submission(**base)


class Fixed:
    def __init__(self, name, *signals):
        self.name = name
        self.signals = signals

    def score(self, sub):
        return self.signals


class Down:
    name = "akismet"

    def score(self, sub):
        raise ScorerUnavailable("timed out after 3 s")


@pytest.mark.parametrize(
    ("score", "verdict"),
    [
        (-2.0, Verdict.ham),
        (0.99, Verdict.ham),
        (1.0, Verdict.unsure),
        (4.99, Verdict.unsure),
        (5.0, Verdict.spam),
        (12.0, Verdict.spam),
    ],
)
def test_combine_thresholds_pick_the_verdict(score, verdict):
    assert combine([Signal("x", score, "r")]).verdict is verdict


def test_combine_sums_scores_in_order():
    result = combine([Signal("a", 0.7, "a"), Signal("b", 0.6, "b"), Signal("c", -0.2, "c")])
    assert result.score == pytest.approx(1.1)
    assert result.verdict is Verdict.unsure
    assert [s.name for s in result.signals] == ["a", "b", "c"]


def test_combine_decisive_signal_floor_beats_a_low_score():
    result = combine([Signal("honeypot", 0.0, "filled", Verdict.discard), Signal("t", -9, "t")])
    assert result.verdict is Verdict.discard


def test_combine_decisive_floor_never_lowers_a_verdict():
    result = combine([Signal("x", 9.0, "x"), Signal("hold", 0.0, "h", Verdict.unsure)])
    assert result.verdict is Verdict.spam


def test_combine_custom_thresholds():
    assert combine([Signal("x", 2.0, "x")], Thresholds(unsure=3, spam=6)).verdict is Verdict.ham


def test_run_pipeline_null_scorer_finds_nothing():
    result = run_pipeline(submission(), [NullScorer()])
    assert (result.verdict, result.score, result.signals) == (Verdict.ham, 0.0, ())
    assert result.recheck_reason is None


def test_run_pipeline_unavailable_scorer_holds_and_asks_for_recheck():
    result = run_pipeline(submission(), [Fixed("rules", Signal("r", -3, "trusted")), Down()])
    assert result.verdict is Verdict.unsure
    assert result.signals[-1].name == "akismet.unavailable"
    assert result.recheck_reason == "akismet: timed out after 3 s"


def test_signal_as_dict_carries_the_verdict_only_when_set():
    assert Signal("a", 1.5, "why").as_dict() == {"name": "a", "score": 1.5, "reason": "why"}
    assert Signal("a", 0, "w", Verdict.spam).as_dict()["verdict"] == "spam"
