"""Build the shipped base spam model from the open data, and report how it does.

    .venv/bin/python scripts/train_base_model.py [--data DIR] [--out FILE] [--check] [--compare]
        [--extra NAME=WEIGHT ...]

Reads the canonical CSVs (`youtube.csv`, `sms.csv`, `email-spamassassin.csv`) from ``--data`` and
writes ``moderation/data/base_model.json.gz``: the same bytes on every run. Before writing it prints:

* leave-one-video-out on the YouTube set (no video in both train and test), per video and the mean:
  "as shipped" (the base model, no learning), "online from base" and "online from nothing" (each
  comment's label learned right after it is scored, in file order). The cut-offs used on each held-out
  video are calibrated on the other four videos only (an inner leave-one-video-out), never on it.
* leave-one-corpus-out on SMS and e-mail: a "site" whose traffic is unlike the base model.
* online from nothing over the whole YouTube file, as in SPAM-NOTES.
* every other corpus under ``data/spam/<name>/<name>.csv`` (converted from public sources, see its
  SOURCE.md): scored by the model as an open set when it is not trained on; when it is (``EXTRA``
  or ``--extra``), scored by models trained without a fifth of its sources each (grouped folds).

``--extra NAME=WEIGHT`` trains on ``data/spam/NAME/NAME.csv`` too, each row at that weight, to
measure a corpus before it joins ``EXTRA``; such a trial writes no file unless ``--out`` is given.

``--check`` rebuilds in memory and fails when the committed file differs. ``--compare`` adds the
measurement that chose the model: Robinson-Fisher naive Bayes and logistic regression, each alone and
combined (shipped).
Only the open sets are used; the sealed set is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.scorers.classifier import Cutoffs, Params, SpamModel  # noqa: E402
from moderation.scorers.classifier.features import features  # noqa: E402
from moderation.scorers.classifier.model import BIAS  # noqa: E402
from moderation.scorers.evaluation import (  # noqa: E402
    Metrics,
    Row,
    evaluate_model,
    read_rows,
    recall_at_fpr,
    roc_auc,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "spam" / "comments"
DEFAULT_OUT = ROOT / "moderation" / "data" / "base_model.json.gz"
# Further corpora converted from public sources, one folder each: data/spam/<name>/<name>.csv.
OPEN_SETS = ROOT / "data" / "spam"
COMMENTS = "youtube.csv"
# Out-of-domain corpora and the weight of each of their rows (a YouTube row weighs 1).
AUXILIARY = {"sms.csv": 0.05, "email-spamassassin.csv": 0.05}
# Corpora of OPEN_SETS trained on, by folder name, with the weight of each row. None yet: the
# ScamSpot Instagram comments were measured at 0.01 to 1 and raised e-mail ham flagged (see
# moderation/data/BASE_MODEL.md), so they stay an open set.
EXTRA: dict[str, float] = {}
# Grouped folds by source when a trained-on corpus of OPEN_SETS is evaluated.
SOURCE_FOLDS = 5
# All counts are multiplied by this before shipping: a weak prior that a site's own moderators outvote.
BASE_SCALE = 0.5
# Feature families left out of the base model: author names say nothing about another site, and
# length mostly says "YouTube ham is short" (sites still learn both from their own moderators).
EXCLUDED = ("a:", "s:len=")
# Features seen in fewer (weighted) examples than this are dropped from the shipped file.
MIN_COUNT = 1.0
# Cut-offs, calibrated on out-of-fold ham: at most this share of ham may score spam / held-or-spam.
SPAM_FPR_TARGET = 0.003
HELD_HAM_TARGET = 0.05
PARAMS = Params(logistic=True)
# Shuffled passes (fixed seed) of the logistic half over the training rows.
LOGISTIC_EPOCHS = 3


@dataclass(frozen=True)
class Example:
    """A row with its features computed once."""

    row: Row
    feats: tuple[str, ...]
    weight: float


# --- data and training ----------------------------------------------------------------------------


def examples(path: Path, weight: float) -> list[Example]:
    """One CSV's rows with their features."""
    return [Example(r, tuple(features(r.submission())), weight) for r in read_rows(path)]


def open_set(name: str) -> Path:
    """The canonical CSV of the corpus ``name`` under OPEN_SETS."""
    return OPEN_SETS / name / f"{name}.csv"


def load(
    data: Path, extra: dict[str, float] | None = None
) -> tuple[list[Example], dict[str, list[Example]]]:
    """The YouTube examples and the auxiliary corpora's, by file name, with the trained-on corpora of
    OPEN_SETS (``EXTRA`` unless ``extra`` is given) that are present."""
    aux = {n: examples(data / n, w) for n, w in AUXILIARY.items()}
    for name, weight in (EXTRA if extra is None else extra).items():
        if open_set(name).exists():
            aux[f"{name}.csv"] = examples(open_set(name), weight)
    return examples(data / COMMENTS, 1.0), aux


def train(
    examples: Sequence[Example], cutoffs: Cutoffs | None = None, params: Params = PARAMS
) -> SpamModel:
    """Count the examples and fit the logistic half (neither learns the excluded families), then
    prune and scale the counts to ship."""
    model = SpamModel(params=params, cutoffs=cutoffs)
    for ex in examples:
        model.count(ex.feats, ex.row.is_spam, ex.weight, fixed=EXCLUDED)
    if params.logistic:
        order = list(examples)
        shuffle = random.Random(0).shuffle
        for _ in range(LOGISTIC_EPOCHS):
            shuffle(order)
            for ex in order:
                model.step(ex.feats, ex.row.is_spam, ex.weight, fixed=EXCLUDED)
    model.counts = {f: c for f, c in model.counts.items() if c[0] + c[1] >= MIN_COUNT}
    model.weights = {f: w for f, w in model.weights.items() if f in model.counts or f == BIAS}
    return model.scaled(BASE_SCALE)


def videos(examples: Sequence[Example]) -> list[str]:
    """The YouTube videos, in a fixed order."""
    return sorted({ex.row.source for ex in examples})


def held_out(examples: Sequence[Example], video: str) -> tuple[list[Example], list[Example]]:
    """(the other videos' examples, this video's examples)."""
    rest = [ex for ex in examples if ex.row.source != video]
    return rest, [ex for ex in examples if ex.row.source == video]


# --- calibration ----------------------------------------------------------------------------------


def cut_above(ham_probs: Sequence[float], share: float) -> float:
    """The lowest cut that leaves at most ``share`` of these ham probabilities at or above it."""
    ordered = sorted(ham_probs, reverse=True)
    allowed = math.floor(share * len(ordered))
    if allowed >= len(ordered):
        return 0.0
    return math.nextafter(ordered[allowed], math.inf)


def out_of_fold_ham(youtube: Sequence[Example], aux: Sequence[Example]) -> list[float]:
    """Each ham comment's probability under a model trained without its video."""
    probs: list[float] = []
    for video in videos(youtube):
        rest, test = held_out(youtube, video)
        model = train([*rest, *aux])
        probs.extend(model.score(ex.feats) for ex in test if not ex.row.is_spam)
    return probs


def calibrate(youtube: Sequence[Example], aux: Sequence[Example]) -> Cutoffs:
    """Cut-offs from out-of-fold ham only: the spam cut for the FPR target, the unsure cut below."""
    ham = out_of_fold_ham(youtube, aux)
    return Cutoffs(
        unsure=max(0.5, cut_above(ham, HELD_HAM_TARGET)), spam=cut_above(ham, SPAM_FPR_TARGET)
    )


# --- reports --------------------------------------------------------------------------------------

MODES = ("as shipped", "online from base", "online from nothing")
SHOWN = ("precision", "recall", "fpr", "auc", "held", "rows", "rows_per_s")
# The tables of the corpora under OPEN_SETS also show recall at 1 % and 0.5 % FPR.
SHOWN_OPEN = (*SHOWN[:3], "recall_at_fpr_1pct", "recall_at_fpr_0_5pct", *SHOWN[3:])


def run_modes(base: SpamModel, rows: Sequence[Row]) -> dict[str, Metrics]:
    """The three evaluation modes on ``rows`` with ``base`` and its cut-offs."""
    empty = SpamModel(params=base.params, cutoffs=base.cutoffs)
    return {
        MODES[0]: evaluate_model(rows, base),
        MODES[1]: evaluate_model(rows, base, online=True),
        MODES[2]: evaluate_model(rows, empty, online=True),
    }


def fmt(value: float | int | None) -> str:
    """A metric as table text."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.0f}" if value >= 100 else f"{value:.4f}"


def print_table(
    title: str, results: dict[str, dict[str, Metrics]], shown: Sequence[str] = SHOWN
) -> None:
    """A Markdown table: one line per (split, mode)."""
    print(f"\n### {title}\n")
    print("| split | mode | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    for split, modes in results.items():
        for mode, figures in modes.items():
            print(f"| {split} | {mode} | " + " | ".join(fmt(figures[k]) for k in shown) + " |")


def mean_of(results: dict[str, dict[str, Metrics]]) -> dict[str, Metrics]:
    """The per-mode mean over splits (rows summed)."""
    out: dict[str, Metrics] = {}
    for mode in MODES:
        runs = [modes[mode] for modes in results.values()]
        out[mode] = {k: _mean([r[k] for r in runs]) for k in SHOWN}
        out[mode]["rows"] = sum(int(r["rows"] or 0) for r in runs)
    return out


def _mean(values: Sequence[float | int | None]) -> float | None:
    """The mean of the defined values."""
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def by_video(youtube: Sequence[Example], aux: Sequence[Example]) -> dict[str, dict[str, Metrics]]:
    """Leave-one-video-out with nested calibration; the cut-offs are printed per video."""
    results = {}
    for video in videos(youtube):
        rest, test = held_out(youtube, video)
        cutoffs = calibrate(rest, aux)
        print(f"  {video}: cut-offs unsure {cutoffs.unsure:.6f}, spam {cutoffs.spam:.6f}")
        results[video] = run_modes(train([*rest, *aux], cutoffs), [ex.row for ex in test])
    results["mean of the 5 videos"] = mean_of(results)
    return results


def by_corpus(
    youtube: Sequence[Example], aux: dict[str, list[Example]], cutoffs: Cutoffs
) -> dict[str, dict[str, Metrics]]:
    """Each auxiliary corpus scored by a base model trained without it (a site unlike the base)."""
    results = {}
    for name, rows in aux.items():
        others = [ex for other, exs in aux.items() if other != name for ex in exs]
        base = train([*youtube, *others], cutoffs)
        results[f"{name} (base without it)"] = run_modes(base, [ex.row for ex in rows])
    return results


# --- the alternatives measured against the shipped model (--compare) -------------------------------


def logistic_only(model: SpamModel) -> Callable[[Sequence[str]], float]:
    """The logistic half of ``model`` on its own."""

    def score(feats: Sequence[str]) -> float:
        margin = model.margin(list(dict.fromkeys(feats)))
        return 1.0 / (1.0 + math.exp(-margin))

    return score


Trainer = Callable[[Sequence[Example]], Callable[[Sequence[str]], float]]


def tail_figures(labels: Sequence[bool], probs: Sequence[float], cut: float) -> tuple[float, float]:
    """(recall, fpr) when everything at or above ``cut`` is called spam."""
    spam = [p for y, p in zip(labels, probs, strict=True) if y]
    ham = [p for y, p in zip(labels, probs, strict=True) if not y]
    return sum(p >= cut for p in spam) / len(spam), sum(p >= cut for p in ham) / len(ham)


def compare(youtube: Sequence[Example], aux: Sequence[Example]) -> None:
    """Nested leave-one-video-out AUC, recall and FPR at the calibrated spam cut, for both models."""
    trainers: dict[str, Trainer] = {
        "Robinson-Fisher naive Bayes alone": lambda exs: train(exs, params=Params()).score,
        "logistic regression alone (AdaGrad, 3 epochs)": lambda exs: logistic_only(train(exs)),
        "both, 0.3 and 0.7 of their log-odds (shipped)": lambda exs: train(exs).score,
    }
    print("\n### model comparison (leave one video out, cut calibrated on the other four)\n")
    print("| model | auc | recall | fpr |\n|---|---|---|---|")
    for name, trainer in trainers.items():
        figures = [_compare_fold(trainer, youtube, aux, video) for video in videos(youtube)]
        means = [sum(f[i] for f in figures) / len(figures) for i in range(3)]
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in means) + " |")


def _compare_fold(
    trainer: Trainer, youtube: Sequence[Example], aux: Sequence[Example], video: str
) -> tuple[float, float, float]:
    """(auc, recall, fpr) on one held-out video."""
    rest, test = held_out(youtube, video)
    ham: list[float] = []
    for inner in videos(rest):
        inner_rest, inner_test = held_out(rest, inner)
        score = trainer([*inner_rest, *aux])
        ham.extend(score(ex.feats) for ex in inner_test if not ex.row.is_spam)
    score = trainer([*rest, *aux])
    labels = [ex.row.is_spam for ex in test]
    probs = [score(ex.feats) for ex in test]
    recall, fpr = tail_figures(labels, probs, cut_above(ham, SPAM_FPR_TARGET))
    return roc_auc(labels, probs) or 0.0, recall, fpr


# --- main -----------------------------------------------------------------------------------------


def build(youtube: Sequence[Example], aux: dict[str, list[Example]]) -> SpamModel:
    """The shipped model: everything counted, cut-offs from out-of-fold YouTube ham."""
    every_aux = [ex for exs in aux.values() for ex in exs]
    cutoffs = calibrate(youtube, every_aux)
    model = train([*youtube, *every_aux], cutoffs)
    extra = {n: exs[0].weight for n, exs in aux.items() if n not in AUXILIARY and exs}
    model.meta = {
        "trained_on": {COMMENTS: 1.0, **AUXILIARY, **extra},
        "base_scale": BASE_SCALE,
        "excluded": list(EXCLUDED),
        "min_count": MIN_COUNT,
        "targets": {"spam_fpr": SPAM_FPR_TARGET, "held_ham": HELD_HAM_TARGET},
        "built_by": "scripts/train_base_model.py",
    }
    return model


def report(youtube: list[Example], aux: dict[str, list[Example]], model: SpamModel) -> None:
    """Print every figure BASE_MODEL.md quotes."""
    every_aux = [ex for exs in aux.values() for ex in exs]
    print("\nleave-one-video-out (cut-offs from the other four videos):")
    print_table("YouTube, leave one video out", by_video(youtube, every_aux))
    print_table(
        "a site unlike the base: leave one corpus out", by_corpus(youtube, aux, model.cutoffs)
    )
    whole = {"youtube.csv, all 1,956 in file order": run_modes(model, [ex.row for ex in youtube])}
    print_table("whole YouTube file (as shipped is in-sample here)", whole)
    report_open_sets(youtube, aux, model)


def report_open_sets(
    youtube: Sequence[Example], aux: dict[str, list[Example]], model: SpamModel
) -> None:
    """The corpora under OPEN_SETS: the shipped model on those it never saw, grouped folds by source
    (each model trained without the held-out sources, the shipped cut-offs) on those it did."""
    unseen: dict[str, dict[str, Metrics]] = {}
    seen: dict[str, dict[str, Metrics]] = {}
    for path in sorted(OPEN_SETS.glob("*/*.csv")):
        if path.name in aux:
            seen[path.name] = by_source(youtube, aux, path.name, model.cutoffs)
        else:
            unseen[f"{path.name} (never trained on)"] = run_modes(model, read_rows(path))
    if unseen:
        print_table("open sets under data/spam, shipped model", unseen, SHOWN_OPEN)
    if seen:
        title = f"trained-on sets under data/spam, {SOURCE_FOLDS} folds by source"
        print_table(title, seen, SHOWN_OPEN)


def by_source(
    youtube: Sequence[Example], aux: dict[str, list[Example]], name: str, cutoffs: Cutoffs
) -> dict[str, Metrics]:
    """``name`` scored fold by fold (sources dealt round-robin in sorted order into SOURCE_FOLDS
    folds), each fold by a model trained without it; the figures are over all rows at once."""
    folds = {s: i % SOURCE_FOLDS for i, s in enumerate(sorted({ex.row.source for ex in aux[name]}))}
    others = [ex for other, exs in aux.items() if other != name for ex in exs]
    labels: list[bool] = []
    probs: list[float] = []
    for k in range(SOURCE_FOLDS):
        rest = [ex for ex in aux[name] if folds[ex.row.source] != k]
        base = train([*youtube, *others, *rest], cutoffs)
        for ex in aux[name]:
            if folds[ex.row.source] == k:
                labels.append(ex.row.is_spam)
                probs.append(base.score(ex.feats))
    recall, fpr = tail_figures(labels, probs, cutoffs.spam)
    return {
        "held-out sources, shipped spam cut": {
            "precision": None,
            "recall": recall,
            "fpr": fpr,
            "auc": roc_auc(labels, probs),
            "held": None,
            "rows": len(labels),
            "rows_per_s": None,
            "recall_at_fpr_1pct": recall_at_fpr(labels, probs, 0.01),
            "recall_at_fpr_0_5pct": recall_at_fpr(labels, probs, 0.005),
        }
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the CSVs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the model")
    parser.add_argument("--check", action="store_true", help="only compare with the file at --out")
    parser.add_argument("--compare", action="store_true", help="also measure the alternative model")
    parser.add_argument("--quiet", action="store_true", help="build without the evaluation report")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=WEIGHT",
        help="also train on data/spam/NAME/NAME.csv at this weight per row (a trial)",
    )
    return parser.parse_args(argv)


def parse_extra(pairs: Sequence[str]) -> dict[str, float] | None:
    """``--extra`` as {name: weight} on top of EXTRA, or None when not given."""
    if not pairs:
        return None
    extra = dict(EXTRA)
    for pair in pairs:
        name, _, weight = pair.partition("=")
        extra[name] = float(weight)
    return extra


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or check) the base model and print the figures."""
    args = parse_args(argv)
    extra = parse_extra(args.extra)
    youtube, aux = load(args.data, extra)
    model = build(youtube, aux)
    blob = model.to_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    print(f"model: {len(model.counts)} features, {len(blob)} bytes, sha256 {digest}")
    print(f"cut-offs: unsure {model.cutoffs.unsure:.6f}, spam {model.cutoffs.spam:.6f}")
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == blob
        print("up to date" if same else f"{args.out} differs from a fresh build")
        return 0 if same else 1
    if args.compare:
        compare(youtube, [ex for exs in aux.values() for ex in exs])
    if not args.quiet:
        report(youtube, aux, model)
    if extra is not None and args.out == DEFAULT_OUT:
        print("\na trial with --extra: nothing written (give --out to keep it)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
