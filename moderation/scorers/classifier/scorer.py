"""`ClassifierScorer`: the local classifier as a `Scorer`.

It turns the model's probability into points with cut-offs calibrated on ham, so that few readers'
comments are ever sent to spam; the middle band is held for a moderator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from moderation.domain.scoring import Signal, Submission
from moderation.scorers.classifier.features import features
from moderation.scorers.classifier.model import Clue, Cutoffs, Delta, SpamModel


@dataclass(frozen=True)
class Points:
    """How a probability becomes pipeline points (the default `Thresholds` are 1 and 5)."""

    spam_min: float = 5.0
    spam_max: float = 8.0
    unsure_min: float = 1.0
    unsure_max: float = 4.0
    ham_min: float = -1.0


class ClassifierScorer:
    """The `Scorer` for the local classifier: one ``classifier`` signal per submission."""

    name = "classifier"

    def __init__(
        self,
        model: SpamModel,
        cutoffs: Cutoffs | None = None,
        points: Points | None = None,
        top: int = 5,
    ) -> None:
        """Score with ``model``; ``cutoffs`` default to the ones calibrated and stored in the model."""
        self.model = model
        self.cutoffs = cutoffs or model.cutoffs
        self.points = points or Points()
        self.top = top

    def probability(self, submission: Submission) -> float:
        """The model's spam probability for ``submission``."""
        return self.model.score(features(submission))

    def points_for(self, prob: float) -> float:
        """Points for a probability: >= 5 at the spam cut, 1..4 in the unsure band, else -1..0."""
        cut, pts = self.cutoffs, self.points
        if prob >= cut.spam:
            share = (prob - cut.spam) / max(1.0 - cut.spam, 1e-9)
            return round(pts.spam_min + share * (pts.spam_max - pts.spam_min), 2)
        if prob >= cut.unsure:
            share = (prob - cut.unsure) / max(cut.spam - cut.unsure, 1e-9)
            return round(pts.unsure_min + share * (pts.unsure_max - pts.unsure_min), 2)
        return round(pts.ham_min * (1.0 - prob / max(cut.unsure, 1e-9)), 2)

    def assess(self, submission: Submission) -> tuple[Signal, float]:
        """The signal and the probability behind it (one feature extraction for both)."""
        return self.judge(features(submission))

    def judge(self, feats: Iterable[str]) -> tuple[Signal, float]:
        """`assess` for features already extracted (say, to learn from the same ones after)."""
        unique = list(dict.fromkeys(feats))
        clues = self.model.clues(unique)
        prob = self.model.combine(clues, unique)
        reason = f"classifier: {prob:.2f} spam probability"
        top = _top_clues(clues, spammy=prob >= 0.5, n=self.top)
        if top:
            reason += f" (top tokens: {', '.join(top)})"
        return Signal(self.name, self.points_for(prob), reason), prob

    def score(self, submission: Submission) -> list[Signal]:
        """One signal with the points and a reason naming the strongest evidence."""
        return [self.assess(submission)[0]]

    def learn(self, submission: Submission, is_spam: bool) -> Delta:
        """Teach the model a moderator's decision; returns the `Delta` to persist or share."""
        return self.model.learn_decision(features(submission), is_spam)


def _top_clues(clues: Sequence[Clue], spammy: bool, n: int) -> list[str]:
    """The ``n`` strongest clues pointing the same way as the verdict, as readable ``feature=prob``."""
    same_way = [c for c in clues if (c.prob > 0.5) == spammy]
    return [f"{c.feature!r} {c.prob:.2f}" for c in same_way[:n]]
