"""Moderator notifications and the one-click links in them.

When a comment needs a moderator (``[mail] notify = "held"``: it is pending) or on every new comment
(``"all"``), one mail per address in ``[mail] moderators`` is queued through the outbox, in the same
unit of work as the comment: it goes out only after the commit, from the job worker, and an SMTP
outage means retries with back-off, never a lost mail.

Each mail carries links to approve, mark as spam or delete the comment. A link is a token signed for
the ``moderate-link`` purpose and bound to one comment, one action, the status the comment had when
the mail was written, and the mail's nonce. Opening a link only shows a confirmation page (mail
scanners prefetch links); the confirming POST spends the nonce, so the links of one mail work once,
and a link whose comment was moderated in the meantime refuses to act (the moderator decides anew
with the current facts, on the dashboard).

With ``[mail] notify = "digest"`` no mail is queued per comment: the job worker's periodic
`check_digest` queues one mail per moderator address every ``[mail] digest_minutes``, listing the
comments held since the last digest, each with links of its own (one nonce per comment, so acting
on one leaves the others' links working). Every mail goes out through `mailing.deliver` (the
suppression list, permanent refusals).

Moderators per site: an address of ``[mail] moderators`` that is the e-mail of a moderator account
hears only of what that account may moderate (`address_scopes`): a moderator with listed sites
gets mails and digest entries about those sites' comments only (no digest when none of theirs was
held), and their links refuse a comment of another site as if it did not exist. A deactivated
account's address gets nothing, and its links are refused: they could not act for anyone.
Addresses of no account, admins' and those of moderators with no listed site hear of everything.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import jinja2
from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from moderation import markup
from moderation.config import Settings
from moderation.domain.inputs import one_line
from moderation.domain.states import Action, CommentStatus, allowed_actions
from moderation.errors import InvalidTransition, NotFound, TokenInvalid
from moderation.models import (
    Comment,
    JobMark,
    ModerationEvent,
    Moderator,
    ModeratorSite,
    Role,
    Thread,
    UsedToken,
)
from moderation.services import Context, outbox
from moderation.services.mailing import deliver
from moderation.services.mailing import send as send  # where it used to live: still importable
from moderation.services.moderation import AUTHOR, SYSTEM, Actor, apply_action
from moderation.services.tokens import MODERATE_LINK
from moderation.storage.db import Database

log = logging.getLogger(__name__)

NEW = "new"  # a new comment or linkback was stored
EDITED = "edited"  # its author's edit sent an approved comment back to the queue
LINK_ACTIONS = (Action.approve, Action.spam, Action.delete)
ACTION_LABELS = {Action.approve: "Approve", Action.spam: "Mark as spam", Action.delete: "Delete"}
TOP_SIGNALS = 5
NOT_A_MODERATOR = "this link was sent to an address that is no longer a moderator's"
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "mail"


class LinkUsed(TokenInvalid):
    """The links of this mail were already used once."""

    code = "link_used"


def install(ctx: Context) -> Context:
    """`ctx` queueing moderator mails for new comments, and for comments an edit sent back to the
    queue."""
    return replace(
        ctx,
        submission_hooks=(*ctx.submission_hooks, queue_new_comment_mails),
        transition_hooks=(*ctx.transition_hooks, queue_held_again_mails),
    )


# --- who hears of what -------------------------------------------------------------------------


def recipients(settings: Settings) -> list[str]:
    """The configured moderator addresses, each once (compared without case)."""
    seen: dict[str, str] = {}
    for address in settings.mail.moderators:
        address = address.strip()
        if address:
            seen.setdefault(address.lower(), address)
    return list(seen.values())


# An address's sites: None for every site, an empty set for none (a deactivated account).
Scope = frozenset[str] | None


def address_scopes(session: Session, addresses: list[str]) -> dict[str, Scope]:
    """The scope of each address that is a moderator account's e-mail (keyed by the lowercased
    address), in one query for all of them; an address of no account is absent (every site).

    As `accounts.sites_of`: admins, and moderators with no listed site, moderate every site; a
    deactivated account moderates none, so its address hears of nothing.
    """
    if not addresses:
        return {}
    rows = session.execute(
        select(func.lower(Moderator.email), Moderator.role, Moderator.active, ModeratorSite.site)
        .outerjoin(ModeratorSite, ModeratorSite.moderator_id == Moderator.id)
        .where(func.lower(Moderator.email).in_(sorted({a.lower() for a in addresses})))
    )
    listed: dict[str, set[str]] = {}
    everything: set[str] = set()
    for address, role, active, site in rows:
        listed.setdefault(address, set())
        if not active:
            continue
        if role is Role.admin or site is None:
            everything.add(address)
        else:
            listed[address].add(site)
    return {a: None if a in everything else frozenset(sites) for a, sites in listed.items()}


def reaches(scopes: dict[str, Scope], address: str, site: str) -> bool:
    """Whether mail about a comment on `site` goes to `address` (`address_scopes`)."""
    scope = scopes.get(address.lower())
    return scope is None or site in scope


def wants_mail(settings: Settings, comment: Comment) -> bool:
    """Whether a new comment is worth a mail under ``[mail] notify``.

    "held" means waiting for a moderator (pending); spam is not mailed, or every spam wave would
    become a mail wave. "all" is every new comment except Akismet's discards and honeypot hits.
    """
    notify = settings.mail.notify
    if notify in ("none", "digest") or comment.discarded:  # a digest lists it later
        return False
    return notify == "all" or comment.status is CommentStatus.pending


def queue_mails(session: Session, ctx: Context, comment: Comment, event: str) -> None:
    """One outbox entry per moderator address that may moderate the comment's site, sent after
    the commit."""
    addresses = recipients(ctx.settings)
    scopes = address_scopes(session, addresses)
    # A new submission's row is not in `session` (prepared INSERTs): its thread is looked up, and
    # only when some address is scoped to sites.
    scoped = any(scope is not None for scope in scopes.values())
    site = session.get_one(Thread, comment.thread_id).site if scoped else ""
    for address in addresses:
        if not reaches(scopes, address, site):
            continue
        payload = {
            "comment_id": comment.id,
            "to": address,
            "event": event,
            "status": comment.status.value,
            # One nonce per mail: its links share it, so whichever is used first spends them all.
            "nonce": secrets.token_urlsafe(16),
        }
        outbox.enqueue(session, ctx, "mail", payload)


def queue_new_comment_mails(
    session: Session, ctx: Context, comment: Comment, check: Any, assessment: Any
) -> None:
    """Submission hook: mail the moderators about a new comment, as ``[mail] notify`` says."""
    if wants_mail(ctx.settings, comment):
        queue_mails(session, ctx, comment, NEW)


def queue_held_again_mails(
    session: Session, ctx: Context, comment: Comment, event: ModerationEvent
) -> None:
    """Transition hook: a published comment that its author's edit sent back to the queue.

    A moderator who holds a comment themself needs no mail about it; with a digest, the next one
    lists it.
    """
    if (
        ctx.settings.mail.notify in ("none", "digest")
        or comment.status is not CommentStatus.pending
    ):
        return
    if event.action == Action.hold.value and event.actor in (SYSTEM.label, AUTHOR.label):
        queue_mails(session, ctx, comment, EDITED)


# --- the mail ------------------------------------------------------------------------------------


@outbox.handler("mail", mail=True)
def send_notification(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Write and send one moderator mail; raise (so the outbox retries later) when SMTP fails.

    A mail about a comment that has been moderated (or purged) since is not sent: its links could
    no longer act, and the moderators have already decided.
    """
    with database.read() as session:
        comment = session.get(Comment, payload["comment_id"])
        if comment is None or comment.status.value != payload["status"]:
            log.info(
                "mail about comment %s not sent: it was moderated since", payload["comment_id"]
            )
            return
        to = payload["to"]
        if to.lower() not in {a.lower() for a in recipients(ctx.settings)}:
            log.info("mail to %s not sent: no longer a moderator address", to)
            return
        if not reaches(address_scopes(session, [to]), to, comment.thread.site):
            log.info("mail to %s not sent: not a moderator of %s", to, comment.thread.site)
            return
        message = build_message(ctx, comment, payload)
    deliver(database, ctx, message, payload["to"])


def build_message(ctx: Context, comment: Comment, payload: dict[str, Any]) -> EmailMessage:
    """The mail for one moderator: plain text plus an HTML alternative, links included."""
    data = mail_data(ctx, comment, payload)
    message = EmailMessage()
    message["Subject"] = data["subject"]
    message["From"] = ctx.settings.mail.sender
    message["To"] = payload["to"]
    message["Date"] = email.utils.format_datetime(ctx.clock())
    # Stable across retries, so a mail that went out twice is still one mail to a client.
    message["Message-ID"] = f"<moderation.{payload['nonce']}@{mail_domain(ctx.settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    set_bodies(message, "comment", data)
    return message


def mail_data(ctx: Context, comment: Comment, payload: dict[str, Any]) -> dict[str, Any]:
    """What the mail templates show."""
    settings = ctx.settings
    thread = comment.thread
    site = settings.sites.get(thread.site)
    check = comment.checks[-1] if comment.checks else None
    public_url = settings.server.public_url.rstrip("/")
    return {
        "subject": subject(settings, comment, payload["event"]),
        "site": site.title if site and site.title else thread.site,
        "page_url": site.page_url(thread.uri) if site else thread.uri,
        "thread_title": thread.title,
        "comment": comment,
        "event": payload["event"],
        "verdict": check.verdict.value if check else "",
        "score": round(check.score, 2) if check else None,
        "recheck_reason": comment.recheck_reason,
        "signals": top_signals(check.signals if check else []),
        "links": action_links(ctx, comment, payload),
        "expires": ctx.clock() + timedelta(days=settings.mail.link_max_age_days),
        "queue_url": f"{public_url}/moderate/",
        "comment_url": f"{public_url}/moderate/comments/{comment.id}",
    }


def subject(settings: Settings, comment: Comment, event: str) -> str:
    """``[blog] New comment awaiting moderation on /2010/07/co-production/``."""
    site = settings.sites.get(comment.thread.site)
    label = site.title if site and site.title else comment.thread.site
    what = "Edited" if event == EDITED else "New"
    how = {
        CommentStatus.pending: " awaiting moderation",
        CommentStatus.spam: " marked as spam",
    }.get(comment.status, "")
    uri = _one_line(comment.thread.uri, 120)
    return f"[{_one_line(label, 60)}] {what} {comment.kind.value}{how} on {uri}"


def top_signals(signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The signals that weighed most: deciding ones first, then by the size of their score."""
    ranked = sorted(
        signals,
        key=lambda s: (s.get("verdict") is not None, abs(s.get("score") or 0)),
        reverse=True,
    )
    return [s for s in ranked if s.get("verdict") or s.get("score")][:TOP_SIGNALS]


def action_links(ctx: Context, comment: Comment, payload: dict[str, Any]) -> list[dict[str, str]]:
    """The one-click links that apply to the comment's status, labelled, in a fixed order."""
    applicable = allowed_actions(comment.status)
    public_url = ctx.settings.server.public_url.rstrip("/")
    links = []
    for action in LINK_ACTIONS:
        if action in applicable:
            token = sign_link(ctx, comment.id, action, payload)
            links.append(
                {
                    "action": action.value,
                    "label": ACTION_LABELS[action],
                    "url": f"{public_url}/moderate/act/{token}",
                }
            )
    return links


def sign_link(ctx: Context, comment_id: int, action: Action, payload: dict[str, Any]) -> str:
    """A ``moderate-link`` token for one comment, one action, one mail."""
    return ctx.tokens.sign(
        MODERATE_LINK,
        {
            "c": comment_id,
            "a": action.value,
            "n": payload["nonce"],
            "s": payload["status"],
            "r": payload["to"],
        },
    )


def mail_domain(settings: Settings) -> str:
    """The domain for Message-IDs: the sender's, else the service's host."""
    address = email.utils.parseaddr(settings.mail.sender)[1]
    if "@" in address:
        return address.rpartition("@")[2]
    return settings.server.public_url.split("//", 1)[-1].split("/", 1)[0] or "localhost"


def _one_line(text: str, limit: int) -> str:
    """`text` safe for a header: no line breaks or control characters, at most `limit` chars."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _one_line_value(value: Any) -> Any:
    """Every ``{{ … }}`` of the plain-text mail on one line: a stored author, website or text line
    with a line break (or any other control character) in it could otherwise start a line of its
    own, such as a forged "Approve:" link. Rows stored before the input rules (`domain.inputs`)
    may hold them. The template writes the comment's text line by line (``splitlines``), so its
    own line breaks are kept."""
    return one_line(value) if isinstance(value, str) else value


def set_bodies(message: EmailMessage, name: str, data: dict[str, Any]) -> None:
    """Give `message` its plain-text body (template ``name.txt``, every value on one line) and
    its HTML alternative (``name.html``, autoescaped): every mail the service sends is made so."""
    message.set_content(_text_templates().get_template(f"{name}.txt").render(data))
    message.add_alternative(_templates().get_template(f"{name}.html").render(data), subtype="html")


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["sanitized"] = markup.sanitized
    return env


@functools.cache
def _text_templates() -> jinja2.Environment:
    """The plain-text mail's environment: `_one_line_value` on every value it writes."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_one_line_value,
    )


# --- the moderators' digest ----------------------------------------------------------------------

DIGEST = "digest"  # the outbox kind of one digest mail
DIGEST_MARK = "digest"  # its `JobMark`: when the last digest was queued, shared by every worker
DIGEST_LIMIT = 50  # comments listed in one digest; it says how many more are waiting


def held_between(session: Session, since: datetime, until: datetime) -> list[tuple[int, str]]:
    """Ids and sites of the comments held (pending) in (`since`, `until`]: new ones, and those an
    edit or a re-check sent back to the queue (a moderator who held one needs no mail), the oldest
    first."""
    sent_back = (
        select(ModerationEvent.comment_id)
        .where(
            ModerationEvent.action == Action.hold.value,
            ModerationEvent.actor.in_((SYSTEM.label, AUTHOR.label)),
            ModerationEvent.to_status == CommentStatus.pending,
            ModerationEvent.created_at > since,
            ModerationEvent.created_at <= until,
        )
        .scalar_subquery()
    )
    query = (
        select(Comment.id, Thread.site)
        .join(Thread, Comment.thread_id == Thread.id)
        .where(
            Comment.status == CommentStatus.pending,
            Comment.discarded.is_(False),
            or_(
                (Comment.created_at > since) & (Comment.created_at <= until),
                Comment.id.in_(sent_back),
            ),
        )
        .order_by(Comment.created_at, Comment.id)
    )
    return [(comment_id, site) for comment_id, site in session.execute(query)]


def check_digest(database: Database, ctx: Context) -> int:
    """Queue the digest when ``[mail] notify = "digest"`` and ``digest_minutes`` have passed since
    the last one. Returns how many mails were queued (none when nothing was held).

    The job worker calls it every minute, on every node. The mark moves forward with a
    compare-and-set in the same write as the digest's outbox entries, so of several workers
    exactly one queues it, and a rolled-back write leaves the mark where it was.
    """
    mail = ctx.settings.mail
    if mail.notify != "digest":
        return 0
    now = ctx.clock()
    every = timedelta(minutes=mail.digest_minutes)
    with database.read() as session:  # the cheap look, without the write lock, every minute
        last = session.scalar(select(JobMark.at).where(JobMark.name == DIGEST_MARK))
    if last is not None and now - last < every:
        return 0
    with database.write() as tx:
        last = tx.scalar(select(JobMark.at).where(JobMark.name == DIGEST_MARK))
        if last is None:  # the first digest covers the last period
            since = now - every
            try:
                with tx.begin_nested():
                    tx.add(JobMark(name=DIGEST_MARK, at=now))
            except IntegrityError:  # another worker made the mark just now: it sends this one
                return 0
        else:
            if now - last < every:
                return 0
            since = last
            moved = cast(
                CursorResult[Any],
                tx.execute(
                    update(JobMark)
                    .where(JobMark.name == DIGEST_MARK, JobMark.at == last)
                    .values(at=now)
                    .execution_options(synchronize_session=False)
                ),
            )
            if moved.rowcount != 1:
                return 0
        return queue_digest(tx, ctx, since, now)


def queue_digest(session: Session, ctx: Context, since: datetime, until: datetime) -> int:
    """One digest entry per moderator address for the comments held in (`since`, `until`] on
    the sites it may moderate, in the caller's write; none for an address none of whose comments
    were held. Returns how many."""
    held = held_between(session, since, until)
    if not held:
        return 0
    addresses = recipients(ctx.settings)
    scopes = address_scopes(session, addresses)
    queued = 0
    for address in addresses:
        theirs = [comment_id for comment_id, site in held if reaches(scopes, address, site)]
        if not theirs:
            continue
        listed = theirs[:DIGEST_LIMIT]
        payload = {
            "to": address,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "comment_ids": listed,
            "total": len(theirs),
            "nonce": secrets.token_urlsafe(16),  # the mail's Message-ID
            # One nonce per comment: using one comment's links leaves the others' working.
            "nonces": {str(comment_id): secrets.token_urlsafe(16) for comment_id in listed},
        }
        outbox.enqueue(session, ctx, DIGEST, payload)
        queued += 1
    log.info("digest of %d held comments queued for %d addresses", len(held), queued)
    return queued


@outbox.handler(DIGEST, mail=True)
def send_digest(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Write and send one digest; raise (so the outbox retries) when SMTP fails. Comments
    moderated (or purged) since the digest was queued are left out, and so are those of sites the
    address's account no longer moderates; when none is left, or the address is no longer a
    moderator's, nothing is sent."""
    to = payload["to"]
    if to.lower() not in {a.lower() for a in recipients(ctx.settings)}:
        log.info("digest to %s not sent: no longer a moderator address", to)
        return
    with database.read() as session:
        found = session.scalars(
            select(Comment)
            .where(Comment.id.in_(payload["comment_ids"]))
            .options(joinedload(Comment.thread), selectinload(Comment.checks))
            .order_by(Comment.created_at, Comment.id)
        ).all()
        scopes = address_scopes(session, [to])
        dropped = {c.id for c in found if not reaches(scopes, to, c.thread.site)}
        if dropped:  # their sites changed since it was queued: as if those were never held
            kept = [i for i in payload["comment_ids"] if i not in dropped]
            total = int(payload["total"]) - len(dropped)
            payload = {**payload, "comment_ids": kept, "total": total}
        waiting = [c for c in found if c.status is CommentStatus.pending and c.id not in dropped]
        if not waiting:
            log.info("digest to %s not sent: none of its comments is waiting for them", to)
            return
        message = build_digest(ctx, waiting, payload)
    deliver(database, ctx, message, to)


def build_digest(ctx: Context, waiting: list[Comment], payload: dict[str, Any]) -> EmailMessage:
    """The digest for one moderator: plain text plus an HTML alternative, links per comment."""
    settings = ctx.settings
    public_url = settings.server.public_url.rstrip("/")
    items = []
    for comment in waiting:
        site = settings.sites.get(comment.thread.site)
        check = comment.checks[-1] if comment.checks else None
        link_payload = {
            "nonce": payload["nonces"][str(comment.id)],
            "status": CommentStatus.pending.value,
            "to": payload["to"],
        }
        items.append(
            {
                "comment": comment,
                "site": site.title if site and site.title else comment.thread.site,
                "page_url": site.page_url(comment.thread.uri) if site else comment.thread.uri,
                "thread_title": comment.thread.title,
                "verdict": check.verdict.value if check else "",
                "score": round(check.score, 2) if check else None,
                "links": action_links(ctx, comment, link_payload),
                "comment_url": f"{public_url}/moderate/comments/{comment.id}",
            }
        )
    listed = len(payload["comment_ids"])
    sites = {str(item["site"]) for item in items}
    label = f"[{_one_line(next(iter(sites)), 60)}] " if len(sites) == 1 else ""
    count = int(payload["total"])
    data = {
        "subject": f"{label}{count} comment{'' if count == 1 else 's'} awaiting moderation",
        "items": items,
        "total": count,
        "more": count - listed,
        "moderated": listed - len(items),
        "since": datetime.fromisoformat(payload["since"]),
        "expires": ctx.clock() + timedelta(days=settings.mail.link_max_age_days),
        "queue_url": f"{public_url}/moderate/",
    }
    message = EmailMessage()
    message["Subject"] = data["subject"]
    message["From"] = settings.mail.sender
    message["To"] = payload["to"]
    message["Date"] = email.utils.format_datetime(ctx.clock())
    message["Message-ID"] = f"<moderation.digest.{payload['nonce']}@{mail_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    set_bodies(message, "digest", data)
    return message


# --- following a link ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """What a genuine one-click link asks for."""

    comment_id: int
    action: Action
    nonce: str
    status: CommentStatus
    recipient: str


def read_link(ctx: Context, token: str) -> Link:
    """The claim of a genuine, unexpired link from a current moderator's mail.

    Raises `TokenExpired`, or `TokenInvalid` when tampered with, signed for another purpose or
    malformed, or when its recipient is no longer in ``[mail] moderators``.
    """
    data = ctx.tokens.load(MODERATE_LINK, token)
    try:
        link = Link(
            comment_id=int(data["c"]),
            action=Action(data["a"]),
            nonce=str(data["n"]),
            status=CommentStatus(data["s"]),
            recipient=str(data["r"]),
        )
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid("this link is not valid") from None
    if link.action not in LINK_ACTIONS:
        raise TokenInvalid("this link is not valid")
    if link.recipient.lower() not in {a.lower() for a in recipients(ctx.settings)}:
        raise TokenInvalid(NOT_A_MODERATOR)
    return link


def check_link(session: Session, ctx: Context, token: str) -> tuple[Link, Comment]:
    """The link and its comment, when the link can still act. Reads only (a GET may call it).

    Raises what `read_link` raises, `NotFound` (the comment is gone, or the recipient's account
    may no longer moderate its site: as on the dashboard, another site's comment does not exist
    for them), `TokenInvalid` (the recipient's account was deactivated), `LinkUsed`, and
    `InvalidTransition` when the comment was moderated since the mail was written.
    """
    link = read_link(ctx, token)
    comment = session.get(Comment, link.comment_id)
    if comment is None:
        raise NotFound("this comment no longer exists")
    scopes = address_scopes(session, [link.recipient])
    if scopes.get(link.recipient.lower()) == frozenset():
        raise TokenInvalid(NOT_A_MODERATOR)
    if not reaches(scopes, link.recipient, comment.thread.site):
        raise NotFound("this comment no longer exists")
    if session.get(UsedToken, link.nonce) is not None:
        raise LinkUsed("the links in this mail were already used")
    if comment.status is not link.status:
        raise InvalidTransition(
            f"this comment was moderated since the mail was sent: it is now {comment.status.value}"
        )
    return link, comment


def act_on_link(session: Session, ctx: Context, token: str) -> tuple[Link, Comment]:
    """Carry out a confirmed link: spend its mail's nonce, then apply its action.

    Raises what `check_link` raises; of two clicks racing on the same mail, one acts and the other
    gets `LinkUsed`.
    """
    link, comment = check_link(session, ctx, token)
    spend(session, ctx, link.nonce)
    actor = link_actor(session, link.recipient)
    apply_action(session, ctx, comment, link.action, actor, "one-click link in a notification mail")
    return link, comment


def spend(session: Session, ctx: Context, nonce: str) -> None:
    """Record `nonce` as used; raise `LinkUsed` when it already was (the primary key decides)."""
    try:
        with session.begin_nested():
            session.add(UsedToken(nonce=nonce, used_at=ctx.clock()))
    except IntegrityError:
        raise LinkUsed("the links in this mail were already used") from None


def purge_used_tokens(database: Database, ctx: Context) -> int:
    """Forget spent nonces whose links can no longer work anyway.

    A mail's links expire `link_max_age_days` (a subscription's confirmation link
    ``[notify] confirm_max_age_days``) after it was written, and a nonce is spent after its
    mail was written, so a nonce spent longer ago than that (plus a day, for clocks that disagree)
    guards nothing. Returns how many were removed."""
    longest = max(ctx.settings.mail.link_max_age_days, ctx.settings.notify.confirm_max_age_days)
    cutoff = ctx.clock() - timedelta(days=longest + 1)
    with database.write() as session:
        removed = cast(
            CursorResult[Any], session.execute(delete(UsedToken).where(UsedToken.used_at < cutoff))
        ).rowcount
    if removed:
        log.info("forgot %d spent e-mail link nonces", removed)
    return int(removed or 0)


def link_actor(session: Session, recipient: str) -> Actor:
    """``email-link:<address>``, tied to the moderator account with that address when there is one
    (so the decision counts as a moderator's, and teaches the classifier)."""
    moderator_id = session.scalar(
        select(Moderator.id).where(
            func.lower(Moderator.email) == recipient.lower(), Moderator.active
        )
    )
    return Actor(f"email-link:{recipient}", moderator_id)
