"""A comment's verdict as a sentence a moderator reads, and the first line of a comment's text.

The dashboard used to print the scorer's verdict and raw signal names ("HAM -0.3", ``rules.linked``),
which are written for developers and could disagree with where the comment is (a trackback sent to
spam by its failed verification still said "HAM"). `describe` starts from the comment's status and
why it is there (a moderator's decision, an import, an unverified linkback, a scorer that could not
be reached, the site's policy) and only then says what the latest spam check found, in words.

Pure: plain values in, plain values out (no database or web types), so it is tested on its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from moderation.domain.states import CommentKind, CommentStatus

S = CommentStatus

# What each spam-side signal means, said in a few words ("Probably spam: <these>").
SPAM_PHRASES = {
    "rules.shortener": "links to a URL shortener",
    "rules.promo": "promotional phrases",
    "rules.money": "money or prize wording",
    "rules.linked": "links to other sites",
    "rules.links": "many links",
    "rules.domain_mention": "a web address written out",
    "rules.email_in_text": "an e-mail address in the text",
    "rules.phone": "a phone number",
    "rules.caps": "mostly capital letters",
    "rules.repeats": "repeated characters",
    "rules.punctuation": "runs of !!! or ???",
    "rules.homoglyph": "disguised letters",
    "rules.website": "a first-time author giving a website",
    "rules.service_pitch": "a pitch for a service (essays, SEO, loans, a support number)",
    "rules.keyword_author": "a name made of sales keywords",
    "rules.praise_link": "generic praise with a link",
    "rules.user_agent": "no browser sent it",
    "rules.text_short": "a very short text",
    "rules.text_long": "a very long text",
    "rules.author_long": "a very long name",
    "rules.author_url": "a link in the name",
    "rules.honeypot": "the hidden trap field filled in",
    "rules.disallowed": "a disallowed word",
    "rules.moderation": "a word the site holds for review",
    "rules.blocked_ip": "a blocked IP address",
    "rules.blocked_email": "a blocked e-mail address",
    "rules.blocked_domain": "a blocked website",
    "rules.ping_origin": "sent from an address that is not its source's",
    "akismet": "Akismet says spam",
}
# ... and the ham-side ones ("Looks fine: <these>").
HAM_PHRASES = {
    "rules.trusted": "an author with approved comments",
    "akismet": "Akismet says fine",
}
SCORER_NAMES = {"akismet": "Akismet", "classifier": "the classifier", "rules": "the rules"}
IMPORT_NAMES = {
    "wordpress": "WordPress",
    "disqus": "Disqus",
    "isso": "Isso",
    "remark42": "Remark42",
    "native": "another moderation instance",
}
_PROBABILITY = re.compile(r"classifier: ([01](?:\.\d+)?) spam probability")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MARKS = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+)")
MAX_PHRASES = 3
# How verification's audit rows begin when the source does not link here (services.verification).
NO_LINK_REASONS = ("source does not link to the target", "source no longer links to the target")


@dataclass(frozen=True, slots=True)
class Check:
    """The latest spam check, as plain values: its verdict, total score and signals (dicts with
    ``name``, ``score``, ``reason``, as stored)."""

    verdict: str
    score: float
    signals: Sequence[Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class Event:
    """The latest audit row: who (``system``, ``moderator:<e-mail>``, ``import:<format>``, ...),
    what (``create``, ``approve``, ``import``, ``verify``, ...) and why."""

    actor: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class Words:
    """What the dashboard prints: `sentence` ("Probably spam: ...") and a `tone` for its colour
    (``ok``, ``hold``, ``spam``, ``gone``), which follows the comment's status, never the check."""

    sentence: str
    tone: str


TONES = {S.approved: "ok", S.pending: "hold", S.spam: "spam", S.deleted: "gone"}


def join(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c``."""
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def classifier_percent(signals: Sequence[Mapping[str, object]]) -> int | None:
    """The classifier's spam probability in percent, read from its signal's reason."""
    for s in signals:
        if s.get("name") == "classifier":
            match = _PROBABILITY.search(str(s.get("reason", "")))
            if match:
                return round(float(match.group(1)) * 100)
    return None


def evidence(signals: Sequence[Mapping[str, object]], *, spammy: bool) -> list[str]:
    """The strongest signals on one side, in words (at most `MAX_PHRASES`), then the classifier's
    probability; unknown signal names are left to the disclosure of raw signals."""
    table = SPAM_PHRASES if spammy else HAM_PHRASES
    side = [s for s in signals if (_score(s) > 0) == spammy and _score(s) != 0]
    side.sort(key=lambda s: abs(_score(s)), reverse=True)
    phrases: list[str] = []
    for s in side:
        phrase = table.get(str(s.get("name", "")))
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    phrases = phrases[:MAX_PHRASES]
    percent = classifier_percent(signals)
    if percent is not None:
        phrases.append(f"the classifier's {percent}\N{NO-BREAK SPACE}%")  # never "%" alone
    return phrases


def _score(signal: Mapping[str, object]) -> float:
    value = signal.get("score", 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def unavailable(signals: Sequence[Mapping[str, object]], recheck_reason: str | None) -> list[str]:
    """The scorers that could not answer (``akismet.unavailable`` signals, or the comment's
    re-check reason ``"akismet: timed out"``), by name."""
    names = [
        str(s.get("name", ""))[: -len(".unavailable")]
        for s in signals
        if str(s.get("name", "")).endswith(".unavailable")
    ]
    for part in (recheck_reason or "").split(";"):
        if ":" in part:
            names.append(part.split(":", 1)[0].strip())
    seen = dict.fromkeys(n for n in names if n)
    return [SCORER_NAMES.get(n, n.capitalize()) for n in seen]


def moderator_of(actor: str) -> str | None:
    """The moderator's e-mail of an actor label ``moderator:<e-mail>``."""
    return actor.split(":", 1)[1] if actor.startswith("moderator:") else None


MOVED_BY = {
    S.approved: "Approved by {}",
    S.pending: "Sent back to the queue by {}",
    S.spam: "Marked as spam by {}",
    S.deleted: "Deleted by {}",
}


def describe(
    status: CommentStatus,
    *,
    kind: CommentKind = CommentKind.comment,
    verified: bool | None = None,
    discarded: bool = False,
    check: Check | None = None,
    event: Event | None = None,
    recheck_reason: str | None = None,
    import_source: str | None = None,
) -> Words:
    """The sentence for a comment in `status`: why it is where it is, then what the filter found."""
    tone = TONES[status]
    signals = check.signals if check else ()
    who = moderator_of(event.actor) if event else None
    if who:
        return Words(MOVED_BY[status].format(who), tone)
    if (event and event.action == "import") or (import_source and check is None):
        source = import_source or (event.actor.split(":", 1)[-1] if event else "")
        return Words(f"Imported from {IMPORT_NAMES.get(source, source or 'another system')}", tone)
    if event and event.actor == "author" and status is S.deleted:
        return Words("Deleted by its author", tone)
    is_linkback = kind is not CommentKind.comment
    no_link = event is not None and event.reason.startswith(NO_LINK_REASONS)
    if is_linkback and (verified is False or no_link):
        return Words("Linkback not verified: the source does not link here", tone)
    if status is S.deleted:
        why = event.reason if event and event.reason else ""
        return Words(f"Deleted: {why}" if why else "Deleted", tone)
    down = unavailable(signals, recheck_reason) if status is S.pending else []
    if down:
        return Words(f"Waiting: {join(down)} could not be reached; it will be checked again", tone)
    if is_linkback and verified is None and status is S.pending:
        return Words("Waiting: the linkback's source is not checked yet", tone)
    if status is S.spam:
        head = "Spam, hidden from the tab" if discarded else "Probably spam"
        found = evidence(signals, spammy=True) if check and check.verdict != "ham" else []
        if found:
            return Words(f"{head}: {join(found)}", tone)
        why = event.reason if event and event.reason else ""
        return Words(f"In spam: {why}" if why else head, tone)
    reason = event.reason if event else ""
    if status is S.pending:
        if check and check.verdict == "unsure":
            found = evidence(signals, spammy=True)
            return Words(f"Unsure: {join(found)}" if found else "Unsure", tone)
        if reason == "first comment of this author":
            return Words("Held for a first-time author", tone)
        if reason == "site moderates every comment":
            return Words("Held: this site holds every comment for review", tone)
        if check is None:
            return Words("Waiting: not checked for spam", tone)
        found = evidence(signals, spammy=False)
        return Words(f"Waiting; looks fine: {join(found)}" if found else "Waiting", tone)
    # approved
    if is_linkback and verified:
        return Words("Published: the source links here", tone)
    found = evidence(signals, spammy=False)
    if check is None:
        return Words("Published without a spam check", tone)
    return Words(f"Looks fine: {join(found)}" if found else "Looks fine", tone)


def first_line(text: str, *, is_html: bool = False, limit: int = 140) -> str:
    """The first non-empty line(s) of a comment's text as plain words, cut at `limit` characters:
    Markdown's line marks (headings, quotes, list bullets) and HTML tags dropped."""
    if is_html:
        text = html.unescape(_TAG.sub("", text.replace("<br", "\n<br").replace("</p>", "\n\n")))
    else:
        text = _EMPHASIS.sub("", _LINK.sub(r"\1", text))
    words: list[str] = []
    size = 0
    for raw in text.splitlines():
        line = " ".join(_MARKS.sub("", raw).split())
        if not line:
            if words:
                break  # the first paragraph only
            continue
        words.append(line)
        size += len(line) + 1
        if size > limit:
            break
    out = " ".join(words)
    if len(out) <= limit:
        return out
    cut = out[: limit - 1].rsplit(" ", 1)[0] if " " in out[: limit - 1] else out[: limit - 1]
    return cut.rstrip(" ,.;:") + "…"


# What one spam check concluded (a check is history: the comment may have moved since).
CHECK_HEADS = {
    "ham": "Looked fine",
    "unsure": "Unsure",
    "spam": "Looked like spam",
    "discard": "Certainly spam",
}
