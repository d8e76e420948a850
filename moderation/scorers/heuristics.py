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

The heuristic rules and their weights are in `moderation.scorers.heuristic_rules`; the text helpers
(visible text, links, hosts, key matching) in `moderation.scorers.rule_text`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from moderation.domain.scoring import Signal, Submission, Verdict
from moderation.domain.states import CommentKind
from moderation.errors import InvalidInput
from moderation.scorers.heuristic_rules import (
    check_author_long,
    check_author_url,
    check_caps,
    check_domain_mention,
    check_email_in_text,
    check_homoglyph,
    check_linked,
    check_money,
    check_phone,
    check_promo,
    check_punctuation,
    check_repeats,
    check_shortener,
    check_text_long,
    check_text_short,
    check_trusted,
    check_user_agent,
    check_website,
)
from moderation.scorers.rule_text import (
    find_key,
    find_links,
    mentioned_domains,
    normalize_host,
    strip_html,
    url_host,
    website_host,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Rule = Callable[["RuleContext"], "Signal | None"]

# Decisive signals carry points that match the verdict they force, so a sorted queue reads right.
HOLD_POINTS = 1.0
SPAM_POINTS = 5.0
# Too many links: 1.0 at the limit, 0.5 more per extra link, at most 3.0.
# Fires (max_links=2, no website in the data): yt 0.9 / 0.1, sms 0.0 / 0.0.
MAX_LINK_POINTS = 3.0

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
# Linkback rule (points only)
# --------------------------------------------------------------------------------------------------


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
    return Signal(
        "rules.ping_origin",
        PING_ORIGIN_POINTS,
        f"pinged from {s.ip}, not an address of {host} ({addresses})",
    )


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
