"""Compare the hand-written classifier with library learners that update online (issue 22).

    .venv/bin/python -m pip install scikit-learn river    # or: pip install -e '.[compare]'
    .venv/bin/python scripts/compare_learners.py [--data DIR] [--no-river] [--no-cost]

Not part of the service: scikit-learn and river are only needed to run this script.

Leave one YouTube video out, exactly as ``scripts/train_base_model.py`` does: each video is scored
by learners trained on the other four videos plus the auxiliary corpora (SMS and e-mail, each row at
the weight the base model gives it), on the same features (`moderation.scorers.classifier.features`)
with the values the hand-written logistic regression uses (1/sqrt(n+1) for n unique features; the
families the base model leaves out, author names and length, still count in n but are not trained
on). Printed per video and as the mean: AUC, recall at 1 % and 0.5 % FPR (threshold-free), in two
modes: "as shipped" (the trained model, no learning) and "online" (each held-out row learned with
its label right after it is scored, in file order, as a site learning its moderators' decisions).

Learners:

* the shipped hand-written model (naive Bayes and AdaGrad logistic regression, log-odds mixed
  0.3 / 0.7), built by ``train_base_model.train``; and its logistic half alone;
* scikit-learn's ``SGDClassifier(loss="log_loss")``, ``partial_fit`` over 3 shuffled passes (seed 0,
  the hand-written order) for each ``alpha`` in ALPHAS, plain and averaged (``average=True``), on
  ``FeatureHasher`` columns (2**20); its default "optimal" learning-rate schedule and L2 penalty;
* the hand-written naive Bayes mixed 0.3 / 0.7 with each SGDClassifier, like the shipped model;
* river's ``LogisticRegression`` (one pass, its default SGD and AdaGrad), unless ``--no-river``.

Then (unless ``--no-cost``) what importing each library adds to a fresh interpreter: seconds and RSS.
Only the open sets are read; the sealed set never is.
"""

from __future__ import annotations

import argparse
import functools
import math
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_base_model import (  # noqa: E402
    DEFAULT_DATA,
    EXCLUDED,
    LOGISTIC_EPOCHS,
    Example,
    held_out,
    load,
    train,
    videos,
)

from moderation.scorers.classifier.model import SpamModel, combine_clues  # noqa: E402
from moderation.scorers.evaluation import recall_at_fpr, roc_auc  # noqa: E402

ALPHAS = (1e-4, 1e-5, 1e-6)
HASH_BITS = 20
NB_SHARE = 0.3  # as the shipped Params.nb_share
LOGIT_LIMIT = math.log((1 - 1e-6) / 1e-6)  # the hand-written clip of either half's log-odds
MODES = ("as shipped", "online")

# (as-shipped scores, online scores) of one held-out video, in its file order.
Scores = tuple[list[float], list[float]]


def values(feats: Sequence[str], *, base: bool) -> dict[str, float]:
    """A row's feature values as the hand-written logistic half sees them; ``base`` drops the
    families the base model does not train on (they still count in the scale)."""
    unique = list(dict.fromkeys(feats))
    value = 1.0 / math.sqrt(len(unique) + 1)
    return {f: value for f in unique if not (base and f.startswith(EXCLUDED))}


def logit(prob: float) -> float:
    """Clipped log-odds, as the hand-written model mixes them."""
    prob = min(max(prob, 1e-6), 1 - 1e-6)
    return math.log(prob / (1 - prob))


def clip(margin: float) -> float:
    """A log-odds clipped like the hand-written logistic half's."""
    return max(-LOGIT_LIMIT, min(LOGIT_LIMIT, margin))


def training_order(train_set: Sequence[Example]) -> list[list[Example]]:
    """The order of each pass: the hand-written training's (one Random(0) shuffling each pass)."""
    order = list(train_set)
    shuffle = random.Random(0).shuffle
    passes = []
    for _ in range(LOGISTIC_EPOCHS):
        shuffle(order)
        passes.append(list(order))
    return passes


# --- the hand-written model -----------------------------------------------------------------------


def handwritten(train_set: Sequence[Example], test: Sequence[Example]) -> dict[str, Scores]:
    """The shipped model (and its logistic half alone), as shipped and online from it."""
    base = train(train_set)
    out: dict[str, Scores] = {}
    for name, score in (
        ("hand-written NB + LR 0.3/0.7 (shipped)", SpamModel.score),
        ("hand-written LR alone (AdaGrad)", _margin),
    ):
        shipped = [score(base, ex.feats) for ex in test]
        model = base.copy()
        online = []
        for ex in test:
            online.append(score(model, ex.feats))
            model.learn(ex.feats, ex.row.is_spam)
        out[name] = (shipped, online)
    return out


def _margin(model: SpamModel, feats: Sequence[str]) -> float:
    """The logistic half's log-odds alone."""
    return model.margin(list(dict.fromkeys(feats)))


def _nb_logit(model: SpamModel, feats: Sequence[str]) -> float:
    """The naive-Bayes half's clipped log-odds."""
    return logit(combine_clues(model.clues(list(dict.fromkeys(feats)))))


# --- scikit-learn ---------------------------------------------------------------------------------


def sgd(
    train_set: Sequence[Example], test: Sequence[Example], alphas: Sequence[float]
) -> dict[str, Scores]:
    """SGDClassifier for each alpha, alone and mixed with the hand-written naive Bayes."""
    import numpy as np
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import SGDClassifier

    hasher = FeatureHasher(n_features=2**HASH_BITS, input_type="dict", alternate_sign=False)
    passes = [
        (
            hasher.transform(values(ex.feats, base=True) for ex in order),
            np.array([int(ex.row.is_spam) for ex in order]),
            np.array([ex.weight for ex in order]),
        )
        for order in training_order(train_set)
    ]
    x_test = hasher.transform(values(ex.feats, base=False) for ex in test)
    nb_base = train(train_set)  # its naive-Bayes half: the shipped counts
    out: dict[str, Scores] = {}
    for alpha, average in ((a, avg) for avg in (False, True) for a in alphas):
        clf = SGDClassifier(
            loss="log_loss", alpha=alpha, average=average, shuffle=False, random_state=0
        )
        for x, y, w in passes:
            clf.partial_fit(x, y, classes=np.array([0, 1]), sample_weight=w)
        shipped_lr = [float(m) for m in clf.decision_function(x_test)]
        nb = nb_base.copy()
        shipped_nb = [_nb_logit(nb, ex.feats) for ex in test]
        online_lr, online_nb = [], []
        for i, ex in enumerate(test):
            online_lr.append(float(clf.decision_function(x_test[i])[0]))
            online_nb.append(_nb_logit(nb, ex.feats))
            clf.partial_fit(x_test[i], np.array([int(ex.row.is_spam)]), sample_weight=[1.0])
            nb.count(ex.feats, ex.row.is_spam)
        name = f"SGDClassifier alpha={alpha:g}" + (", averaged" if average else "")
        out[name] = (shipped_lr, online_lr)
        out[f"hand-written NB + {name}, 0.3/0.7"] = (
            _mix(shipped_nb, shipped_lr),
            _mix(online_nb, online_lr),
        )
    return out


def _mix(nb: Sequence[float], lr: Sequence[float]) -> list[float]:
    """The shipped mix of the two halves' log-odds."""
    return [NB_SHARE * a + (1 - NB_SHARE) * clip(b) for a, b in zip(nb, lr, strict=True)]


# --- river ----------------------------------------------------------------------------------------


def river_lr(train_set: Sequence[Example], test: Sequence[Example]) -> dict[str, Scores]:
    """river's LogisticRegression, one pass in the first shuffled order: its default optimizer
    (SGD, rate 0.01) and AdaGrad at the hand-written rate (0.5)."""
    from river import linear_model, optim

    order = training_order(train_set)[0]
    train_x = [(values(ex.feats, base=True), ex.row.is_spam, ex.weight) for ex in order]
    test_x = [values(ex.feats, base=False) for ex in test]
    makers: dict[str, Callable[[], Any]] = {
        "river LogisticRegression (SGD 0.01, one pass)": linear_model.LogisticRegression,
        "river LogisticRegression (AdaGrad 0.5, one pass)": lambda: linear_model.LogisticRegression(
            optimizer=optim.AdaGrad(0.5)
        ),
    }
    out: dict[str, Scores] = {}
    for name, make in makers.items():
        model = make()
        for x, y, w in train_x:
            model.learn_one(x, y, w=w)
        shipped = [model.predict_proba_one(x).get(True, 0.0) for x in test_x]
        online = []
        for x, ex in zip(test_x, test, strict=True):
            online.append(model.predict_proba_one(x).get(True, 0.0))
            model.learn_one(x, ex.row.is_spam)
        out[name] = (shipped, online)
    return out


# --- report ---------------------------------------------------------------------------------------

Figures = tuple[float, float, float]  # auc, recall at 1 % FPR, recall at 0.5 % FPR


def figures(labels: Sequence[bool], scores: Sequence[float]) -> Figures:
    """The threshold-free figures of one held-out video."""
    return (
        roc_auc(labels, scores) or 0.0,
        recall_at_fpr(labels, scores, 0.01) or 0.0,
        recall_at_fpr(labels, scores, 0.005) or 0.0,
    )


def compare(data: Path, use_river: bool) -> None:
    """Leave one video out for every learner; print per video and the means."""
    youtube, aux = load(data)
    every_aux = [ex for exs in aux.values() for ex in exs]
    results: dict[str, dict[str, dict[str, Figures]]] = {}  # learner -> mode -> video -> figures
    seconds: dict[str, float] = {}
    for video in videos(youtube):
        rest, test = held_out(youtube, video)
        train_set = [*rest, *every_aux]
        labels = [ex.row.is_spam for ex in test]
        runs: list[tuple[str, Callable[[], dict[str, Scores]]]] = [
            ("hand-written", functools.partial(handwritten, train_set, test)),
            ("scikit-learn", functools.partial(sgd, train_set, test, ALPHAS)),
        ]
        if use_river:
            runs.append(("river", functools.partial(river_lr, train_set, test)))
        for family, run in runs:
            start = time.perf_counter()
            scored = run()
            seconds[family] = seconds.get(family, 0.0) + time.perf_counter() - start
            for name, by_mode in scored.items():
                for mode, scores in zip(MODES, by_mode, strict=True):
                    results.setdefault(name, {}).setdefault(mode, {})[video] = figures(
                        labels, scores
                    )
        print(f"  {video} done", file=sys.stderr)
    for mode in MODES:
        print(f"\n### {mode}, leave one video out\n")
        print("| learner | video | auc | recall at 1 % FPR | recall at 0.5 % FPR |")
        print("|---|---|---|---|---|")
        for name, by_mode in results.items():
            for video, f in by_mode[mode].items():
                print(f"| {name} | {video} | " + " | ".join(f"{v:.4f}" for v in f) + " |")
    print("\n### means of the 5 videos\n")
    print("| learner | mode | auc | recall at 1 % FPR | recall at 0.5 % FPR |")
    print("|---|---|---|---|---|")
    for name, by_mode in results.items():
        for mode in MODES:
            runs_ = list(by_mode[mode].values())
            means = [statistics.fmean(f[i] for f in runs_) for i in range(3)]
            print(f"| {name} | {mode} | " + " | ".join(f"{m:.4f}" for m in means) + " |")
    print(
        "\nseconds (all 5 folds, training and scoring): "
        + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
    )


# --- cost -----------------------------------------------------------------------------------------

PROBE = """
import sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
start = time.perf_counter()
__import__(sys.argv[1])
print(time.perf_counter() - start, rss() - before, before)
"""


def cost(modules: Sequence[str], repeats: int = 3) -> None:
    """Import time and RSS each module adds to a fresh interpreter (median of ``repeats``)."""
    print("\n### what importing a library adds to a fresh interpreter (median of 3)\n")
    print("| import | seconds | RSS added (MB) | RSS before (MB) |\n|---|---|---|---|")
    for module in modules:
        runs = []
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
            )
            runs.append([float(v) for v in done.stdout.split()])
        med = [statistics.median(r[i] for r in runs) for i in range(3)]
        print(f"| `{module}` | {med[0]:.2f} | {med[1]:.1f} | {med[2]:.1f} |")
    print(
        f"\nSGDClassifier's coef_ over 2**{HASH_BITS} hashed columns: "
        f"{2**HASH_BITS * 8 / 2**20:.0f} MB of float64 per model (one process's memory)."
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison and the cost probe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the CSVs")
    parser.add_argument("--no-river", action="store_true", help="leave river out")
    parser.add_argument("--no-cost", action="store_true", help="skip the import-cost probe")
    args = parser.parse_args(argv)
    compare(args.data, use_river=not args.no_river)
    if not args.no_cost:
        modules = ["moderation.scorers.classifier", "sklearn.linear_model"]
        if not args.no_river:
            modules.append("river.linear_model")
        cost(modules)


if __name__ == "__main__":
    main()
