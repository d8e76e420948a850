"""The local spam classifier: a naive Bayes that learns online, one moderator decision at a time.

Pure Python (standard library plus `moderation.domain`), so it imports fast and runs in a web worker.

* `features` turns a `Submission` into a set of string features: words, word bigrams, author tokens
  (``a:``), the e-mail domain (``ed:``), the website host (``wh:``), linked domains (``ld:``), promotion
  patterns (``p:``) and structure (``s:``: links, phone numbers, capitals, length).
* `SpamModel` keeps, for every feature, how many spam and how many ham examples contained it, plus the
  two totals. Each feature's spam probability is Robinson's smoothed estimate and the evidence is
  combined with Fisher's chi-square method (as in SpamBayes), which puts an honest "don't know" near 0.5
  when the evidence disagrees. Learning only adds to counts, so updates from many workers commute: the
  state can be stored as one database row per feature plus one row of totals, and `learn` returns the
  `Delta` to add.
* `ClassifierScorer` turns the probability into points with cut-offs calibrated on ham, so that few
  readers' comments are ever sent to spam; the middle band is held for a moderator.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from moderation.domain.scoring import Signal, Submission
from moderation.domain.states import CommentKind

FORMAT = "moderation.spam-nb"
FORMAT_VERSION = 1
BASE_MODEL_RESOURCE = "data/base_model.json.gz"

# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------

_TLDS = (
    "com|net|org|info|biz|io|co|me|tv|ly|gl|gd|be|to|ws|cc|us|uk|ca|au|de|fr|it|es|nl|pl|ru|br|in|"
    "cn|jp|xyz|online|site|top|club|shop|store|app|live|link|click|win|vip|pro|name|mobi"
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'()\[\]]+"
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r")\b(?:/[^\s<>\"']*)?"
    r"|(?<![\w/])/?watch\?v=[\w-]+",
    re.IGNORECASE,
)
# Scripts written without spaces between words (kana, CJK, Hangul, Thai): split into bigrams.
_NO_SPACES = re.compile("[\u3040-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_TAG = re.compile(r"<[^<>]{0,300}>")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{7,18}\d(?!\w)")
_SHOUT = re.compile(r"[!?]{3,}")
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?[$€£]")
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"})
_PROMO: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("check_out", r"\bcheck\W*(?:out|it|this|my|our|me)\b"),
        (
            "my_channel",
            r"\b(?:my|our)\s+(?:\w+\s+){0,2}?(?:channel|video|vid|page|music|song|track|blog|"
            r"site|website|cover|youtube|account|profile|playlist)s?\b",
        ),
        ("subscribe", r"\bsub(?:scrib\w*|s)?\s*(?:4|for|to|back|me)\b|\bsubscrib\w*"),
        (
            "visit",
            r"\b(?:visit|go to|click|follow|join|watch|listen to)\s+(?:me|my|our|this|here)\b",
        ),
        ("like_this", r"\b(?:like|thumbs up|share)\s+(?:this|my)\s+(?:comment|post|video)\b"),
        (
            "please_act",
            r"\b(?:please|pls|plz)\s+(?:\w+\s+)?(?:check|watch|subscribe|sub|like|share|help|"
            r"visit|listen|support|view|follow)\b",
        ),
        ("earn", r"\b(?:earn|make|win|won)\s+(?:\$|money|cash|\d|free|a\s+free)"),
        ("free_offer", r"\bfree\s+(?:gift|money|iphone|entry|cash|prize|trial|followers|views)\b"),
    )
)
_LEN_NAMES = ("<20", "<50", "<100", "<200", "<500", "<1000", "1000+")
_MAX_WORDS = 200
_MAX_BIGRAMS = 60
_MAX_TOKEN = 25


def _word_tokens(token: str) -> list[str]:
    """Normalise one raw word: split scripts without spaces into character bigrams, squash long runs."""
    if not token.isascii() and _NO_SPACES.search(token):
        return [token[i : i + 2] for i in range(max(1, len(token) - 1))]
    if token.isdigit() and len(token) > 4:
        return [f"#d{min(len(token), 12)}"]
    if len(token) > _MAX_TOKEN:
        return [f"#long:{token[0]}{len(token) // 10 * 10}"]
    return [token] if len(token) > 1 or token.isdigit() else []


def words(text: str) -> list[str]:
    """Lower-cased (case-folded, NFKC) word tokens of ``text``; unicode-aware, URLs and tags removed."""
    text = unicodedata.normalize("NFKC", _TAG.sub(" ", _URL.sub(" ", text))).casefold()
    out: list[str] = []
    for match in _WORD.finditer(text):
        out.extend(_word_tokens(match.group()))
        if len(out) >= _MAX_WORDS:
            break
    return out


def link_hosts(text: str) -> list[str]:
    """The host of every link in ``text`` (lower-cased, without ``www.``), in order of appearance."""
    hosts = []
    for match in _URL.finditer(text):
        url = match.group()
        hosts.append("youtube.com" if url.lstrip("/").startswith("watch?") else _host(url))
    return hosts


def _host(url: str) -> str:
    """The lower-cased host of a URL or bare domain, without ``www.``; "" for a bare path."""
    rest = url.split("://", 1)[-1]
    host = re.split(r"[/?#:]", rest, maxsplit=1)[0].lower().strip(".")
    return host.removeprefix("www.")


def registrable_domain(host: str) -> str:
    """A cheap guess at the registrable part of a host: ``a.b.example.co.uk`` -> ``example.co.uk``."""
    labels = [label for label in host.lower().split(".") if label]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _bucket(value: float, edges: Sequence[float], names: Sequence[str]) -> str:
    """The name of the first bucket whose upper edge exceeds ``value`` (the last name otherwise)."""
    for edge, name in zip(edges, names, strict=False):
        if value < edge:
            return name
    return names[-1]


def _caps_bucket(text: str) -> str:
    """How shouty the text is (links removed first): upper-case share of the first 500 characters."""
    sample = text[:500]
    upper = sum(map(str.isupper, sample))
    lower = sum(map(str.islower, sample))
    if upper + lower < 6:
        return "s:caps=few"
    ratio = upper / (upper + lower)
    return "s:caps=" + _bucket(ratio, (0.1, 0.3, 0.7), ("low", "some", "half", "shout"))


def _has_phone(text: str) -> bool:
    """True when the text holds something shaped like a phone number (9 to 15 digits)."""
    for match in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 9 <= digits <= 15:
            return True
    return False


def structure_features(text: str, hosts: Sequence[str]) -> list[str]:
    """Structural features: links, phone numbers, promotion patterns, capitals, punctuation, length."""
    n_links = len(hosts)
    out = [
        "s:links=" + ("3+" if n_links >= 3 else str(n_links)),
        _caps_bucket(_URL.sub(" ", text[:2000])),
        "s:len=" + _bucket(len(text), (20, 50, 100, 200, 500, 1000), _LEN_NAMES),
    ]
    if _has_phone(text):
        out.append("s:phone")
    if _SHOUT.search(text):
        out.append("s:!!!")
    if _MONEY.search(text):
        out.append("s:money")
    out.extend("p:" + name for name, pattern in _PROMO if pattern.search(text))
    return out


def _link_features(hosts: Iterable[str]) -> list[str]:
    """``ld:`` registrable domains (and the full host when it differs) of the linked hosts."""
    out = []
    for host in hosts:
        domain = registrable_domain(host)
        out.append("ld:" + domain)
        if host != domain:
            out.append("ld:" + host)
    return out


def _author_features(submission: Submission) -> list[str]:
    """Author tokens (``a:``), e-mail domain (``ed:``) and website host (``wh:``)."""
    out = ["a:" + token for token in words(submission.author)[:8]]
    if "@" in submission.email:
        out.append("ed:" + submission.email.rsplit("@", 1)[1].strip().lower())
    if submission.website.strip():
        host = _host(submission.website.strip())
        out.extend(["s:website", "wh:" + host, "wh:" + registrable_domain(host)])
    if submission.kind != CommentKind.comment:
        out.append("k:" + str(submission.kind))
    return out


def features(submission: Submission) -> list[str]:
    """All features of a submission, each once, in a deterministic order."""
    text = submission.text
    tokens = words(text)
    hosts = link_hosts(text)
    bigrams = [f"b:{a} {b}" for a, b in itertools.pairwise(tokens[: _MAX_BIGRAMS + 1])]
    found = [
        *tokens,
        *bigrams,
        *_link_features(hosts),
        *structure_features(text, hosts),
        *_author_features(submission),
    ]
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Robinson/Fisher parameters: SpamBayes' defaults, but a stronger pull of rare features to 0.5
    (`strength` 1.0 rather than 0.45 did better leave-one-video-out on the YouTube set)."""

    strength: float = 1.0
    unknown_prob: float = 0.5
    min_dev: float = 0.1
    max_clues: int = 150


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
    ) -> None:
        """Build a model from counts (feature -> (spam, ham)); an empty model knows nothing."""
        self.counts: dict[str, list[float]] = {f: [c[0], c[1]] for f, c in (counts or {}).items()}
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
        return combine_clues(self.clues(feats))

    def learn(self, feats: Iterable[str], is_spam: bool, weight: float = 1.0) -> Delta:
        """Count one example (each feature once); a negative `weight` unlearns. Returns the delta."""
        column = 0 if is_spam else 1
        delta = Delta(spam_total=weight if is_spam else 0.0, ham_total=0.0 if is_spam else weight)
        for feat in dict.fromkeys(feats):
            self.counts.setdefault(feat, [0.0, 0.0])[column] += weight
            delta.counts[feat] = (weight, 0.0) if is_spam else (0.0, weight)
        self.spam_total += delta.spam_total
        self.ham_total += delta.ham_total
        return delta

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

    def scaled(self, factor: float) -> SpamModel:
        """A copy whose counts and totals are multiplied by ``factor`` (a weaker or stronger prior)."""
        counts = {f: [c[0] * factor, c[1] * factor] for f, c in self.counts.items()}
        return SpamModel(
            counts,
            self.spam_total * factor,
            self.ham_total * factor,
            self.params,
            self.cutoffs,
            self.meta,
        )

    def copy(self) -> SpamModel:
        """An independent copy."""
        return self.scaled(1.0)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form; counts are rounded to 6 decimals and integral ones written as ints."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": vars(self.params).copy(),
            "cutoffs": vars(self.cutoffs).copy(),
            "meta": self.meta,
            "spam_total": _compact(self.spam_total),
            "ham_total": _compact(self.ham_total),
            "counts": {f: [_compact(c[0]), _compact(c[1])] for f, c in self.counts.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SpamModel:
        """The inverse of `to_dict`; raises ValueError on another format or version."""
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} model")
        return cls(
            counts=data["counts"],  # type: ignore[arg-type]
            spam_total=float(data["spam_total"]),  # type: ignore[arg-type]
            ham_total=float(data["ham_total"]),  # type: ignore[arg-type]
            params=Params(**data["params"]),  # type: ignore[arg-type]
            cutoffs=Cutoffs(**data["cutoffs"]),  # type: ignore[arg-type]
            meta=data.get("meta") or {},  # type: ignore[arg-type]
        )

    def to_bytes(self) -> bytes:
        """Gzipped JSON with sorted keys and a fixed gzip time: the same model gives the same bytes."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SpamModel:
        """Load a model written by `to_bytes`."""
        return cls.from_dict(json.loads(gzip.decompress(blob).decode("utf-8")))


def _compact(value: float) -> float | int:
    """Round away float noise and write integral values as ints (smaller JSON, stable bytes)."""
    value = round(value, 6)
    return int(value) if value == int(value) else value


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


# --------------------------------------------------------------------------------------------------
# Scorer
# --------------------------------------------------------------------------------------------------


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
        clues = self.model.clues(feats)
        prob = combine_clues(clues)
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
        return self.model.learn(features(submission), is_spam)


def _top_clues(clues: Sequence[Clue], spammy: bool, n: int) -> list[str]:
    """The ``n`` strongest clues pointing the same way as the verdict, as readable ``feature=prob``."""
    same_way = [c for c in clues if (c.prob > 0.5) == spammy]
    return [f"{c.feature!r} {c.prob:.2f}" for c in same_way[:n]]
