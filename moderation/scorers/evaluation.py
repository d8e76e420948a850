"""Evaluate a spam scorer on labelled CSV rows: precision, recall, false-positive rate, AUC, held share,
and recall at fixed false-positive rates (1 %, 0.5 %) of the probability.

Rows come from the canonical CSVs (`author,email,url,content,label,source`). `evaluate` takes any
``score_row(row) -> (verdict, probability)`` and, for the online mode of the TREC spam track, a
``learn_row(row)`` called right after each row is scored, in file order. `classifier_callbacks` builds
both for the local classifier; the full pipeline can be plugged in the same way. `RepeatCounter`
stands in for the database's count of the same text on other pages (a row's ``source`` is its page).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from moderation.domain.scoring import Submission, Verdict, combine
from moderation.domain.states import CommentKind
from moderation.scorers.classifier import ClassifierScorer, Cutoffs, SpamModel
from moderation.scorers.classifier.features import features
from moderation.scorers.rules.text import text_fingerprint

log = logging.getLogger(__name__)

COLUMNS = ("author", "email", "url", "content", "label", "source")
LABELS = {"spam": True, "ham": False, "1": True, "0": False}
SPAM_VERDICTS = frozenset({Verdict.spam, Verdict.discard})
# The false-positive rates at which `recall_at_fpr` is reported (key suffix, rate).
FIXED_FPRS = (("1pct", 0.01), ("0_5pct", 0.005))
METRIC_KEYS = (
    "precision",
    "recall",
    "f1",
    "auc",
    "fpr",
    "held",
    "rows",
    "rows_per_s",
    *(f"recall_at_fpr_{suffix}" for suffix, _ in FIXED_FPRS),
)

ScoreRow = Callable[["Row"], tuple[Verdict, float]]
LearnRow = Callable[["Row"], None]
Metrics = dict[str, float | int | None]


@dataclass(frozen=True)
class Row:
    """One labelled example from a canonical CSV."""

    author: str
    email: str
    url: str
    content: str
    label: str
    source: str = ""

    @property
    def is_spam(self) -> bool:
        """True when the row is labelled spam."""
        return LABELS[self.label]

    def submission(self) -> Submission:
        """The row as a `Submission` a scorer can look at (a comment on a neutral site)."""
        return Submission(
            kind=CommentKind.comment,
            site="eval",
            site_url="https://eval.invalid/",
            permalink="https://eval.invalid/post/",
            text=self.content,
            author=self.author,
            email=self.email,
            website=self.url,
            source=self.source,
        )


class RepeatCounter:
    """The rows seen so far by text fingerprint and page (a row's ``source``), each marked spam or
    not: what `moderation.services.comments.repeat_counts` reads from the database, without its
    time window (the rows carry no time)."""

    def __init__(self) -> None:
        # fingerprint -> page -> id of the row -> marked spam
        self._pages: defaultdict[str, dict[str, dict[int, bool]]] = defaultdict(dict)

    def counts(self, row: Row) -> tuple[int, int]:
        """Pages other than the row's with a copy of its text, and those with a copy marked spam."""
        fingerprint = text_fingerprint(row.content)
        if not fingerprint:
            return 0, 0
        pages = self._pages.get(fingerprint, {})
        others = [any(marks.values()) for page, marks in pages.items() if page != row.source]
        return len(others), sum(others)

    def add(self, row: Row, spam: bool) -> None:
        """Remember the row on its page, marked spam or not (again: the new mark replaces the old,
        as a moderator's decision replaces the verdict)."""
        fingerprint = text_fingerprint(row.content)
        if fingerprint:
            self._pages[fingerprint].setdefault(row.source, {})[id(row)] = spam

    def submission(self, row: Row, submission: Submission) -> Submission:
        """`submission` (the row's) with the row's repeat counts."""
        pages, spam_pages = self.counts(row)
        if not pages:
            return submission
        return replace(submission, repeat_pages=pages, repeat_spam_pages=spam_pages)


def _log_skip(line: int, why: str) -> None:
    """Default report for a skipped row: a logged warning."""
    log.warning("skipping row at line %d: %s", line, why)


def _parse_record(record: dict[str | None, str | None]) -> Row:
    """One CSV record as a `Row`; raises ValueError naming what is wrong with it."""
    if record.get(None):
        raise ValueError("more fields than the header")
    missing = [c for c in COLUMNS if c != "source" and record.get(c) is None]
    if missing:
        raise ValueError("missing " + ", ".join(missing))
    label = (record["label"] or "").strip().lower()
    if label not in LABELS:
        raise ValueError(f"unknown label {record['label']!r}")
    values = {c: record.get(c) or "" for c in COLUMNS}
    return Row(**{**values, "label": "spam" if LABELS[label] else "ham"})


def read_rows(path: str | Path, on_skip: Callable[[int, str], None] | None = None) -> list[Row]:
    """Read a canonical CSV, skipping (and reporting through ``on_skip``) rows that do not parse.

    Labels ``spam``/``ham`` (any case) and ``1``/``0`` are accepted. A file without the needed header
    columns raises ValueError.
    """
    report = on_skip or _log_skip
    rows: list[Row] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = set(COLUMNS) - {"source"} - set(reader.fieldnames or ())
        if absent:
            raise ValueError(f"{path}: header lacks {', '.join(sorted(absent))}")
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report(reader.line_num, str(exc))
                continue
            try:
                rows.append(_parse_record(record))
            except ValueError as exc:
                report(reader.line_num, str(exc))
    return rows


def write_rows(path: Path, records: Sequence[Mapping[str, str]]) -> str:
    """Write ``records`` (each with the `COLUMNS`) as a canonical CSV at ``path``, its folder made
    if need be, for `read_rows`; returns the converters' one-line summary of what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    spam = sum(r["label"] == "spam" for r in records)
    sources = len({r["source"] for r in records})
    return f"{path}: {len(records)} rows, {spam} spam, {len(records) - spam} ham, {sources} sources"


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Exact ROC AUC by rank statistics (Mann-Whitney U, ties get their average rank).

    None when one class is absent, because the AUC is then undefined.
    """
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average_rank = (start + end) / 2 + 1
        rank_sum += average_rank * sum(1 for i in order[start : end + 1] if labels[i])
        start = end + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def recall_at_fpr(labels: Sequence[bool], scores: Sequence[float], rate: float) -> float | None:
    """The share of spam at or above the lowest cut that leaves at most ``rate`` of ham at or above it.

    This is the threshold-free figure that compares runs: verdict recall depends on the cut-offs in
    force, this only on how the scores rank the ham tail against spam. With fewer than ``1 / rate``
    ham rows no ham may score at or above the cut. None when either class is absent.
    """
    ham = sorted((s for y, s in zip(labels, scores, strict=True) if not y), reverse=True)
    spam = [s for y, s in zip(labels, scores, strict=True) if y]
    if not ham or not spam:
        return None
    allowed = math.floor(rate * len(ham) + 1e-9)
    if allowed >= len(ham):
        return 1.0
    cut = math.nextafter(ham[allowed], math.inf)
    return sum(1 for s in spam if s >= cut) / len(spam)


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero."""
    return numerator / denominator if denominator else None


def metrics(
    labels: Sequence[bool], verdicts: Sequence[Verdict], probs: Sequence[float], seconds: float
) -> Metrics:
    """The figures for scored rows: only verdict spam/discard counts as predicting spam."""
    predicted = [v in SPAM_VERDICTS for v in verdicts]
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    n_spam = sum(1 for y in labels if y)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, n_spam)
    f1 = _ratio(2 * tp, 2 * tp + fp + (n_spam - tp))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": roc_auc(labels, probs),
        "fpr": _ratio(fp, len(labels) - n_spam),
        "held": _ratio(sum(1 for v in verdicts if v == Verdict.unsure), len(labels)),
        "rows": len(labels),
        "rows_per_s": round(len(labels) / seconds, 1) if seconds > 0 else None,
        **{
            f"recall_at_fpr_{suffix}": recall_at_fpr(labels, probs, rate)
            for suffix, rate in FIXED_FPRS
        },
    }


def evaluate(
    rows: Iterable[Row],
    score_row: ScoreRow,
    learn_row: LearnRow | None = None,
    *,
    online: bool = False,
) -> Metrics:
    """Score every row in order; with ``online`` learn each row's label right after scoring it.

    Returns the keys `METRIC_KEYS`. Undefined ratios (say, precision with no spam predicted) are None.
    ``rows_per_s`` counts the time spent scoring and learning.
    """
    if online and learn_row is None:
        raise ValueError("online evaluation needs learn_row")
    labels: list[bool] = []
    verdicts: list[Verdict] = []
    probs: list[float] = []
    started = time.perf_counter()
    for row in rows:
        verdict, prob = score_row(row)
        if online and learn_row is not None:
            learn_row(row)
        labels.append(row.is_spam)
        verdicts.append(verdict)
        probs.append(prob)
    return metrics(labels, verdicts, probs, time.perf_counter() - started)


def classifier_callbacks(scorer: ClassifierScorer) -> tuple[ScoreRow, LearnRow]:
    """``score_row`` and ``learn_row`` for the classifier alone (its signal combined with defaults).

    ``learn_row`` reuses the features ``score_row`` just extracted for the same row.
    """
    last: list[tuple[Row, list[str]]] = []

    def score_row(row: Row) -> tuple[Verdict, float]:
        """The classifier's verdict and probability for one row."""
        feats = features(row.submission())
        last[:] = [(row, feats)]
        signal, prob = scorer.judge(feats)
        return combine([signal]).verdict, prob

    def learn_row(row: Row) -> None:
        """Teach the classifier the row's label."""
        feats = last[0][1] if last and last[0][0] is row else features(row.submission())
        scorer.model.learn_decision(feats, row.is_spam)

    return score_row, learn_row


def evaluate_model(
    rows: Iterable[Row], model: SpamModel, *, online: bool = False, cutoffs: Cutoffs | None = None
) -> Metrics:
    """Evaluate the classifier with ``model``; online mode learns into a copy, never into ``model``."""
    scorer = ClassifierScorer(model.copy() if online else model, cutoffs)
    score_row, learn_row = classifier_callbacks(scorer)
    return evaluate(rows, score_row, learn_row, online=online)
