"""What the local rules read: a site's lists and limits, and one submission worked out once.

`RuleLists` holds a site's key and block lists (WordPress's moderation and disallowed keys, blocked
IPs, e-mails and domains), parsed and validated when built; `RuleSettings` its limits; `RuleContext`
one submission with its visible text and links, which every rule (a `Rule`) receives. The rules are
in `moderation.scorers.rules.decisive` and `moderation.scorers.rules.weighted`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from moderation.domain.scoring import Signal, Submission
from moderation.domain.states import CommentKind
from moderation.errors import InvalidInput
from moderation.scorers.rules.text import (
    find_links,
    mentioned_domains,
    normalize_host,
    strip_html,
    url_host,
    website_host,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Rule = Callable[["RuleContext"], "Signal | None"]

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
