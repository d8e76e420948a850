"""The local classifier's model: naive Bayes and logistic regression that learn online, one moderator
decision at a time.

`SpamModel` keeps, for every feature, how many spam and how many ham examples contained it, plus the
two totals. Each feature's spam probability is Robinson's smoothed estimate and the evidence is
combined with Fisher's chi-square method (as in SpamBayes), which puts an honest "don't know" near 0.5
when the evidence disagrees. Learning only adds to counts, so updates from many workers commute: the
state can be stored as one database row per feature plus one row of totals, and `learn` returns the
`Delta` to add.

With `Params.logistic` the model also keeps, per feature, a logistic-regression weight and its sum of
squared gradients (AdaGrad), and its probability mixes the two models' log-odds (`Params.nb_share`
of naive Bayes). The logistic half ranks the tail, where a false positive costs most, far better, and
flags less of a corpus unlike the training data; a little naive Bayes still helps the ranking
(BASE_MODEL.md has the figures). A logistic step depends on the weights it reads, so steps taken by
two workers at once are each computed from a slightly older state (they still add up, as in
lock-free SGD), and a reversed decision is not undone exactly: the corrected label's step follows.
`load_base_model` reads the shipped model.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

FORMAT = "moderation.spam-nb"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no logistic weights
BIAS = ""  # the logistic intercept's key among the weights
LOGIT_CLIP = 1e-6  # probabilities are clipped this far from 0 and 1 before mixing log-odds
BASE_MODEL_RESOURCE = "data/base_model.json.gz"
# How many training examples of the shipped model one moderator decision counts as, in both halves
# (its naive-Bayes counts and the size of its logistic step). The shipped counts are scaled down
# (its meta's "base_scale"), so a site's own decisions soon outweigh YouTube's. Measured online on
# the open sets (BASE_MODEL.md, *A decision's weight*): 1, 2, 4, 8 and 16 gave the five videos a
# mean recall of 0.826, 0.840, 0.853, 0.864 and 0.866 and the Instagram scams (from a YouTube-only
# base) 0.487, 0.509, 0.534, 0.504 and 0.504, every false-positive rate unchanged; 4 is the best
# for a corpus the base has never seen.
DECISION_WEIGHT = 4.0


@dataclass(frozen=True)
class Params:
    """Robinson/Fisher parameters: SpamBayes' defaults, but a stronger pull of rare features to 0.5
    (`strength` 1.0 rather than 0.45 did better leave-one-video-out on the YouTube set)."""

    strength: float = 1.0
    unknown_prob: float = 0.5
    min_dev: float = 0.1
    max_clues: int = 150
    logistic: bool = False
    lr_rate: float = 0.5
    nb_share: float = 0.3


@dataclass(frozen=True)
class Cutoffs:
    """Probability cut-offs: at or above `spam` is spam, at or above `unsure` is held for review."""

    unsure: float = 0.5
    spam: float = 0.99


@dataclass
class Delta:
    """What one `learn` call added: the totals and the touched features' (spam, ham) counts."""

    spam_total: float = 0.0
    ham_total: float = 0.0
    counts: dict[str, tuple[float, float]] = field(default_factory=dict)
    weights: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def touched_features(self) -> list[str]:
        """The features whose counts changed."""
        return list(self.counts)


@dataclass(frozen=True)
class Clue:
    """One feature's contribution to a score: its smoothed spam probability."""

    feature: str
    prob: float


class SpamModel:
    """Per-feature spam/ham counts with Robinson-Fisher (chi-square) combining.

    Scoring only reads the totals and the counts of the features asked about, so a model built from
    just those rows (for instance fetched from a database) scores exactly like the full one.
    """

    def __init__(
        self,
        counts: Mapping[str, Sequence[float]] | None = None,
        spam_total: float = 0.0,
        ham_total: float = 0.0,
        params: Params | None = None,
        cutoffs: Cutoffs | None = None,
        meta: Mapping[str, object] | None = None,
        weights: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Build a model from counts (feature -> (spam, ham)) and logistic weights (feature ->
        (weight, sum of squared gradients)); an empty model knows nothing."""
        self.counts: dict[str, list[float]] = {f: [c[0], c[1]] for f, c in (counts or {}).items()}
        self.weights: dict[str, list[float]] = {f: [w[0], w[1]] for f, w in (weights or {}).items()}
        self.spam_total = spam_total
        self.ham_total = ham_total
        self.params = params or Params()
        self.cutoffs = cutoffs or Cutoffs()
        self.meta: dict[str, object] = dict(meta or {})

    def feature_prob(self, spam: float, ham: float) -> float:
        """Robinson's smoothed probability that a message with this feature is spam."""
        spam, ham = max(spam, 0.0), max(ham, 0.0)  # over-unlearning must not break scoring
        spam_ratio = spam / self.spam_total if self.spam_total > 0 else 0.0
        ham_ratio = ham / self.ham_total if self.ham_total > 0 else 0.0
        if spam_ratio + ham_ratio <= 0:
            return self.params.unknown_prob
        raw = spam_ratio / (spam_ratio + ham_ratio)
        n = spam + ham
        s, x = self.params.strength, self.params.unknown_prob
        return (s * x + n * raw) / (s + n)

    def clues(self, feats: Iterable[str]) -> list[Clue]:
        """The features that count as evidence, strongest first (at most `Params.max_clues`)."""
        found = []
        for feat in dict.fromkeys(feats):
            count = self.counts.get(feat)
            if count is None:
                continue
            prob = self.feature_prob(count[0], count[1])
            if abs(prob - 0.5) >= self.params.min_dev:
                found.append(Clue(feat, prob))
        found.sort(key=lambda c: (-abs(c.prob - 0.5), c.feature))
        return found[: self.params.max_clues]

    def score(self, feats: Iterable[str]) -> float:
        """The spam probability in [0, 1]; 0.5 when there is no evidence."""
        unique = list(dict.fromkeys(feats))
        return self.combine(self.clues(unique), unique)

    def combine(self, clues: Sequence[Clue], feats: Sequence[str]) -> float:
        """The probability from the naive-Bayes ``clues`` of unique ``feats`` and, when the model
        is logistic, the logistic probability of the same features: their log-odds weighted
        `Params.nb_share` and the rest."""
        nb = combine_clues(clues)
        if not self.params.logistic:
            return nb
        share = self.params.nb_share
        mixed = share * _logit(nb) + (1.0 - share) * self.margin(feats)
        return 1.0 / (1.0 + math.exp(-mixed))

    def margin(self, feats: Sequence[str]) -> float:
        """The logistic half's log-odds for unique ``feats``, clipped like the naive-Bayes half."""
        weights = self.weights
        total = sum(weights[f][0] for f in feats if f in weights)
        bias = weights[BIAS][0] if BIAS in weights else 0.0
        margin = bias + total / math.sqrt(len(feats) + 1)
        limit = _logit(1.0)
        return max(-limit, min(limit, margin))

    def learn(
        self, feats: Iterable[str], is_spam: bool, weight: float = 1.0, fixed: tuple[str, ...] = ()
    ) -> Delta:
        """Count one example (each feature once) and, for a logistic model, take one AdaGrad step;
        a negative `weight` unlearns the counts (a step is taken back by subtracting its `Delta`'s
        weights: `services.spam.take_back_step`). Features starting with a ``fixed`` prefix still
        count in the step's scale but are neither counted nor moved. Returns the delta."""
        unique = list(dict.fromkeys(feats))
        delta = self.count(unique, is_spam, weight, fixed)
        if self.params.logistic and weight > 0:
            delta.weights = self.step(unique, is_spam, weight, fixed)
        return delta

    def count(
        self, feats: Iterable[str], is_spam: bool, weight: float = 1.0, fixed: tuple[str, ...] = ()
    ) -> Delta:
        """The naive-Bayes half of `learn`: add ``weight`` to each feature's spam or ham count."""
        column = 0 if is_spam else 1
        delta = Delta(spam_total=weight if is_spam else 0.0, ham_total=0.0 if is_spam else weight)
        for feat in dict.fromkeys(feats):
            if fixed and feat.startswith(fixed):
                continue
            self.counts.setdefault(feat, [0.0, 0.0])[column] += weight
            delta.counts[feat] = (weight, 0.0) if is_spam else (0.0, weight)
        self.spam_total += delta.spam_total
        self.ham_total += delta.ham_total
        return delta

    def step(
        self, feats: Sequence[str], is_spam: bool, weight: float = 1.0, fixed: tuple[str, ...] = ()
    ) -> dict[str, tuple[float, float]]:
        """The logistic half of `learn` for unique ``feats``: one AdaGrad step on the log loss.
        Returns each moved weight's (weight, squared-gradient) increments."""
        margin = self.margin(feats)
        gradient = ((1.0 if is_spam else 0.0) - 1.0 / (1.0 + math.exp(-margin))) * weight
        value = 1.0 / math.sqrt(len(feats) + 1)
        rate = self.params.lr_rate
        moves = [(BIAS, gradient, rate / 10)]
        moves += [(f, gradient * value, rate) for f in feats if not (fixed and f.startswith(fixed))]
        out = {}
        for feat, g, r in moves:
            state = self.weights.setdefault(feat, [0.0, 0.0])
            state[1] += g * g
            change = r * g / math.sqrt(state[1] + 1e-6)
            state[0] += change
            out[feat] = (change, g * g)
        return out

    def learn_decision(self, feats: Iterable[str], is_spam: bool, decisions: float = 1.0) -> Delta:
        """`learn` a moderator's decision (``decisions`` of them; negative takes them back), which
        counts `DECISION_WEIGHT` times a training example of the shipped model."""
        return self.learn(feats, is_spam, decisions * DECISION_WEIGHT)

    def unlearn(self, feats: Iterable[str], is_spam: bool, weight: float = 1.0) -> Delta:
        """Take back an earlier `learn` (say, a moderator reversed a decision). Returns the delta."""
        return self.learn(feats, is_spam, -weight)

    def apply(self, delta: Delta) -> None:
        """Add another worker's `Delta` to this model (deltas commute, so order does not matter)."""
        self.spam_total += delta.spam_total
        self.ham_total += delta.ham_total
        for feat, (spam, ham) in delta.counts.items():
            count = self.counts.setdefault(feat, [0.0, 0.0])
            count[0] += spam
            count[1] += ham
        for feat, (change, squared) in delta.weights.items():
            state = self.weights.setdefault(feat, [0.0, 0.0])
            state[0] += change
            state[1] += squared

    def scaled(self, factor: float) -> SpamModel:
        """A copy whose counts and totals are multiplied by ``factor`` (a weaker or stronger prior);
        the logistic weights are copied as they are."""
        counts = {f: [c[0] * factor, c[1] * factor] for f, c in self.counts.items()}
        return SpamModel(
            counts,
            self.spam_total * factor,
            self.ham_total * factor,
            self.params,
            self.cutoffs,
            self.meta,
            self.weights,
        )

    def copy(self) -> SpamModel:
        """An independent copy."""
        return self.scaled(1.0)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form: counts rounded to 6 decimals, weights to 9 significant digits,
        integral values written as ints."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": vars(self.params).copy(),
            "cutoffs": vars(self.cutoffs).copy(),
            "meta": self.meta,
            "spam_total": _compact(self.spam_total),
            "ham_total": _compact(self.ham_total),
            "counts": {f: [_compact(c[0]), _compact(c[1])] for f, c in self.counts.items()},
            "weights": {
                f: [_significant(w[0]), _significant(w[1])] for f, w in self.weights.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SpamModel:
        """The inverse of `to_dict`; raises ValueError on another format or version."""
        return cls._from_dict(data, adopt=False)

    @classmethod
    def _from_dict(cls, data: Mapping[str, object], *, adopt: bool) -> SpamModel:
        """`from_dict`; with `adopt`, the model keeps `data`'s own tables where each value is
        already a ``[a, b]`` list, rather than copying them (for data no one else holds)."""
        if data.get("format") != FORMAT or data.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"not a {FORMAT} model of version {READABLE_VERSIONS}")
        counts: Mapping[str, Sequence[float]] = data["counts"]  # type: ignore[assignment]
        weights: Mapping[str, Sequence[float]] = data.get("weights") or {}  # type: ignore[assignment]
        own = adopt and _pair_lists(counts) and _pair_lists(weights)
        model = cls(
            counts=None if own else counts,
            spam_total=float(data["spam_total"]),  # type: ignore[arg-type]
            ham_total=float(data["ham_total"]),  # type: ignore[arg-type]
            params=Params(**data["params"]),  # type: ignore[arg-type]
            cutoffs=Cutoffs(**data["cutoffs"]),  # type: ignore[arg-type]
            meta=data.get("meta") or {},  # type: ignore[arg-type]
            weights=None if own else weights,
        )
        if own:  # (the same lists the constructor would have made, without a second copy)
            model.counts, model.weights = counts, weights  # type: ignore[assignment]
        return model

    def to_bytes(self) -> bytes:
        """Gzipped JSON with sorted keys and a fixed gzip time: the same model gives the same bytes."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SpamModel:
        """Load a model written by `to_bytes`.

        The parsed tables become the model's own, not copied: the shipped model's copy cost every
        server worker 3.5 MB more at its peak, which a worker keeps (docs/performance.md, Memory).
        """
        return cls._from_dict(json.loads(gzip.decompress(blob).decode("utf-8")), adopt=True)


def _pair_lists(table: object) -> bool:
    """Whether `table` is a dict whose every value is a list of two items (as the parsed JSON
    of `to_dict` is), so that a model may keep it as its own."""
    return type(table) is dict and all(type(v) is list and len(v) == 2 for v in table.values())


def _compact(value: float) -> float | int:
    """Round away float noise and write integral values as ints (smaller JSON, stable bytes)."""
    value = round(value, 6)
    return int(value) if value == int(value) else value


def _significant(value: float) -> float | int:
    """A weight to 9 significant digits (squared gradients of down-weighted rows are tiny)."""
    value = float(f"{value:.9g}")
    return int(value) if value == int(value) else value


def _logit(prob: float) -> float:
    """The log-odds of ``prob``, clipped `LOGIT_CLIP` away from 0 and 1."""
    prob = min(max(prob, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
    return math.log(prob / (1.0 - prob))


@functools.cache
def _log_factorials(n: int) -> tuple[float, ...]:
    """log(i!) for i below n."""
    return tuple(math.lgamma(i + 1) for i in range(n))


def _chi2_sf(chi2: float, dof: int) -> float:
    """P(X >= chi2) for a chi-square variable with an even number of degrees of freedom.

    Summed in log space so that no term under- or overflows however many clues there are.
    """
    m = chi2 / 2.0
    if m <= 0:
        return 1.0
    log_m = math.log(m)
    logs = [i * log_m - lf for i, lf in enumerate(_log_factorials(dof // 2))]
    top = max(logs)
    total = top + math.log(math.fsum(math.exp(v - top) for v in logs)) - m
    return min(1.0, math.exp(total))


def combine_clues(clues: Sequence[Clue]) -> float:
    """Fisher's chi-square combining of feature probabilities (Robinson; SpamBayes' `chi2_spamprob`)."""
    if not clues:
        return 0.5
    tiny = 1e-300
    log_ham = math.fsum(math.log(max(c.prob, tiny)) for c in clues)
    log_spam = math.fsum(math.log(max(1.0 - c.prob, tiny)) for c in clues)
    dof = 2 * len(clues)
    spamminess = 1.0 - _chi2_sf(-2.0 * log_spam, dof)
    hamminess = 1.0 - _chi2_sf(-2.0 * log_ham, dof)
    return (spamminess - hamminess + 1.0) / 2.0


def load_base_model() -> SpamModel:
    """The shipped base model (`moderation/data/base_model.json.gz`, see BASE_MODEL.md there)."""
    blob = resources.files("moderation").joinpath(BASE_MODEL_RESOURCE).read_bytes()
    return SpamModel.from_bytes(blob)
