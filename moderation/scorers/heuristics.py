"""Local rule scorers: WordPress's moderation rules plus cheap, explainable spam heuristics.

`RuleScorer` runs small rule functions in a fixed order; each looks at one `RuleContext` (a submission with
what is derived from it once: the text without HTML and the links in it) and returns a `Signal` or None.

* Decisive rules force a verdict through `Signal.verdict`: a filled-in honeypot discards; a disallowed
  key or a blocked IP, e-mail or domain is spam; too many links or a moderation key holds (unsure).
  WordPress semantics (`PROTOCOLS.md` §6.2): keys are case-insensitive substrings without word
  boundaries, matched against name, e-mail, website, text, IP and user agent; disallowed keys also
  against the text with HTML stripped; a comment is held when its link count reaches ``max_links``.
* Heuristic rules only add points. None of them alone reaches the hold threshold (1.0), and those that
  fire on more than 2 % of ham are worth at most 0.2. The rates next to each weight were measured on the
  open sets in ``shared/data/spam/comments`` as ``spam % / ham %``: ``yt`` is youtube.csv (the closest
  to blog comments; its rows have no e-mail, website, IP or user agent, so rules on those fields are
  unmeasured), ``sms`` is sms.csv (text only).
"""

from __future__ import annotations

import html
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from moderation.domain.scoring import Signal, Submission, Verdict
from moderation.domain.states import CommentKind
from moderation.errors import InvalidInput

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Rule = Callable[["RuleContext"], "Signal | None"]

# Decisive signals carry points that match the verdict they force, so a sorted queue reads right.
HOLD_POINTS = 1.0
SPAM_POINTS = 5.0
# Too many links: 1.0 at the limit, 0.5 more per extra link, at most 3.0.
# Fires (max_links=2, no website in the data): yt 0.9 / 0.1, sms 0.0 / 0.0.
MAX_LINK_POINTS = 3.0

# Heuristic weights. Comments: fire rates as spam % / ham %, "yt" youtube.csv, "sms" sms.csv.
# No user agent on a form comment. Unmeasured (no user agents in the data); browsers always send one.
USER_AGENT_POINTS = 0.5
# Fewer than 2 visible characters: yt 0.0 / 0.0, sms 0.0 / 0.0 (the data has no empty rows).
TEXT_SHORT_POINTS = 0.2
# Over 5,000 characters: yt 0.0 / 0.0, sms 0.0 / 0.0 (the longest row has 1,116).
TEXT_LONG_POINTS = 0.3
# Name over 60 characters: yt 0.0 / 0.1.
AUTHOR_LONG_POINTS = 0.3
# A URL or domain in the name: yt 0.0 / 0.0; keyword-and-link names are a blog spam classic.
AUTHOR_URL_POINTS = 0.5
# >= 30 cased letters, >= 90 % capitals: yt 4.3 / 1.3, sms 0.5 / 1.5.
CAPS_POINTS = 0.2
# One character 20 times in a row: yt 0.8 / 1.8, sms 0.0 / 0.0. Ham-leaning, so only a nudge.
REPEATS_POINTS = 0.1
# A run of 10 "!"/"?": yt 0.4 / 1.5, sms 0.0 / 0.0. Ham-leaning too.
PUNCTUATION_POINTS = 0.1
# A phone number: yt 3.3 / 0.1, sms 53.8 / 0.0.
PHONE_POINTS = 0.5
# Self-promotion ("check out", "my channel", "subscribe"): yt 67.8 / 0.1, sms 0.4 / 0.0.
PROMO_POINTS = 0.8
# Money and prizes ("make money", "click here", "you won"): yt 5.6 / 0.0, sms 19.5 / 0.1.
MONEY_POINTS = 0.6
# A URL shortener: yt 0.2 / 0.0, sms 0.0 / 0.0.
SHORTENER_POINTS = 0.6
# A link to another site in the text: yt 19.0 / 1.2, sms 14.2 / 0.0.
LINKED_POINTS = 0.4
# A domain without a link ("zonepa.com", "weebly . com"): yt 6.3 / 0.0, sms 5.0 / 0.3.
DOMAIN_MENTION_POINTS = 0.5
# An e-mail address in the text: yt 0.0 / 0.0, sms 0.8 / 0.0.
EMAIL_IN_TEXT_POINTS = 0.4
# Mixed-script words, styled or hidden letters: yt 0.1 / 0.2, sms 0.0 / 0.0.
HOMOGLYPH_POINTS = 0.5
# A website from a first-time author. Unmeasured (no websites in the data); honest people give one too.
WEBSITE_POINTS = 0.2
# A previously approved author.
TRUSTED_POINTS = -1.0
# TB-D2: a trackback sent from an address its source's host does not resolve to. Only a nudge:
# hosted blogs ping from other machines than the ones that serve their pages.
PING_ORIGIN_POINTS = 0.5
SOURCE_ADDRESSES = "source_addresses"  # `Submission.extra` key: the source host's addresses

_KEY_FIELDS = ("name", "e-mail", "website", "text", "IP", "user agent")


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


def split_keys(text: str) -> tuple[str, ...]:
    """One key per line, trimmed, blank lines dropped: how WordPress stores its key lists."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _entries(values: Iterable[str] | str) -> tuple[str, ...]:
    """Trimmed non-empty entries; a single string is read as one entry per line."""
    if isinstance(values, str):
        return split_keys(values)
    return tuple(v.strip() for v in values if v and v.strip())


def normalize_host(host: str) -> str:
    """A host in the form used for comparisons: lower case, no trailing dot, ASCII (punycode)."""
    host = host.strip().strip(".").casefold()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _domain_entry(entry: str) -> str:
    """A blocked-domain entry as a bare host; ``*.x``, ``.x`` and ``@x`` all mean ``x``."""
    host = normalize_host(entry.lstrip("*.@"))
    if not host or any(c.isspace() or c in "/:@" for c in host):
        raise InvalidInput("not a domain", fields={"blocked_domains": f"not a domain: {entry!r}"})
    return host


def _network_entry(entry: str) -> IPNetwork:
    """A blocked-IP entry as a network; a single address becomes a one-address network."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise InvalidInput(
            "not an IP address or network", fields={"blocked_ips": f"not an IP or CIDR: {entry!r}"}
        ) from None


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The submission's IP, with IPv4-mapped IPv6 unwrapped; None when it is not an address."""
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


@dataclass(frozen=True)
class RuleLists:
    """A site's key and block lists, validated and normalised when built.

    Keys follow WordPress: case-insensitive Unicode substrings, no word boundaries. Blocked IPs are
    addresses or CIDR networks, blocked e-mails match exactly (case-insensitively) and a blocked domain
    also covers its subdomains. A bad IP or domain entry raises `InvalidInput` naming the list, so a
    settings page can show it; a string instead of a tuple is read as one entry per line.
    """

    moderation_keys: tuple[str, ...] = ()
    disallowed_keys: tuple[str, ...] = ()
    blocked_ips: tuple[str, ...] = ()
    blocked_emails: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Trim every list, drop blanks and parse the IP networks once."""
        lists = ("moderation_keys", "disallowed_keys", "blocked_ips", "blocked_emails")
        for name in lists:
            object.__setattr__(self, name, _entries(getattr(self, name)))
        emails = tuple(e.casefold() for e in self.blocked_emails)
        object.__setattr__(self, "blocked_emails", emails)
        domains = tuple(_domain_entry(d) for d in _entries(self.blocked_domains))
        object.__setattr__(self, "blocked_domains", domains)
        object.__setattr__(self, "networks", tuple(_network_entry(i) for i in self.blocked_ips))

    def blocked_network(self, ip: str) -> IPNetwork | None:
        """The blocked network containing `ip`, or None (also for a missing or malformed IP)."""
        if not self.networks:  # the usual case: nothing to parse the address for
            return None
        address = _parse_ip(ip)
        if address is None:
            return None
        return next((n for n in self.networks if address in n), None)

    def email_blocked(self, email: str) -> bool:
        """Whether the e-mail address is on the list, ignoring case and surrounding space."""
        return bool(email.strip()) and email.strip().casefold() in self.blocked_emails

    def blocked_domain(self, host: str) -> str | None:
        """The list entry that `host` is, or is a subdomain of; None when it is not blocked."""
        host = normalize_host(host)
        return next((d for d in self.blocked_domains if host == d or host.endswith("." + d)), None)


@dataclass(frozen=True)
class RuleSettings:
    """A site's limits for the rules; the defaults follow WordPress where it has one.

    ``max_links`` holds a comment whose link count reaches it (0 disables), counting the author's
    website as one link when ``count_website_as_link``. Length limits are in characters.
    """

    max_links: int = 2
    count_website_as_link: bool = True
    min_text_chars: int = 2
    max_text_chars: int = 5000
    max_author_chars: int = 60
    caps_min_letters: int = 30
    caps_ratio: float = 0.9
    max_char_run: int = 20
    max_punctuation_run: int = 10

    def __post_init__(self) -> None:
        """Reject negative limits, which would silently disable or invert a rule."""
        for name in ("max_links", "min_text_chars", "max_text_chars", "max_author_chars"):
            if getattr(self, name) < 0:
                raise InvalidInput("negative limit", fields={name: "must be 0 or more"})
        if not 0.0 < self.caps_ratio <= 1.0:
            raise InvalidInput("bad ratio", fields={"caps_ratio": "must be in (0, 1]"})


# --------------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------------

_SCRIPT = re.compile(
    r"<(script|style)\b(?:(?!<(?:script|style)\b).)*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_TAG = re.compile(r"</?[a-z!?][^<>]*>", re.IGNORECASE)
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_ANCHOR = re.compile(
    r"<a\s[^<>]*?\bhref\s*=\s*[\"']?([^\"'\s<>]*)[^<>]*>(?:(?:(?!<a\s).)*?</a\s*>)?",
    re.IGNORECASE | re.DOTALL,
)
_MD_LINK = re.compile(r"!?\[[^\[\]\n]*\]\(\s*<?([^\s()<>\[\]]+)>?(?:\s+[\"'(][^()\n]*)?\)")
_BARE_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_ANY_DOMAIN = re.compile(r"(?<![\w.-])(?:[\w-]+\.)+[^\W\d_]{2,}\b")


def strip_html(text: str) -> str:
    """The text a reader sees: tags, scripts and invisible characters removed, entities decoded.

    Tags are removed without a trace, as WordPress's ``wp_strip_all_tags`` does, so a key split by
    markup (``vi<b></b>agra``) is whole again. NFKC folds styled letters (``ｃａｓｉｎｏ``) to plain ones.
    """
    text = html.unescape(_TAG.sub("", _SCRIPT.sub("", text)))
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))


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
    urls += [m.group(0).rstrip(_TRAILING) for m in _BARE_URL.finditer(rest)]
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
# Context
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleContext:
    """One submission and what every rule needs from it, worked out once."""

    submission: Submission
    settings: RuleSettings
    lists: RuleLists
    plain: str
    links: tuple[str, ...]

    @classmethod
    def build(cls, submission: Submission, settings: RuleSettings, lists: RuleLists) -> RuleContext:
        """Strip the HTML and find the links of `submission`."""
        links = tuple(find_links(submission.text))
        return cls(submission, settings, lists, strip_html(submission.text), links)

    @property
    def is_comment(self) -> bool:
        """A form comment, as opposed to a linkback sent by a server."""
        return self.submission.kind is CommentKind.comment

    @property
    def key_fields(self) -> list[tuple[str, str]]:
        """The fields WordPress matches keys against, labelled for a moderator."""
        s = self.submission
        values = (s.author, s.email, s.website, s.text, s.ip, s.user_agent)
        return list(zip(_KEY_FIELDS, values, strict=True))

    @property
    def link_count(self) -> int:
        """Links in the text, plus one for the author's website on a form comment if so configured."""
        website = self.is_comment and self.settings.count_website_as_link
        return len(self.links) + int(bool(website and self.submission.website.strip()))

    def hosts(self) -> Iterator[tuple[str, str]]:
        """Every host the submission points at, labelled: e-mail domain, website, links, mentions."""
        s = self.submission
        if "@" in s.email:
            yield "e-mail domain", normalize_host(s.email.rpartition("@")[2])
        if host := website_host(s.website):
            yield "website", host
        for host in filter(None, map(url_host, self.links)):
            yield "linked site", host
        for host in mentioned_domains(self.plain):
            yield "mentioned domain", host

    def off_site_links(self) -> list[str]:
        """Links in the text whose host is not the site itself (or one of its subdomains)."""
        site = url_host(self.submission.site_url) or ""
        hosts = (url_host(u) for u in self.links)
        return [h for h in hosts if h and h != site and not h.endswith("." + site)]


# --------------------------------------------------------------------------------------------------
# Decisive rules (WordPress)
# --------------------------------------------------------------------------------------------------


def check_honeypot(ctx: RuleContext) -> Signal | None:
    """Discard when the hidden honeypot field is filled: the widget sends it empty, bots fill it."""
    if not ctx.submission.honeypot.strip():
        return None
    return Signal("rules.honeypot", SPAM_POINTS, "hidden honeypot field filled in", Verdict.discard)


def check_disallowed(ctx: RuleContext) -> Signal | None:
    """Spam when a disallowed key is in any field or in the text with its HTML stripped."""
    fields = [*ctx.key_fields, ("text without HTML", ctx.plain)]
    found = find_key(ctx.lists.disallowed_keys, fields)
    if found is None:
        return None
    key, label = found
    return Signal(
        "rules.disallowed", SPAM_POINTS, f'disallowed key "{key}" in the {label}', Verdict.spam
    )


def check_blocked_ip(ctx: RuleContext) -> Signal | None:
    """Spam when the sender's IP is on the blocked list or in a blocked network."""
    network = ctx.lists.blocked_network(ctx.submission.ip)
    if network is None:
        return None
    entry = network.network_address if network.prefixlen == network.max_prefixlen else network
    reason = f"IP {ctx.submission.ip.strip()} is blocked ({entry})"
    return Signal("rules.blocked_ip", SPAM_POINTS, reason, Verdict.spam)


def check_blocked_email(ctx: RuleContext) -> Signal | None:
    """Spam when the author's e-mail address is on the blocked list."""
    if not ctx.lists.email_blocked(ctx.submission.email):
        return None
    reason = f"e-mail {ctx.submission.email.strip()} is blocked"
    return Signal("rules.blocked_email", SPAM_POINTS, reason, Verdict.spam)


def check_blocked_domain(ctx: RuleContext) -> Signal | None:
    """Spam when the e-mail's domain, the website or a linked or mentioned host is blocked."""
    for label, host in ctx.hosts():
        entry = ctx.lists.blocked_domain(host)
        if entry is not None:
            reason = f"{label} {host} is blocked ({entry})"
            return Signal("rules.blocked_domain", SPAM_POINTS, reason, Verdict.spam)
    return None


def check_links(ctx: RuleContext) -> Signal | None:
    """Hold when the link count reaches ``max_links`` (WordPress: 2 links with a limit of 2 wait)."""
    limit, count = ctx.settings.max_links, ctx.link_count
    if limit == 0 or count < limit:
        return None
    points = min(HOLD_POINTS + 0.5 * (count - limit), MAX_LINK_POINTS)
    website = " counting the website" if count > len(ctx.links) else ""
    reason = f"{count} links{website} ({limit} or more are held)"
    return Signal("rules.links", points, reason, Verdict.unsure)


def check_moderation(ctx: RuleContext) -> Signal | None:
    """Hold when a moderation key is in the name, e-mail, website, text, IP or user agent."""
    found = find_key(ctx.lists.moderation_keys, ctx.key_fields)
    if found is None:
        return None
    key, label = found
    return Signal(
        "rules.moderation", HOLD_POINTS, f'moderation key "{key}" in the {label}', Verdict.unsure
    )


# --------------------------------------------------------------------------------------------------
# Heuristic rules (points only)
# --------------------------------------------------------------------------------------------------

_LINK_TLDS = (
    "com|net|org|info|biz|ru|io|tk|xyz|ly|online|site|top|club|tv|cc|ws|de|uk|"
    "shop|store|live|link|click|win|vip|pro"
)
_DOMAIN_MENTION = re.compile(
    r"(?<![\w.-])(?:[a-z0-9-]+\.)+(?:" + _LINK_TLDS + r")\b"
    r"|(?<![\w.-])[a-z0-9.-]{2,}"
    r"(?:\s{1,3}\.\s{0,3}|\s{0,3}[(\[]dot[)\]]\s{0,3}|\s{1,3}dot\s{1,3})(?:com|net|org)\b",
    re.IGNORECASE,
)
_AUTHOR_URL = re.compile(
    r"https?://|www\.|(?<![\w.-])(?:[a-z0-9-]+\.)+(?:" + _LINK_TLDS + r")\b", re.IGNORECASE
)
_PHONE = re.compile(r"(?<![\w.,])(?:\+|00)?\(?\d[\d\s().\-]{7,22}\d(?!\w)")
_US_DOTTED_PHONE = re.compile(r"\(?\d{3}\)?\.\d{3}\.\d{4}")
_PROMO = re.compile(
    r"\bcheck\s*(?:out|it out|(?:out\s+)?(?:my|our))\b"
    r"|\b(?:my|our)\s+(?:new\s+|own\s+|youtube\s+|music\s+|first\s+)?"
    r"(?:channel|videos?|vids?|blog|website|site|page|covers?|music|songs?|remix(?:es)?|mixtape)\b"
    r"|\bsub(?:scribe|\s*4\s*sub|\s*for\s*sub)\b|\bfollow\s+(?:me|us)\b|\blike\s+this\s+comment\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"\b(?:make|earn|making|earning)\s+(?:\w+\s+)?(?:money|cash)\b"
    r"|\bper\s+(?:month|week|hour|day)\b|\bwork(?:ing)?\s+from\s+(?:home|your)\b|\bget\s+paid\b"
    r"|\bclick\s+(?:here|this|the\s+link)\b"
    r"|\bfree\s+(?:\w+\s+)?(?:money|gift|cash|trial|entry|followers|subscribers|views|iphone|prize)"
    r"|\byou\s+(?:have\s+)?won\b(?!['’])|\bwinner\b|\bclaim\s+(?:your|now|a)\b|\bprizes?\b"
    r"|\bguaranteed\b",
    re.IGNORECASE,
)
_SHORTENER = re.compile(
    r"\b(?:bit\.ly|bit\.do|goo\.gl|tinyurl\.com|t\.co|ow\.ly|is\.gd|buff\.ly|adf\.ly|tiny\.cc|"
    r"shorte\.st|cutt\.ly|rebrand\.ly|rb\.gy|t\.ly|shorturl\.at|s\.id)/\w",
    re.IGNORECASE,
)
_MIXED_WITH_LATIN = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"})
_STYLED_LETTERS = ("MATHEMATICAL ", "FULLWIDTH LATIN ", "CIRCLED LATIN ", "PARENTHESIZED LATIN ")
_HIDDEN_IN_WORD = re.compile("\\w[\u200b-\u200d\u2060\ufeff]+\\w")


def check_user_agent(ctx: RuleContext) -> Signal | None:
    """A few points when a form comment has no user agent; linkbacks come from servers, so skip them."""
    if not ctx.is_comment or ctx.submission.user_agent.strip():
        return None
    return Signal("rules.user_agent", USER_AGENT_POINTS, "no user agent (browsers always send one)")


def check_text_short(ctx: RuleContext) -> Signal | None:
    """A nudge for a form comment with (almost) no visible text: bots probing the form send those."""
    length = len(ctx.plain.strip())
    if not ctx.is_comment or length >= ctx.settings.min_text_chars:
        return None
    reason = f"{length} visible characters (fewer than {ctx.settings.min_text_chars})"
    return Signal("rules.text_short", TEXT_SHORT_POINTS, reason)


def check_text_long(ctx: RuleContext) -> Signal | None:
    """A nudge for text over ``max_text_chars``: pasted articles and keyword dumps are spam's."""
    length = len(ctx.submission.text)
    if length <= ctx.settings.max_text_chars:
        return None
    reason = f"{length:,} characters (more than {ctx.settings.max_text_chars:,})"
    return Signal("rules.text_long", TEXT_LONG_POINTS, reason)


def check_author_long(ctx: RuleContext) -> Signal | None:
    """A nudge for a very long author name, where spam puts keywords instead of a name."""
    length = len(ctx.submission.author.strip())
    if length <= ctx.settings.max_author_chars:
        return None
    reason = f"name of {length} characters (more than {ctx.settings.max_author_chars})"
    return Signal("rules.author_long", AUTHOR_LONG_POINTS, reason)


def check_author_url(ctx: RuleContext) -> Signal | None:
    """Points when the author's name contains a URL or domain: people do not call themselves that."""
    if not _AUTHOR_URL.search(ctx.submission.author):
        return None
    return Signal("rules.author_url", AUTHOR_URL_POINTS, "a link or domain in the name")


def check_caps(ctx: RuleContext) -> Signal | None:
    """A nudge for text in capitals; ham shouts too (1.2 % of YouTube ham), so only a nudge."""
    cased = [c for c in ctx.plain if c.isupper() or c.islower()]
    if len(cased) < ctx.settings.caps_min_letters:
        return None
    ratio = sum(c.isupper() for c in cased) / len(cased)
    if ratio < ctx.settings.caps_ratio:
        return None
    return Signal("rules.caps", CAPS_POINTS, f"{ratio:.0%} of letters are capitals")


_RUN = re.compile(r"(\S)\1+")  # two or more of one character that is not white space


def _longest_run(text: str) -> tuple[str, int]:
    """The character with the longest run in `text` (white space aside), and its run (a regex walk:
    a character-by-character loop in Python cost more than the rest of the rules together)."""
    longest = max((m.group(0) for m in _RUN.finditer(text)), key=len, default="")
    if longest:
        return longest[0], len(longest)
    stripped = text.strip()
    return (stripped[0], 1) if stripped else ("", 0)


def check_repeats(ctx: RuleContext) -> Signal | None:
    """A nudge for a long run of one character ("!!!!!!…", "ooooo…"): bots pad, but so do fans."""
    char, run = _longest_run(ctx.plain)
    if run < ctx.settings.max_char_run:
        return None
    return Signal("rules.repeats", REPEATS_POINTS, f'"{char}" repeated {run} times')


def check_punctuation(ctx: RuleContext) -> Signal | None:
    """A nudge for a long run of exclamation or question marks."""
    runs = re.findall(r"[!?¡¿]+", ctx.plain)
    longest = max(map(len, runs), default=0)
    if longest < ctx.settings.max_punctuation_run:
        return None
    return Signal("rules.punctuation", PUNCTUATION_POINTS, f"{longest} exclamation/question marks")


def find_phone(text: str) -> str | None:
    """The first phone-number-like run of 9 to 15 digits, or None.

    Digit groups joined by dots or commas (``2.126.521.750`` views, ``198.51.100.7``) are numbers, not
    phones, except the US ``555.123.4567`` form.
    """
    for match in _PHONE.finditer(text):
        candidate = match.group(0).strip()
        digits = sum(c.isdigit() for c in candidate)
        dotted = "." in candidate or "," in candidate
        if 9 <= digits <= 15 and (not dotted or _US_DOTTED_PHONE.fullmatch(candidate)):
            return candidate
    return None


def check_phone(ctx: RuleContext) -> Signal | None:
    """Points for a phone number in the text: SMS-style spam asks to call or text one."""
    phone = find_phone(ctx.plain)
    if phone is None:
        return None
    return Signal("rules.phone", PHONE_POINTS, f"phone number {phone}")


def _phrase_signal(name: str, pattern: re.Pattern[str], points: float, text: str) -> Signal | None:
    """A signal quoting the first match of `pattern` in `text`, or None when there is none."""
    match = pattern.search(text)
    if match is None:
        return None
    return Signal(name, points, f'"{" ".join(match.group(0).split())}"')


def check_promo(ctx: RuleContext) -> Signal | None:
    """Points for self-promotion: "check out my channel", "subscribe", "follow me", ..."""
    return _phrase_signal("rules.promo", _PROMO, PROMO_POINTS, ctx.plain)


def check_money(ctx: RuleContext) -> Signal | None:
    """Points for money and prize wording: "make money", "click here", "you won", "free gift", ..."""
    return _phrase_signal("rules.money", _MONEY, MONEY_POINTS, ctx.plain)


def check_shortener(ctx: RuleContext) -> Signal | None:
    """Points for a URL shortener link, which hides where it leads."""
    return _phrase_signal("rules.shortener", _SHORTENER, SHORTENER_POINTS, ctx.submission.text)


def check_linked(ctx: RuleContext) -> Signal | None:
    """Points for links to other sites in the text (1.2 % of YouTube ham has one, 19 % of spam)."""
    hosts = ctx.off_site_links()
    if not hosts:
        return None
    names = ", ".join(dict.fromkeys(hosts))
    return Signal("rules.linked", LINKED_POINTS, f"links to {names}")


def check_domain_mention(ctx: RuleContext) -> Signal | None:
    """Points for a domain written out without a link ("zonepa.com", "weebly . com")."""
    text = _EMAIL.sub(" ", _BARE_URL.sub(" ", ctx.plain))
    return _phrase_signal("rules.domain_mention", _DOMAIN_MENTION, DOMAIN_MENTION_POINTS, text)


def check_email_in_text(ctx: RuleContext) -> Signal | None:
    """Points for an e-mail address in the text: an invitation to take the talk elsewhere."""
    return _phrase_signal("rules.email_in_text", _EMAIL, EMAIL_IN_TEXT_POINTS, ctx.plain)


def _scripts(word: str) -> set[str]:
    """The Unicode scripts (first word of each character's name) of a word's letters."""
    return {unicodedata.name(c, "?").split(" ")[0] for c in word}


def find_homoglyph(text: str) -> str | None:
    """A word that disguises itself: Latin mixed with look-alike scripts, styled or hidden letters."""
    hidden = _HIDDEN_IN_WORD.search(text)
    if hidden:
        return f'hidden characters inside "{_INVISIBLE.sub("", hidden.group(0))}"'
    for word in re.findall(r"[^\W\d_]{2,}", text):
        if word.isascii():
            continue
        if any(unicodedata.name(c, "").startswith(_STYLED_LETTERS) for c in word):
            return f'styled letters in "{word}"'
        if "LATIN" in (scripts := _scripts(word)) and scripts & _MIXED_WITH_LATIN:
            return f'mixed scripts in "{word}"'
    return None


def check_homoglyph(ctx: RuleContext) -> Signal | None:
    """Points for words that dodge filters with look-alike, styled or invisible characters."""
    found = find_homoglyph(ctx.submission.text)
    if found is None:
        return None
    return Signal("rules.homoglyph", HOMOGLYPH_POINTS, found)


def check_website(ctx: RuleContext) -> Signal | None:
    """A nudge for a website given by a first-time commenter: link building needs it, chat does not."""
    s = ctx.submission
    if not ctx.is_comment or s.author_trusted or not s.website.strip():
        return None
    host = website_host(s.website) or s.website.strip()
    return Signal("rules.website", WEBSITE_POINTS, f"first-time author gives a website ({host})")


def check_trusted(ctx: RuleContext) -> Signal | None:
    """Points off for an author with an approved comment before (WordPress's previously approved)."""
    if not ctx.submission.author_trusted:
        return None
    return Signal("rules.trusted", TRUSTED_POINTS, "author has approved comments")


def check_ping_origin(ctx: RuleContext) -> Signal | None:
    """Points for a trackback whose sender's IP is not an address of its source's host (TB-D2).

    Needs the addresses in ``extra["source_addresses"]`` (comma-separated), which verification
    puts there after it has looked the host up; without them the rule says nothing."""
    s = ctx.submission
    addresses = s.extra.get(SOURCE_ADDRESSES, "")
    if s.kind is not CommentKind.trackback or not addresses or not s.ip:
        return None
    if s.ip in addresses.split(","):
        return None
    host = website_host(s.source) or s.source
    return Signal("rules.ping_origin", PING_ORIGIN_POINTS,
                  f"pinged from {s.ip}, not an address of {host} ({addresses})")  # fmt: skip


RULES: tuple[Rule, ...] = (
    check_honeypot,
    check_disallowed,
    check_blocked_ip,
    check_blocked_email,
    check_blocked_domain,
    check_links,
    check_moderation,
    check_user_agent,
    check_text_short,
    check_text_long,
    check_author_long,
    check_author_url,
    check_caps,
    check_repeats,
    check_punctuation,
    check_phone,
    check_promo,
    check_money,
    check_shortener,
    check_linked,
    check_domain_mention,
    check_email_in_text,
    check_homoglyph,
    check_ping_origin,
    check_website,
    check_trusted,
)


class RuleScorer:
    """The local rules as a `Scorer`: WordPress's key, link and block rules plus spam heuristics.

    Pure and fast (no I/O), so it runs first and never raises `ScorerUnavailable`.
    """

    name = "rules"

    def __init__(
        self,
        settings: RuleSettings | None = None,
        lists: RuleLists | None = None,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        """Defaults: WordPress's settings, empty lists and every rule in `RULES`."""
        self.settings = settings or RuleSettings()
        self.lists = lists or RuleLists()
        self.rules = tuple(rules)

    def score(self, submission: Submission) -> list[Signal]:
        """Every rule's signal for `submission`, in rule order."""
        ctx = RuleContext.build(submission, self.settings, self.lists)
        return [signal for rule in self.rules if (signal := rule(ctx)) is not None]
