"""How much one moderator decision should weigh against the shipped model's examples (issue 22).

    .venv/bin/python scripts/compare_decision_weights.py [--data DIR] [--weights 1,2,4,8,16]
        [--flip 0.03]

Not part of the service: the measurement behind `moderation.scorers.classifier.model.DECISION_WEIGHT`.

Each open set is scored online, as ``moderation spam evaluate --online`` scores it: the rules and the
classifier combined with the default thresholds, each row's label learned right after the row is
scored, the cut-offs calibrated on the ham seen so far as a site's are (``max_false_positive_share``
0.5 %). Only the weight of a learned row changes, in both halves of the model (its naive-Bayes
counts and its logistic step). The sets:

* each YouTube video, scored by a base model built exactly as the shipped one but without it
  (``scripts/train_base_model.py``);
* SMS, e-mail and the ScamSpot Instagram comments (when present), scored by a base model built from
  the YouTube comments alone: a site whose spam the base has never seen;
* the blog comments (ham only; when their CSV is present), scored by the shipped model.

``--flip P`` teaches a share P of the labels wrongly (a fixed seed), to see how each weight bears a
moderator's mistakes; the figures are always measured against the true labels. ``--review N``
adds a moderator who, every N rows, opens the dashboard's Spam filter page and marks spam the
listed approvals that are spam: the reserve's ham at or above the shipped spam cut-off, the 20
highest (``services.spam_filter.HOLDING_SHOWN``). Each is reversed as the service reverses a
decision: its ham lesson taken back (counts and logistic step), the spam lesson taught, the
reserve's entry gone, the cut-offs calibrated again.
Printed per weight: recall (spam verdicts), the false-positive rate on ham, held, and recall at
1 % FPR (threshold-free). Only the open sets are read; the sealed set never is.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_base_model as tbm  # noqa: E402

from moderation.cli.spam import evaluation_submission  # noqa: E402
from moderation.domain.scoring import Thresholds, Verdict, combine  # noqa: E402
from moderation.scorers.classifier import ClassifierScorer, SpamModel  # noqa: E402
from moderation.scorers.classifier.calibration import calibrate  # noqa: E402
from moderation.scorers.classifier.features import features  # noqa: E402
from moderation.scorers.classifier.model import Delta  # noqa: E402
from moderation.scorers.evaluation import Row, read_rows, recall_at_fpr  # noqa: E402
from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings  # noqa: E402
from moderation.services.spam import base_model, held_ham_share  # noqa: E402
from moderation.services.spam_filter import HOLDING_SHOWN  # noqa: E402

SHARE = 0.005  # the default of [spam] max_false_positive_share
RESERVE = 1000  # the default of [spam] decision_reserve
INSTAGRAM = ROOT / "data" / "spam" / "scamspot-instagram" / "scamspot-instagram.csv"
BLOG = ROOT / "data" / "spam" / "blog-comments" / "blog-comments.csv"


@dataclass
class Approval:
    """A ham decision in the reserve: what reversing it needs."""

    prob: float
    is_spam: bool  # the row's true label
    feats: list[str]
    step: dict[str, tuple[float, float]]


def review_approvals(
    model: SpamModel, reserve: collections.deque[Approval], shipped: float, weight: float
) -> int:
    """Mark spam the listed approvals that are spam (the Spam filter page's list); how many."""
    listed = sorted((a for a in reserve if a.prob >= shipped), key=lambda a: -a.prob)
    wrong = [a for a in listed[:HOLDING_SHOWN] if a.is_spam]
    for approval in wrong:
        reserve.remove(approval)
        model.count(approval.feats, False, -weight)
        back = Delta()
        back.weights = {feat: (-change, 0.0) for feat, (change, _) in approval.step.items()}
        model.apply(back)
        model.learn(approval.feats, True, weight)
    return len(wrong)


def online(
    model: SpamModel, rows: Sequence[Row], weight: float, flip: float, review: int = 0
) -> dict[str, float]:
    """Score ``rows`` in order, learning each at ``weight`` right after it is scored."""
    model = model.copy()
    classifier = ClassifierScorer(model)
    rules = RuleScorer(RuleSettings(), RuleLists())
    shipped, reserve = model.cutoffs, collections.deque[Approval](maxlen=RESERVE)
    wrong = random.Random(7)
    labels, probs, verdicts = [], [], []
    reversed_ = 0
    for i, row in enumerate(rows, 1):
        submission = evaluation_submission(row)
        feats = list(dict.fromkeys(features(submission)))
        signal, prob = classifier.judge(feats)
        verdicts.append(combine([*rules.score(submission), signal], Thresholds()).verdict)
        labels.append(row.is_spam)
        probs.append(prob)
        said = row.is_spam != (wrong.random() < flip)
        delta = model.learn(feats, said, weight)
        if not said:
            reserve.append(Approval(prob, row.is_spam, feats, delta.weights))
        if review and i % review == 0:
            reversed_ += review_approvals(model, reserve, shipped.spam, weight)
        if not said or (review and i % review == 0):
            approved = [a.prob for a in reserve]
            classifier.cutoffs = calibrate(approved, shipped, SHARE, held_ham_share())
    spam = [v for y, v in zip(labels, verdicts, strict=True) if y]
    ham = [v for y, v in zip(labels, verdicts, strict=True) if not y]
    out = {
        "recall": sum(v is Verdict.spam for v in spam) / len(spam) if spam else float("nan"),
        "fpr": sum(v is Verdict.spam for v in ham) / len(ham),
        "held": sum(v is Verdict.unsure for v in verdicts) / len(verdicts),
    }
    out["recall_at_1pct"] = (recall_at_fpr(labels, probs, 0.01) or 0.0) if spam else float("nan")
    if review:
        out["reversed"] = reversed_
    return out


def cell(key: str, value: float) -> str:
    """One figure: a count as a whole number, a rate to three places, "-" for no spam (nan)."""
    if key == "reversed":
        return f"{value:.0f}"
    return f"{value:.3f}" if value == value else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=tbm.DEFAULT_DATA)
    parser.add_argument("--weights", default="1,2,4,8,16")
    parser.add_argument("--flip", type=float, default=0.0)
    parser.add_argument("--review", type=int, default=0, metavar="N")
    parser.add_argument("--only", default="", help="only the sets whose name holds this text")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]

    youtube, aux = tbm.load(args.data)
    sets: list[tuple[str, SpamModel, list[Row]]] = []
    for video in sorted({ex.row.source for ex in youtube}):
        base = tbm.build([ex for ex in youtube if ex.row.source != video], aux)
        sets.append((video, base, [ex.row for ex in youtube if ex.row.source == video]))
    youtube_only = tbm.build(youtube, {})
    others = [args.data / "sms.csv", args.data / "email-spamassassin.csv", INSTAGRAM]
    for path in (p for p in others if p.exists()):
        sets.append((f"{path.stem} (YouTube-only base)", youtube_only, read_rows(path)))
    if BLOG.exists():
        sets.append(("blog comments, ham only (shipped)", base_model(), read_rows(BLOG)))

    print("| set | " + " | ".join(f"weight {w:g}" for w in weights) + " |")
    print("|---|" + "---|" * len(weights))
    means: dict[float, list[float]] = {w: [] for w in weights}
    for name, base, rows in (t for t in sets if args.only in t[0]):
        cells = []
        for w in weights:
            m = online(base, rows, w, args.flip, args.review)
            if name.startswith("youtube:"):
                means[w].append(m["recall"])
            cells.append(" / ".join(cell(k, v) for k, v in m.items()))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        "| mean recall of the videos | "
        + " | ".join(f"{sum(v) / len(v):.3f}" for v in means.values())
        + " |"
    )
    extra = " / approvals reversed" if args.review else ""
    print(f"\ncells: recall / fpr / held / recall at 1 % FPR{extra}")


if __name__ == "__main__":
    main()
