"""The rules that decide alone (WordPress's): each forces a verdict through `Signal.verdict`.

A filled-in honeypot discards; a disallowed key or a blocked IP, e-mail or domain is spam; too many
links or a moderation key holds (unsure). WordPress semantics (`PROTOCOLS.md` §6.2): keys are
case-insensitive substrings without word boundaries, matched against name, e-mail, website, text, IP
and user agent; disallowed keys also against the text with HTML stripped; a comment is held when its
link count reaches ``max_links``.
"""

from __future__ import annotations

from moderation.domain.scoring import Signal, Verdict
from moderation.scorers.rules.context import RuleContext
from moderation.scorers.rules.text import find_key

# Decisive signals carry points that match the verdict they force, so a sorted queue reads right.
HOLD_POINTS = 1.0
SPAM_POINTS = 5.0
# Too many links: 1.0 at the limit, 0.5 more per extra link, at most 3.0.
# Fires (max_links=2, no website in the data): yt 0.9 / 0.1, sms 0.0 / 0.0.
MAX_LINK_POINTS = 3.0


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
