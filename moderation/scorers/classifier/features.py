"""The local classifier's features: the strings `SpamModel` counts for a `Submission`.

`features` gives words, word bigrams, author tokens (``a:``), the e-mail domain (``ed:``), the website
host (``wh:``), linked domains (``ld:``), promotion patterns (``p:``) and structure (``s:``: links and
their share of the words, phone numbers, capitals, length); `words` is the tokenizer. Pure Python
(standard library plus `moderation.domain`), like `moderation.scorers.classifier`, which scores and
learns them.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence

from moderation.domain.scoring import Submission
from moderation.domain.states import CommentKind

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


def _link_ratio(n_links: int, n_words: int) -> list[str]:
    """How much of the text is links: a link drop with a word or two is not a linked remark."""
    if not n_links:
        return []
    ratio = n_links / max(n_words, 1)
    return ["s:linkratio=" + _bucket(ratio, (0.05, 0.2), ("low", "mid", "high"))]


def structure_features(text: str, hosts: Sequence[str], n_words: int = 0) -> list[str]:
    """Structural features: links and their share of the words (``n_words``), phone numbers,
    promotion patterns, capitals, punctuation, length."""
    n_links = len(hosts)
    out = [
        "s:links=" + ("3+" if n_links >= 3 else str(n_links)),
        *_link_ratio(n_links, n_words),
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
        *structure_features(text, hosts, len(tokens)),
        *_author_features(submission),
    ]
    return list(dict.fromkeys(found))
