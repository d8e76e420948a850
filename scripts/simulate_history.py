"""What teaching a site's imported history does to the local scorer, measured on the open sets.

    .venv/bin/python scripts/simulate_history.py [--data ../shared/data/spam/comments]
        [--max-fp-share 0.005] [--ham-weights 0.25,0.1]

For each YouTube video a base model is built exactly as the shipped one is, from the other four
videos only (as scripts/evaluate_open_sets.py does). The video's rows are split in halves per label
(some files are sorted by label): the first half of its ham and of its spam, in file order, is the
site's history (what an import brings), the other rows, in file order, its live traffic.
Each history is taught as ``moderation spam learn-history`` would (each row scored just before it
is learned, its probability kept in the site's reserve, the cut-offs calibrated once at the end):

* ``none``: no history (today's behaviour after an import);
* ``ham → model``: the first half's ham only, as a WordPress, Isso or Remark42 export holds it,
  learned by the model and kept in the reserve;
* ``ham → reserve``: the same ham kept in the reserve only (it calibrates the cut-offs), the model
  untouched;
* ``ham ×W → model``: the ham learned at weight W (and kept in the reserve);
* ``both → model``: the first half's ham and spam (a Disqus or native export), learned and kept;
* ``spam → model``: the first half's spam only;
* ``ham+S% spam → model``: the ham and only the first S % of that spam (a site whose moderators
  deleted most spam rather than marking it), all learned;
* ``ham+S% spam, capped``: the same, but no more ham learned by the model than spam (the rest of
  the ham in the reserve only): what ``learn-history`` does;
* ``spam+S% ham → model`` and ``…, capped``: the mirror, a history of spam with few approved
  comments, all learned, or no more spam learned than ham (the newest).

The second half is then scored by the rules and the classifier (no Akismet, no repeated-text rule)
as shipped (nothing more learned) and online (each row learned right after it is scored, the
cut-offs calibrated as a site's are). Prints one markdown table: recall, false-positive rate on ham,
held share of all rows and of the ham, AUC and recall at 1 % FPR, per video and their mean.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_base_model as tbm  # noqa: E402

from moderation.domain.scoring import Thresholds, Verdict, combine  # noqa: E402
from moderation.scorers.classifier import ClassifierScorer, SpamModel  # noqa: E402
from moderation.scorers.classifier.calibration import calibrate  # noqa: E402
from moderation.scorers.classifier.features import features  # noqa: E402
from moderation.scorers.evaluation import Row, metrics, read_rows  # noqa: E402
from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "spam" / "comments"
HELD_HAM = 0.05  # the shipped model's held-ham target (services.spam.held_ham_share)
RESERVE = 1000  # [spam] decision_reserve's default
KEYS = ("recall", "fpr", "held", "held_ham", "auc", "recall_at_fpr_1pct")


def submission(row: Row) -> object:
    """As `moderation spam evaluate` builds it: a browser's user agent stands in."""
    return dataclasses.replace(row.submission(), user_agent="Mozilla/5.0 (evaluation)")


class Site:
    """One site's classifier (a copy of the base model), reserve and cut-offs, in memory."""

    def __init__(self, base: SpamModel, share: float) -> None:
        self.model = base.copy()
        self.shipped = base.cutoffs
        self.share = share
        self.reserve: collections.deque[float] = collections.deque(maxlen=RESERVE)
        self.scorer = ClassifierScorer(self.model)
        self.rules = RuleScorer(RuleSettings(), RuleLists())

    def calibrate(self) -> None:
        self.scorer.cutoffs = calibrate(list(self.reserve), self.shipped, self.share, HELD_HAM)

    def teach(self, row: Row, into_model: bool, weight: float = 1.0) -> None:
        """Score before learning; ham joins the reserve (spam never moves a cut)."""
        feats = features(submission(row))  # type: ignore[arg-type]
        prob = self.model.score(feats)
        if not row.is_spam:
            self.reserve.append(prob)
        if into_model:
            self.model.learn_decision(feats, row.is_spam, weight)

    def run(self, rows: Sequence[Row], online: bool) -> dict[str, float | int | None]:
        labels, verdicts, probs = [], [], []
        for row in rows:
            sub = submission(row)
            feats = features(sub)  # type: ignore[arg-type]
            signal, prob = self.scorer.judge(feats)
            verdict = combine([*self.rules.score(sub), signal], Thresholds()).verdict  # type: ignore[arg-type]
            labels.append(row.is_spam)
            verdicts.append(verdict)
            probs.append(prob)
            if online:
                if not row.is_spam:
                    self.reserve.append(prob)
                    self.calibrate()
                self.model.learn_decision(feats, row.is_spam)
        result = metrics(labels, verdicts, probs, 1.0)
        ham = [v for y, v in zip(labels, verdicts, strict=True) if not y]
        result["held_ham"] = sum(1 for v in ham if v is Verdict.unsure) / len(ham) if ham else None
        return result


def variants(weights: Sequence[float], sparse: float) -> list[tuple[str, str, bool, float]]:
    """(name, which rows, into the model, weight) of each history."""
    out = [
        ("none", "none", False, 1.0),
        ("ham → model", "ham", True, 1.0),
        ("ham → reserve", "ham", False, 1.0),
    ]
    out += [(f"ham ×{w:g} → model", "ham", True, w) for w in weights]
    out.append(("both → model", "both", True, 1.0))
    out.append(("spam → model", "spam", True, 1.0))
    out.append((f"ham+{sparse:.0%} spam → model", "sparse", True, 1.0))
    out.append((f"ham+{sparse:.0%} spam, capped", "capped", True, 1.0))
    out.append((f"spam+{sparse:.0%} ham → model", "sparse-ham", True, 1.0))
    out.append((f"spam+{sparse:.0%} ham, capped", "capped-ham", True, 1.0))
    return out


def history_of(first: Sequence[Row], which: str, sparse: float) -> list[tuple[Row, bool]]:
    """The history's rows, in order, each with whether the model learns it."""
    if which == "none":
        return []
    if which in ("ham", "spam", "both"):
        keep = {"ham": (False,), "spam": (True,), "both": (False, True)}[which]
        return [(r, True) for r in first if r.is_spam in keep]
    few = which.endswith("-ham")  # the sparse label is ham
    sparse_rows = [r for r in first if r.is_spam is not few]
    kept = {id(r) for r in sparse_rows[: round(len(sparse_rows) * sparse)]}
    rows = [r for r in first if r.is_spam is few or id(r) in kept]
    if which.startswith("sparse"):
        return [(r, True) for r in rows]
    # capped: the newest of each label up to the smaller label's count
    n = min(sum(r.is_spam for r in rows), sum(not r.is_spam for r in rows))
    learned: set[int] = set()
    for label in (False, True):
        same = [r for r in rows if r.is_spam is label]
        learned |= {id(r) for r in same[len(same) - n :]}
    return [(r, id(r) in learned) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-fp-share", type=float, default=0.005)
    parser.add_argument("--ham-weights", default="0.25")
    parser.add_argument("--sparse-spam", type=float, default=0.2)
    args = parser.parse_args()
    weights = [float(w) for w in args.ham_weights.split(",") if w]
    youtube, aux = tbm.load(args.data)
    rows = read_rows(args.data / "youtube.csv")
    print("| video | history | mode | cut-offs (unsure, spam) | " + " | ".join(KEYS) + " |")
    print("|---|---|---|---|" + "---|" * len(KEYS))
    means: dict[tuple[str, str], dict[str, float]] = {}
    videos = sorted({r.source for r in rows})
    for video in videos:
        base = tbm.build([ex for ex in youtube if ex.row.source != video], aux)
        mine = [r for r in rows if r.source == video]
        picked: set[int] = set()
        for label in (False, True):
            same = [r for r in mine if r.is_spam is label]
            picked |= {id(r) for r in same[: len(same) // 2]}
        first = [r for r in mine if id(r) in picked]
        second = [r for r in mine if id(r) not in picked]
        for name, which, into_model, weight in variants(weights, args.sparse_spam):
            for mode in ("as shipped", "online"):
                site = Site(base, args.max_fp_share)
                for row, learns in history_of(first, which, args.sparse_spam):
                    site.teach(row, into_model and learns, weight)
                site.calibrate()
                cut = site.scorer.cutoffs
                result = site.run(second, online=mode == "online")
                cells = [f"{result[k]:.3f}" if result[k] is not None else "-" for k in KEYS]
                label = video.removeprefix("youtube:")
                print(
                    f"| {label} | {name} | {mode} | {cut.unsure:.3f}, {cut.spam:.3f} | "
                    + " | ".join(cells)
                    + " |",
                    flush=True,
                )
                for key in KEYS:
                    slot = means.setdefault((name, mode), {})
                    slot[key] = slot.get(key, 0.0) + float(result[key] or 0.0) / len(videos)
    for (name, mode), result in means.items():
        cells = [f"{result[k]:.3f}" for k in KEYS]
        print(f"| **mean** | {name} | {mode} | | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
