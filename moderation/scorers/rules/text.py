"""What the local rules read from a submission: the visible text, its links, hosts and key matches.

Helpers for the other modules of `moderation.scorers.rules` (`context`: `RuleContext` and
`RuleLists`; `decisive` and `weighted`: the rules): HTML stripped the way WordPress strips it, link
targets found once each, hosts normalised for comparison, WordPress's case-insensitive substring
key match, and the text fingerprint that finds the same text posted on other pages. Imports nothing from the rest of the package.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------------

_SCRIPT = re.compile(
    r"<(script|style)\b(?:(?!<(?:script|style)\b).)*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_TAG = re.compile(r"</?[a-z!?][^<>]*>", re.IGNORECASE)
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_ANCHOR = re.compile(
    r"<a\s[^<>]*?\bhref\s*=\s*[\"']?([^\"'\s<>]*)[^<>]*>(?:(?:(?!<a\s).)*?</a\s*>)?",
    re.IGNORECASE | re.DOTALL,
)
_MD_LINK = re.compile(r"!?\[[^\[\]\n]*\]\(\s*<?([^\s()<>\[\]]+)>?(?:\s+[\"'(][^()\n]*)?\)")
BARE_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_ANY_DOMAIN = re.compile(r"(?<![\w.-])(?:[\w-]+\.)+[^\W\d_]{2,}\b")


def normalize_host(host: str) -> str:
    """A host in the form used for comparisons: lower case, no trailing dot, ASCII (punycode)."""
    host = host.strip().strip(".").casefold()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def strip_html(text: str) -> str:
    """The text a reader sees: tags, scripts and invisible characters removed, entities decoded.

    Tags are removed without a trace, as WordPress's ``wp_strip_all_tags`` does, so a key split by
    markup (``vi<b></b>agra``) is whole again. NFKC folds styled letters (``ｃａｓｉｎｏ``) to plain ones.
    """
    text = html.unescape(_TAG.sub("", _SCRIPT.sub("", text)))
    return unicodedata.normalize("NFKC", INVISIBLE.sub("", text))


def find_links(text: str) -> list[str]:
    """Every link target in the text, each counted once: HTML anchors, Markdown links, bare URLs.

    Anchors and Markdown links are taken out before bare URLs are looked for, so
    ``<a href="http://x">http://x</a>`` is one link, not two. Bare URLs are ``http(s)://`` or
    ``www.`` forms, which the display filters would turn into links.
    """
    urls = [m.group(1) for m in _ANCHOR.finditer(text)]
    rest = _ANCHOR.sub(" ", text)
    urls += [m.group(1) for m in _MD_LINK.finditer(rest)]
    rest = _MD_LINK.sub(" ", rest)
    urls += [m.group(0).rstrip(_TRAILING) for m in BARE_URL.finditer(rest)]
    return urls


def url_host(url: str) -> str | None:
    """The normalised host of a URL (``www.x`` without a scheme too); None when it has none."""
    url = url.strip()
    if url.casefold().startswith("www."):
        url = "//" + url
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return normalize_host(host) if host else None


def website_host(website: str) -> str | None:
    """The host of an author's website as typed into a form, where the scheme is often left out."""
    website = website.strip()
    if not website:
        return None
    return url_host(website if "//" in website else "//" + website)


def mentioned_domains(text: str) -> list[str]:
    """Domain-looking words in plain text (``zonepa.com``, ``spam.example``), normalised."""
    return [normalize_host(m.group(0)) for m in _ANY_DOMAIN.finditer(text)]


def find_key(keys: Sequence[str], fields: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The first key found in any field, with the field's label: WordPress's substring match."""
    folded = [(label, value.casefold()) for label, value in fields if value]
    for key in keys:
        needle = key.casefold()
        for label, value in folded:
            if needle in value:
                return key, label
    return None


# --------------------------------------------------------------------------------------------------
# Text fingerprint (the same text on many pages)
# --------------------------------------------------------------------------------------------------

_MD_LABEL = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\n]*\)")
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
# Shorter texts get no fingerprint: readers repeat "Nice post" and "Thanks!" everywhere.
FINGERPRINT_MIN_WORDS = 4
FINGERPRINT_MIN_CHARS = 20


def fingerprint_text(text: str) -> str:
    """The words a fingerprint is taken of: the visible text without its link targets (anchor
    and Markdown link labels stay, bare URLs and e-mail addresses go, so a copy with another link
    still matches), case-folded, every run of digits one ``0``, punctuation dropped, white space
    collapsed."""
    if "](" in text:
        text = _MD_LABEL.sub(r" \1 ", text)
    text = strip_html(text).casefold()
    if "://" in text or "www." in text:  # (each pattern is a scan: skipped when it cannot match)
        text = BARE_URL.sub(" ", text)
    if "@" in text:
        text = EMAIL_RE.sub(" ", text)
    return " ".join(_WORD.findall(_DIGITS.sub("0", text)))


def text_fingerprint(text: str) -> str:
    """16 hex digits (blake2b) of `fingerprint_text`, or "" for a text too short to mean
    anything when repeated (fewer than 4 words or 20 characters)."""
    words = fingerprint_text(text)
    if len(words) < FINGERPRINT_MIN_CHARS or words.count(" ") + 1 < FINGERPRINT_MIN_WORDS:
        return ""
    return hashlib.blake2b(words.encode("utf-8"), digest_size=8).hexdigest()
