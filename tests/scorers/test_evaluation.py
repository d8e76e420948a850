"""Evaluation of spam scorers: metrics by hand, the online mode, tolerant CSV reading."""

from __future__ import annotations

import pytest

from moderation.domain.scoring import Verdict
from moderation.scorers.classifier import ClassifierScorer, Cutoffs, SpamModel
from moderation.scorers.evaluation import (
    METRIC_KEYS,
    Row,
    classifier_callbacks,
    evaluate,
    evaluate_model,
    read_rows,
    recall_at_fpr,
    roc_auc,
    write_rows,
)

HEADER = "author,email,url,content,label,source\n"


def row(content: str, label: str) -> Row:
    """A row with only text and label."""
    return Row("", "", "", content, label, "test")


def test_auc_counts_ties_as_half():
    # pairs (spam, ham): 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1  ->  3.5 / 4
    assert roc_auc([True, True, False, False], [0.9, 0.5, 0.5, 0.1]) == 0.875
    assert roc_auc([True, False], [0.3, 0.3]) == 0.5
    assert roc_auc([False, True, False], [0.9, 0.1, 0.5]) == 0.0
    assert roc_auc([True, True], [0.1, 0.2]) is None


def test_evaluate_metrics_on_known_answers():
    answers = {
        "s1": (Verdict.spam, 0.99),  # spam caught
        "s2": (Verdict.discard, 0.97),  # spam caught (discard counts as spam)
        "s3": (Verdict.unsure, 0.60),  # spam held: not a spam prediction
        "s4": (Verdict.ham, 0.20),  # spam missed
        "h1": (Verdict.spam, 0.60),  # ham sent to spam: the expensive mistake
        "h2": (Verdict.unsure, 0.50),  # ham held
        "h3": (Verdict.ham, 0.10),
        "h4": (Verdict.ham, 0.05),
    }
    rows = [row(k, "spam" if k.startswith("s") else "ham") for k in answers]
    result = evaluate(rows, lambda r: answers[r.content])
    assert tuple(result) == METRIC_KEYS
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 4)
    assert result["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert result["fpr"] == pytest.approx(1 / 4)
    assert result["held"] == pytest.approx(2 / 8)
    assert result["rows"] == 8
    # AUC over probabilities: 16 pairs; s3 (0.6) ties h1 (0.6): half; s4 (0.2) beats h3, h4 only
    assert result["auc"] == pytest.approx((4 + 4 + 3.5 + 2) / 16)
    assert result["rows_per_s"] > 0


def test_undefined_ratios_are_none():
    result = evaluate([row("a", "ham")], lambda r: (Verdict.ham, 0.1))
    assert result["precision"] is None
    assert result["recall"] is None
    assert result["auc"] is None
    assert result["fpr"] == 0.0


def test_online_learns_each_row_right_after_scoring_it():
    calls: list[str] = []
    rows = [row("a", "spam"), row("b", "ham")]

    def score_row(r: Row) -> tuple[Verdict, float]:
        calls.append("score " + r.content)
        return Verdict.ham, 0.5

    evaluate(rows, score_row, lambda r: calls.append("learn " + r.content), online=True)
    assert calls == ["score a", "learn a", "score b", "learn b"]
    calls.clear()
    evaluate(rows, score_row, lambda r: calls.append("learn " + r.content))
    assert calls == ["score a", "score b"]


def test_online_needs_a_learner():
    with pytest.raises(ValueError, match="learn_row"):
        evaluate([], lambda r: (Verdict.ham, 0.0), online=True)


def test_online_mode_raises_the_score_of_a_repeated_spam():
    spam = "WIN a FREE iPhone now at prizes.example, call 0800 123 4567"
    rows = [row(spam, "spam"), row("lovely song, thank you", "ham")] * 4
    score_row, learn_row = classifier_callbacks(ClassifierScorer(SpamModel(), Cutoffs(0.6, 0.95)))
    seen: list[float] = []

    def recording(r: Row) -> tuple[Verdict, float]:
        verdict, prob = score_row(r)
        if r.is_spam:
            seen.append(prob)
        return verdict, prob

    result = evaluate(rows, recording, learn_row, online=True)
    assert seen[0] == 0.5
    assert seen == sorted(seen)
    assert seen[-1] > 0.95
    assert result["fpr"] == 0.0


def test_evaluate_model_online_leaves_the_model_alone():
    model = SpamModel()
    evaluate_model([row("buy now", "spam")], model, online=True)
    assert model.counts == {}


def test_read_rows_skips_and_reports_malformed_rows(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        HEADER
        + 'Ann,a@x.example,https://ann.example,"Hi, there",ham,blog\n'
        + "Bob,,,buy now,SPAM,blog\n"
        + "Cy,,,what,maybe,blog\n"
        + "Dee,,,too,many,fields,ham,blog\n"
        + "Eve,,,short\n"
        + ",,,,1,\n",
        encoding="utf-8",
    )
    skipped: list[tuple[int, str]] = []
    rows = read_rows(path, on_skip=lambda line, why: skipped.append((line, why)))
    assert [r.label for r in rows] == ["ham", "spam", "spam"]
    assert rows[0] == Row("Ann", "a@x.example", "https://ann.example", "Hi, there", "ham", "blog")
    assert [line for line, _ in skipped] == [4, 5, 6]
    assert "unknown label" in skipped[0][1]


def test_read_rows_needs_the_header(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,class\nhello,ham\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header lacks"):
        read_rows(path)


def test_row_becomes_a_submission():
    submission = Row("Ann", "a@x.example", "https://ann.example", "Hi", "ham", "v").submission()
    assert (submission.author, submission.email, submission.website, submission.text) == (
        "Ann",
        "a@x.example",
        "https://ann.example",
        "Hi",
    )


def test_recall_at_fixed_fpr_counts_spam_above_the_ham_tail():
    # 200 ham: 1 % allows 2 ham at or above the cut, 0.5 % allows 1
    ham = [0.99, 0.95, 0.90] + [0.1] * 197
    spam = [0.999, 0.97, 0.93, 0.92, 0.5]
    labels = [False] * len(ham) + [True] * len(spam)
    scores = ham + spam
    assert recall_at_fpr(labels, scores, 0.01) == pytest.approx(4 / 5)  # cut just above 0.90
    assert recall_at_fpr(labels, scores, 0.005) == pytest.approx(2 / 5)  # cut just above 0.95
    # too few ham rows to allow any: the cut is just above the highest ham
    assert recall_at_fpr(labels[1:], scores[1:], 0.001) == pytest.approx(2 / 5)
    assert recall_at_fpr([True], [0.9], 0.01) is None


def test_evaluate_reports_recall_at_fixed_fpr_keys():
    rows = [row("s", "spam"), row("h", "ham")]
    result = evaluate(rows, lambda r: (Verdict.ham, 0.9 if r.is_spam else 0.1))
    assert result["recall_at_fpr_1pct"] == 1.0
    assert result["recall_at_fpr_0_5pct"] == 1.0


def test_write_rows_writes_a_canonical_csv_that_read_rows_reads_back(tmp_path):
    records = [
        {
            "author": "Ann",
            "email": "",
            "url": "",
            "content": 'Hi, "quoted"\nline',
            "label": "ham",
            "source": "blog:a",
        },
        {
            "author": "Bot",
            "email": "",
            "url": "http://x.example",
            "content": "cheap pills",
            "label": "spam",
            "source": "blog:b",
        },
    ]
    out = tmp_path / "new" / "set.csv"
    summary = write_rows(out, records)
    assert summary == f"{out}: 2 rows, 1 spam, 1 ham, 2 sources"
    assert out.read_text(encoding="utf-8").startswith(HEADER)
    rows = read_rows(out)
    assert [(r.author, r.content, r.is_spam, r.source) for r in rows] == [
        ("Ann", 'Hi, "quoted"\nline', False, "blog:a"),
        ("Bot", "cheap pills", True, "blog:b"),
    ]
