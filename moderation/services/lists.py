"""The moderation lists admins edit: moderation keys, disallowed keys, blocked IPs, e-mails and
domains, for one site or for all. The scorers read them per submission
(`moderation.services.spam.rule_lists`), so a change applies to the next comment.

Who may change them is one rule, `require_list_editor` (an active admin), checked by every change
a person asks for: adding and removing on the lists page (`add_entry_by`, `remove_entry_by`) and
"spam and block" (`spam_and_block`). `add_entry` and `remove_entry` themselves check nothing: they
are the steps those take (and undo takes back a block through `remove_block`)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.domain.states import Action
from moderation.errors import Forbidden, InvalidInput, NotFound
from moderation.models import Comment, ListEntry, ListKind, Moderator, Role
from moderation.scorers.rules import RuleLists, normalize_host, url_host, website_host
from moderation.services import Context
from moderation.services.moderation import Actor, apply_action
from moderation.services.queue import Batch, find_comment

MAX_VALUE = 255
LABELS = {
    ListKind.moderation_key: "Moderation keys",
    ListKind.disallowed_key: "Disallowed keys",
    ListKind.blocked_ip: "Blocked IPs",
    ListKind.blocked_email: "Blocked e-mails",
    ListKind.blocked_domain: "Blocked domains",
}
HELP = {
    ListKind.moderation_key: "held for review when found in name, e-mail, website, text, IP or "
    "user agent (case-insensitive substring)",
    ListKind.disallowed_key: "marked spam when found in any of those fields",
    ListKind.blocked_ip: "an address or a CIDR network (203.0.113.0/24); marked spam",
    ListKind.blocked_email: "an exact address, any case; marked spam",
    ListKind.blocked_domain: "covers its subdomains; checked against the e-mail domain, website "
    "and links; marked spam",
}


NOT_AN_EDITOR = "only admins may change the block and moderation lists"


def require_list_editor(session: Session, actor: Actor) -> None:
    """The one rule for changing the lists: `actor` is a moderator who is an active admin (read
    from the database now, not from their session). Raise `Forbidden` otherwise: other moderators,
    API tokens and the system."""
    moderator = session.get(Moderator, actor.moderator_id) if actor.moderator_id else None
    if moderator is None or not moderator.active or moderator.role is not Role.admin:
        raise Forbidden(NOT_AN_EDITOR)


def normalize_entry(kind: ListKind, value: str) -> str:
    """`value` checked and written the way the rules compare it; raise `InvalidInput` (field
    ``value``) with a message a person can act on."""
    value = value.strip()
    if not value:
        raise InvalidInput("the entry is empty", fields={"value": "enter a value"})
    if len(value) > MAX_VALUE or "\n" in value:
        raise InvalidInput("the entry is too long", fields={"value": "one line, 255 characters"})
    try:  # the scorers' own parser decides what is a valid IP or domain
        if kind is ListKind.blocked_ip:
            RuleLists(blocked_ips=(value,))
            network = ipaddress.ip_network(value, strict=False)
            single = network.prefixlen == network.max_prefixlen
            return str(network.network_address) if single else str(network)
        if kind is ListKind.blocked_domain:
            return RuleLists(blocked_domains=(value,)).blocked_domains[0]
    except InvalidInput as exc:
        message = next(iter(exc.fields.values()), exc.message)
        raise InvalidInput(message, fields={"value": message}) from None
    if kind is ListKind.blocked_email:
        local, _, domain = value.rpartition("@")
        if not local or "." not in domain or " " in value:
            raise InvalidInput(f"not an e-mail address: {value!r}", fields={"value": "an address"})
        return value.casefold()
    return value


def add_entry(
    session: Session,
    ctx: Context,
    kind: ListKind,
    value: str,
    *,
    site: str | None = None,
    note: str = "",
    created_by: str = "",
) -> tuple[ListEntry, bool]:
    """Add an entry (for `site`, or all sites when None); returns it and whether it is new.

    Raises `InvalidInput` for a bad value or an unknown site. Adding an existing entry is no error.
    """
    if site is not None and site not in ctx.settings.sites:
        raise InvalidInput("unknown site", fields={"site": "no such site"})
    value = normalize_entry(kind, value)
    same_site = ListEntry.site.is_(None) if site is None else ListEntry.site == site
    existing = session.scalars(
        select(ListEntry).where(ListEntry.kind == kind, ListEntry.value == value, same_site)
    ).first()
    if existing is not None:
        return existing, False
    entry = ListEntry(
        kind=kind,
        value=value,
        site=site,
        note=note[:255],
        created_by=created_by,
        created_at=ctx.clock(),
    )
    session.add(entry)
    session.flush()
    return entry, True


def add_entry_by(
    session: Session,
    ctx: Context,
    actor: Actor,
    kind: ListKind,
    value: str,
    *,
    site: str | None = None,
    note: str = "",
) -> tuple[ListEntry, bool]:
    """`add_entry` asked for by `actor`, who must pass `require_list_editor`."""
    require_list_editor(session, actor)
    return add_entry(session, ctx, kind, value, site=site, note=note, created_by=actor.label)


def remove_entry_by(session: Session, actor: Actor, entry_id: int) -> ListEntry:
    """`remove_entry` asked for by `actor`, who must pass `require_list_editor`."""
    require_list_editor(session, actor)
    return remove_entry(session, entry_id)


def remove_entry(session: Session, entry_id: int) -> ListEntry:
    """Delete an entry; raise `NotFound`."""
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise NotFound(f"no list entry {entry_id}")
    session.delete(entry)
    session.flush()
    return entry


def list_entries(session: Session) -> dict[ListKind, list[ListEntry]]:
    """Every entry, grouped by list, all-sites entries first, then by value."""
    grouped: dict[ListKind, list[ListEntry]] = {kind: [] for kind in ListKind}
    rows = session.scalars(select(ListEntry).order_by(ListEntry.kind, ListEntry.value))
    for entry in rows:
        grouped[entry.kind].append(entry)
    for entries in grouped.values():
        entries.sort(key=lambda e: (e.site is not None, e.site or "", e.value))
    return grouped


BLOCKS: dict[str, ListKind] = {
    "ip": ListKind.blocked_ip,
    "email": ListKind.blocked_email,
    "domain": ListKind.blocked_domain,
}


def block_target(comment: Comment, block: str) -> tuple[ListKind, str]:
    """What "spam and block" blocks for `block` (``ip``, ``email`` or ``domain``): the IP, the
    e-mail address, or the domain of the website (of the citing page, for a linkback).

    The e-mail's own domain is never blocked from here: it is too often a public provider.
    """
    kind = BLOCKS.get(block)
    if kind is None:
        raise InvalidInput("unknown block", fields={"block": "ip, email or domain"})
    if kind is ListKind.blocked_ip:
        value = comment.ip
    elif kind is ListKind.blocked_email:
        value = comment.email
    else:
        host = url_host(comment.source) if comment.source else website_host(comment.website)
        value = normalize_host(host) if host else ""
    if not value.strip():
        what = {"ip": "IP address", "email": "e-mail address", "domain": "website"}[block]
        raise InvalidInput(f"this comment has no {what} to block", fields={"block": block})
    return kind, value


def spam_and_block(
    session: Session, ctx: Context, comment_id: int, block: str, actor: Actor
) -> Batch:
    """Block the comment's IP, e-mail or website domain on every site, then mark it spam.

    Raises `Forbidden` when `actor` may not change the lists (`require_list_editor`: the comment
    is not marked spam either), `InvalidInput` when the comment has nothing of that kind to block,
    `InvalidTransition` when it cannot be marked spam. An entry that existed already is kept and
    not reported (so an undo leaves it alone).
    """
    require_list_editor(session, actor)
    comment = find_comment(session, comment_id)
    kind, value = block_target(comment, block)
    entry, created = add_entry(
        session,
        ctx,
        kind,
        value,
        site=None,
        note=f"spam and block, comment {comment.id}",
        created_by=actor.label,
    )
    what = {"ip": "IP", "email": "e-mail", "domain": "domain"}[block]
    event = apply_action(session, ctx, comment, Action.spam, actor, f"blocked {what} {entry.value}")
    return Batch(done=1, events=[event.id], entry_id=entry.id if created else None)


def remove_block(session: Session, entry_id: int | None) -> None:
    """Take back a block entry an undone spam-and-block added (gone already: nothing to do)."""
    if entry_id is not None and session.get(ListEntry, entry_id) is not None:
        remove_entry(session, entry_id)
