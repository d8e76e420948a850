"""Submissions, signals and verdicts: the scoring pipeline's pure core.

A scorer looks at a `Submission` and returns named `Signal`s, each with a score in points (positive is
spammy) and a reason a moderator can read. `run_pipeline` runs the scorers in order and `combine` turns
all their signals into one deterministic `Assessment`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from moderation.domain.states import CommentKind
from moderation.errors import ScorerUnavailable


class Verdict(enum.StrEnum):
    """The pipeline's conclusion, in increasing severity."""

    ham = "ham"
    unsure = "unsure"
    spam = "spam"
    discard = "discard"

    @property
    def severity(self) -> int:
        """Order for combining: a later verdict overrides an earlier one."""
        return list(Verdict).index(self)


@dataclass(frozen=True)
class Submission:
    """Everything scorers may look at; no database or HTTP types."""

    kind: CommentKind
    site: str
    site_url: str
    permalink: str
    text: str
    author: str = ""
    email: str = ""
    website: str = ""
    ip: str = ""
    user_agent: str = ""
    referrer: str = ""
    created: datetime | None = None
    language: str = "en"
    honeypot: str = ""
    source: str = ""
    author_trusted: bool = False
    # The same text (its fingerprint) on other pages of any site within ``[spam]
    # repeat_window_days``: how many pages, and on how many of them a copy is marked spam.
    repeat_pages: int = 0
    repeat_spam_pages: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Signal:
    """One piece of evidence. `verdict`, when set, is the least severe verdict it allows."""

    name: str
    score: float
    reason: str
    verdict: Verdict | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly form for storage and the moderation API."""
        out: dict[str, object] = {"name": self.name, "score": self.score, "reason": self.reason}
        if self.verdict is not None:
            out["verdict"] = self.verdict.value
        return out


@dataclass(frozen=True)
class Thresholds:
    """Score cut-offs: at or above `unsure` waits for a moderator, at or above `spam` is spam."""

    unsure: float = 1.0
    spam: float = 5.0


@dataclass(frozen=True)
class Assessment:
    """The combined verdict, its total score and every signal behind it, in pipeline order."""

    verdict: Verdict
    score: float
    signals: tuple[Signal, ...]
    unavailable: tuple[str, ...] = ()

    @property
    def recheck_reason(self) -> str | None:
        """Why this assessment must be repeated later (a scorer was unavailable), if it must."""
        return "; ".join(self.unavailable) or None


class Scorer(Protocol):
    """Anything that can look at a submission and return signals."""

    name: str

    def score(self, submission: Submission) -> Sequence[Signal]:
        """Return evidence; raise `ScorerUnavailable` when no answer can be had now."""
        ...


class NullScorer:
    """Finds no evidence either way, so the site's policy alone decides."""

    name = "null"

    def score(self, submission: Submission) -> Sequence[Signal]:
        """No signals."""
        return ()


def combine(signals: Iterable[Signal], thresholds: Thresholds = Thresholds()) -> Assessment:
    """Sum the scores, then take the most severe of the threshold verdict and any signal's floor."""
    signals = tuple(signals)
    score = round(sum(s.score for s in signals), 4)
    if score >= thresholds.spam:
        verdict = Verdict.spam
    elif score >= thresholds.unsure:
        verdict = Verdict.unsure
    else:
        verdict = Verdict.ham
    for sig in signals:
        if sig.verdict is not None and sig.verdict.severity > verdict.severity:
            verdict = sig.verdict
    return Assessment(verdict=verdict, score=score, signals=signals)


def run_pipeline(
    submission: Submission, scorers: Iterable[Scorer], thresholds: Thresholds = Thresholds()
) -> Assessment:
    """Run every scorer in order and combine their signals.

    A scorer that raises `ScorerUnavailable` contributes an ``<name>.unavailable`` signal that holds the
    submission for review (never approves it, never bins it) and is named in `Assessment.unavailable`.
    """
    signals: list[Signal] = []
    unavailable: list[str] = []
    for scorer in scorers:
        try:
            signals.extend(scorer.score(submission))
        except ScorerUnavailable as exc:
            unavailable.append(f"{scorer.name}: {exc}")
            signals.append(
                Signal(f"{scorer.name}.unavailable", 0.0, f"no answer: {exc}", Verdict.unsure)
            )
    result = combine(signals, thresholds)
    return Assessment(result.verdict, result.score, result.signals, tuple(unavailable))
