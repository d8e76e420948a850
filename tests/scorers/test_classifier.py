"""The local classifier: features, learning, serialization, the shipped base model, the scorer."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from moderation.domain.scoring import Submission, Verdict, run_pipeline
from moderation.domain.states import CommentKind
from moderation.scorers.classifier import (
    ClassifierScorer,
    Clue,
    Cutoffs,
    Params,
    SpamModel,
    combine_clues,
    load_base_model,
)
from moderation.scorers.classifier.features import features, link_hosts, registrable_domain, words
from moderation.scorers.classifier.model import DECISION_WEIGHT, _chi2_sf

OBVIOUS_SPAM = "check out my channel http://bit.ly/x subscribe!!!"
# "Thanks ... to me" is no longer plain: on YouTube, "thanks" and "to me" mostly close spam, so the
# base model holds it until a site's own decisions have taught it otherwise.
OBVIOUS_HAM = "I disagree with the second point, but the explanation of the migration made sense."


def sub(text: str, **fields: str) -> Submission:
    """A comment with `text` and any other fields."""
    return Submission(
        kind=CommentKind.comment,
        site="blog",
        site_url="https://blog.example/",
        permalink="https://blog.example/post/",
        text=text,
        **fields,
    )


@pytest.fixture(scope="module")
def base() -> SpamModel:
    """The shipped base model, loaded once."""
    return load_base_model()


# --- features -------------------------------------------------------------------------------------


def test_words_are_casefolded_unicode_and_skip_links_and_tags():
    assert words("Ünïcode WORDS <br />don't http://x.example/a") == ["ünïcode", "words", "don't"]


def test_words_split_scripts_without_spaces_into_bigrams():
    assert words("我爱音乐") == ["我爱", "爱音", "音乐"]


def test_link_hosts_find_urls_bare_domains_and_youtube_paths():
    text = "see https://WWW.Example.co.uk/x, murdev.com and watch?v=abc123"
    assert link_hosts(text) == ["example.co.uk", "murdev.com", "youtube.com"]
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("cdn.bit.ly") == "bit.ly"


def test_features_cover_text_author_contact_links_and_structure():
    feats = features(
        sub(
            "CHECK OUT MY CHANNEL!!! http://bit.ly/x call 0845 281 0075",
            author="Spam King",
            email="x@Mail.Example",
            website="https://www.shop.example.com/p",
        )
    )
    for expected in (
        "check",
        "b:check out",
        "a:spam",
        "ed:mail.example",
        "wh:shop.example.com",
        "wh:example.com",
        "ld:bit.ly",
        "s:links=1",
        "s:phone",
        "s:!!!",
        "s:caps=shout",
        "s:len=<100",
        "p:check_out",
        "p:my_channel",
    ):
        assert expected in feats
    assert len(feats) == len(set(feats))


def test_features_mark_linkbacks_and_bucket_many_links():
    feats = features(
        Submission(CommentKind.trackback, "blog", "u", "p", "a.com b.com c.com d.com", author="x")
    )
    assert "k:trackback" in feats
    assert "s:links=3+" in feats


def test_features_tell_a_link_drop_from_a_remark_with_a_link():
    drop = features(sub("nice http://cheap-pills.example/buy"))
    remark = features(
        sub(
            "The migration guide at https://docs.example.org/upgrade explains the index rebuild "
            "that the second step needs, and why it takes so long on a large table of comments."
        )
    )
    plain = features(sub(OBVIOUS_HAM))
    assert "s:linkratio=high" in drop
    assert "s:linkratio=low" in remark
    assert not [f for f in plain if f.startswith("s:linkratio")]


# --- the model ------------------------------------------------------------------------------------


def test_learning_moves_the_score_the_right_way():
    model = SpamModel()
    spam, ham = features(sub(OBVIOUS_SPAM)), features(sub(OBVIOUS_HAM))
    assert model.score(spam) == 0.5
    for _ in range(3):
        model.learn(spam, True)
        model.learn(ham, False)
    assert model.score(spam) > 0.9
    assert model.score(ham) < 0.1


def test_learn_returns_the_delta_and_unlearn_takes_it_back():
    model = SpamModel()
    model.learn(["x", "y"], False)
    before = model.to_bytes()
    delta = model.learn(["x", "x", "z"], True)
    assert delta.touched_features == ["x", "z"]
    assert delta.counts == {"x": (1.0, 0.0), "z": (1.0, 0.0)}
    assert (delta.spam_total, delta.ham_total) == (1.0, 0.0)
    model.unlearn(["x", "z"], True)
    model.counts = {f: c for f, c in model.counts.items() if c != [0.0, 0.0]}
    assert model.to_bytes() == before


def test_applying_a_delta_equals_learning():
    learner, follower = SpamModel(), SpamModel()
    for feats, is_spam in ((["a", "b"], True), (["b", "c"], False), (["a"], True)):
        follower.apply(learner.learn(feats, is_spam))
    assert follower.to_bytes() == learner.to_bytes()


def test_logistic_half_learns_and_its_delta_replays_elsewhere():
    learner, follower = (
        SpamModel(params=Params(logistic=True)),
        SpamModel(params=Params(logistic=True)),
    )
    spam, ham = features(sub(OBVIOUS_SPAM)), features(sub(OBVIOUS_HAM))
    before = learner.score(spam)
    for _ in range(3):
        follower.apply(learner.learn(spam, True))
        follower.apply(learner.learn(ham, False))
    assert learner.score(spam) > before > learner.score(ham)
    assert follower.weights == learner.weights
    assert learner.weights[""][1] > 0  # the intercept moved too


def test_unlearning_takes_back_counts_but_takes_no_logistic_step():
    model = SpamModel(params=Params(logistic=True))
    model.learn(["x", "y"], True)
    weights = {f: list(w) for f, w in model.weights.items()}
    delta = model.unlearn(["x", "y"], True)
    assert delta.weights == {}
    assert model.weights == weights
    assert model.counts == {"x": [0.0, 0.0], "y": [0.0, 0.0]}


def test_fixed_families_are_neither_counted_nor_moved():
    model = SpamModel(params=Params(logistic=True))
    model.learn(["a:ann", "word"], True, fixed=("a:",))
    assert "a:ann" not in model.counts
    assert "a:ann" not in model.weights
    assert "word" in model.counts
    assert "word" in model.weights


def test_a_version_one_model_loads_as_naive_bayes():
    data = SpamModel(counts={"x": [3, 0]}, spam_total=3, ham_total=3).to_dict()
    data["version"] = 1
    del data["weights"]
    del data["params"]["logistic"], data["params"]["lr_rate"]
    model = SpamModel.from_dict(data)
    assert model.weights == {}
    assert not model.params.logistic
    assert model.score(["x"]) == combine_clues(model.clues(["x"]))


def test_a_model_of_just_the_needed_rows_scores_the_same(base):
    feats = features(sub(OBVIOUS_SPAM))
    subset = {f: base.counts[f] for f in feats if f in base.counts}
    weights = {f: base.weights[f] for f in ["", *feats] if f in base.weights}
    small = SpamModel(
        subset, base.spam_total, base.ham_total, base.params, base.cutoffs, None, weights
    )
    assert small.score(feats) == base.score(feats)


def test_serialization_round_trips_exactly_and_deterministically():
    model = SpamModel(params=Params(logistic=True), cutoffs=Cutoffs(0.6, 0.98), meta={"note": "é"})
    model.learn(["spam", "s:links=1", "ld:bit.ly"], True, 0.1)
    model.learn(["hello", "b:thank you"], False)
    blob = model.to_bytes()
    again = SpamModel.from_bytes(blob)
    assert again.to_bytes() == blob
    assert again.counts == model.counts
    assert again.weights == {
        f: [pytest.approx(v, rel=1e-8) for v in w] for f, w in model.weights.items()
    }
    assert (again.spam_total, again.ham_total) == (model.spam_total, model.ham_total)
    assert (again.params, again.cutoffs, again.meta) == (model.params, model.cutoffs, model.meta)
    assert blob[4:8] == b"\0\0\0\0"  # gzip mtime 0: same model, same bytes


def test_loading_another_format_is_refused():
    blob = gzip.compress(json.dumps({"format": "other", "version": 1}).encode())
    with pytest.raises(ValueError, match="not a"):
        SpamModel.from_bytes(blob)


def test_chi_square_tail_matches_closed_forms():
    assert _chi2_sf(3.0, 2) == pytest.approx(math.exp(-1.5))
    assert _chi2_sf(3.0, 4) == pytest.approx(math.exp(-1.5) * 2.5)
    assert _chi2_sf(0.0, 10) == 1.0
    assert 0.0 <= _chi2_sf(5000.0, 300) < 1e-100


def test_combining_agreeing_and_conflicting_evidence():
    assert combine_clues([]) == 0.5
    assert combine_clues([Clue("a", 0.99)] * 20) > 0.99
    assert combine_clues([Clue("a", 0.01)] * 20) < 0.01
    assert combine_clues([Clue("a", 0.99), Clue("b", 0.01)]) == pytest.approx(0.5)


# --- the shipped base model -----------------------------------------------------------------------


def test_base_model_scores_obvious_spam_above_obvious_ham(base):
    spam = base.score(features(sub(OBVIOUS_SPAM)))
    ham = base.score(features(sub(OBVIOUS_HAM)))
    assert spam > ham
    assert spam >= base.cutoffs.unsure
    assert ham < base.cutoffs.unsure


def test_base_model_carries_calibrated_cutoffs(base):
    assert 0.5 <= base.cutoffs.unsure < base.cutoffs.spam < 1.0
    assert base.meta["built_by"] == "scripts/train_base_model.py"


# --- the scorer -----------------------------------------------------------------------------------


def test_points_follow_the_cutoffs():
    scorer = ClassifierScorer(SpamModel(), Cutoffs(unsure=0.6, spam=0.9))
    assert scorer.points_for(0.9) == 5.0
    assert scorer.points_for(1.0) == 8.0
    assert scorer.points_for(0.6) == 1.0
    assert 1.0 < scorer.points_for(0.75) < 4.0
    assert scorer.points_for(0.0) == -1.0
    assert -1.0 < scorer.points_for(0.3) < 0.0


def test_scorer_signal_names_probability_and_top_tokens(base):
    signal, prob = ClassifierScorer(base).assess(sub(OBVIOUS_SPAM))
    assert signal.name == "classifier"
    assert signal.reason.startswith(f"classifier: {prob:.2f} spam probability (top tokens: ")
    assert signal.score >= 1.0


def test_scorer_in_the_pipeline_holds_or_bins_spam_and_passes_ham(base):
    scorer = ClassifierScorer(base)
    assert run_pipeline(sub(OBVIOUS_SPAM), [scorer]).verdict in (Verdict.unsure, Verdict.spam)
    assert run_pipeline(sub(OBVIOUS_HAM), [scorer]).verdict == Verdict.ham


def test_scorer_learning_reaches_the_model():
    scorer = ClassifierScorer(SpamModel(), Cutoffs(0.6, 0.9))
    delta = scorer.learn(sub(OBVIOUS_SPAM), True)
    assert "ld:bit.ly" in delta.touched_features
    assert scorer.model.spam_total == DECISION_WEIGHT


def test_a_decision_counts_decision_weight_examples_in_both_halves_and_is_taken_back_exactly():
    base = SpamModel(params=Params(logistic=True))
    feats = features(sub(OBVIOUS_SPAM))
    one, heavy = base.copy(), base.copy()
    example = one.learn(feats, True)  # one training example of the shipped model
    decision = heavy.learn_decision(feats, True)
    assert DECISION_WEIGHT > 1
    assert heavy.spam_total == DECISION_WEIGHT * one.spam_total
    assert example.counts["ld:bit.ly"] == (1.0, 0.0)
    assert decision.counts["ld:bit.ly"] == (DECISION_WEIGHT, 0.0)
    # the logistic step is larger too (AdaGrad: relative to the squared gradients already seen)
    trained = base.copy()
    for _ in range(20):
        trained.learn(features(sub(OBVIOUS_HAM)), False)
    small, large = trained.copy(), trained.copy()
    small_step = small.learn(feats, True).weights[""][0]
    large_step = large.learn_decision(feats, True).weights[""][0]
    assert large_step > small_step > 0
    heavy.learn_decision(feats, True, -1.0)  # a reversed decision takes its counts back
    assert heavy.spam_total == 0.0
    assert heavy.counts["ld:bit.ly"] == [0.0, 0.0]
