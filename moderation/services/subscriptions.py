"""Readers' reply notifications and page subscriptions, by e-mail, double opt-in.

A reader asks with a comment (``"notify": "replies"`` for replies to it, ``"thread"`` for every
new comment on the page) or without one (`request_subscription`). Nothing is mailed because of a
comment until that comment is approved: a held or spam comment that names somebody else's address
mails no one. The first mail for an unconfirmed subscription is a confirmation (a signed,
single-use, expiring link; its page's POST confirms, since mail scanners fetch links); an address
that has confirmed a subscription on a site is trusted for its next ones there.

When a comment becomes approved (at once, or later by a moderator), `notify_approved` records one
`Delivery` per confirmed subscriber it concerns (the author of the comment it replies to, the
page's subscribers; never its own author, never a suppressed address, never twice for one comment)
and queues the subscription's outbox entry. The entry's handler mails every delivery waiting for
that subscription in one mail, at most once per ``[notify] min_interval_minutes`` (`outbox.Later`
reschedules it), and skips comments that are no longer approved. Mails carry RFC 8058 one-click
unsubscribe headers and thread per page in mail clients.
"""

from __future__ import annotations

import email.utils
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from moderation.domain.states import CommentKind, CommentStatus
from moderation.errors import NotFound, TokenInvalid
from moderation.models import (
    Comment,
    Delivery,
    ModerationEvent,
    SpamCheck,
    Subscription,
    SubscriptionMode,
    SuppressedAddress,
    Thread,
)
from moderation.services import Context, outbox
from moderation.services.tokens import SUBSCRIPTION_CONFIRM, UNSUBSCRIBE
from moderation.storage.db import Database
from moderation.storage.prepared import Prepared

log = logging.getLogger(__name__)

CONFIRM_MAIL = "subscription_confirm"  # outbox kinds
NOTIFY_MAIL = "notify"
MODES = ("none", "replies", "thread")
MAX_PER_MAIL = 20  # comments shown in one notification (the rest are counted, with a link)


def install(ctx: Context) -> Context:
    """`ctx` mailing subscribers when comments are approved."""
    return replace(
        ctx,
        submission_hooks=(*ctx.submission_hooks, on_submission),
        transition_hooks=(*ctx.transition_hooks, on_transition),
    )


# --- asking ------------------------------------------------------------------------------------


def subscribe_with_comment(
    tx: Session, ctx: Context, comment: Comment, mode: str, *, verified: bool = False
) -> None:
    """The subscription a new comment asked for (inside the write that stored it). Its
    confirmation waits for the comment's approval; an address already confirmed on the site
    needs none, nor does one a signed-in reader's provider `verified`."""
    if mode == "none" or not comment.email:
        return
    sub = _subscribe(
        tx,
        ctx,
        comment.thread_id,
        comment.email,
        SubscriptionMode(mode),
        comment_id=comment.id if mode == "replies" else None,
        via_comment_id=comment.id,
    )
    if sub.confirmed_at is None and verified:
        sub.confirmed_at = ctx.clock()
    if sub.confirmed_at is None and comment.status is CommentStatus.approved:
        queue_confirmation(tx, ctx, sub)


def request_subscription(
    tx: Session, ctx: Context, site: str, uri: str, email_address: str
) -> bool:
    """A page subscription asked for without a comment (the thread is made when needed). Queues
    a confirmation unless the subscription is confirmed; returns whether a mail was queued. The
    caller answers the same whatever happens (the answer must not tell whether an address is
    known), and rate-limits the requests."""
    from moderation.services.comments import get_or_create_thread

    thread = get_or_create_thread(tx, ctx, site, uri, "")
    sub = _subscribe(tx, ctx, thread.id, email_address, SubscriptionMode.thread)
    if sub.confirmed_at is not None:
        return False
    queue_confirmation(tx, ctx, sub)
    return True


def _subscribe(
    tx: Session,
    ctx: Context,
    thread_id: int,
    email_address: str,
    mode: SubscriptionMode,
    *,
    comment_id: int | None = None,
    via_comment_id: int | None = None,
) -> Subscription:
    address = email_address.strip().lower()
    found = tx.scalars(
        select(Subscription).where(
            Subscription.thread_id == thread_id,
            Subscription.email == address,
            Subscription.mode == mode,
            Subscription.comment_id.is_(None)
            if comment_id is None
            else Subscription.comment_id == comment_id,
        )
    ).first()
    if found is not None:
        return found
    now = ctx.clock()
    sub = Subscription(
        thread_id=thread_id,
        email=address,
        mode=mode,
        comment_id=comment_id,
        via_comment_id=via_comment_id,
        created_at=now,
        confirmed_at=now if _confirmed_on_site(tx, thread_id, address) else None,
    )
    tx.add(sub)
    tx.flush()
    return sub


def _confirmed_on_site(session: Session, thread_id: int, address: str) -> bool:
    """Whether `address` has a confirmed subscription on the site of `thread_id`."""
    site = select(Thread.site).where(Thread.id == thread_id).scalar_subquery()
    return bool(
        session.scalar(
            select(
                exists().where(
                    Subscription.email == address,
                    Subscription.confirmed_at.is_not(None),
                    Subscription.thread_id == Thread.id,
                    Thread.site == site,
                )
            )
        )
    )


def queue_confirmation(tx: Session, ctx: Context, sub: Subscription) -> None:
    """Queue the confirmation mail (sent after the commit)."""
    sub.confirm_sent_at = ctx.clock()
    nonce = secrets.token_urlsafe(16)
    outbox.enqueue(tx, ctx, CONFIRM_MAIL, {"subscription_id": sub.id, "nonce": nonce})


# --- approval: who hears of it ------------------------------------------------------------------


def on_submission(
    session: Session, ctx: Context, comment: Comment, check: SpamCheck, assessment: Any
) -> None:
    """Submission hook: a comment published at once is mailed to its subscribers."""
    if comment.status is CommentStatus.approved:
        notify_approved(session, ctx, comment)


def on_transition(session: Session, ctx: Context, comment: Comment, event: ModerationEvent) -> None:
    """Transition hook: a comment a moderator approved is mailed to its subscribers, and the
    subscriptions it asked for get their confirmation mail."""
    if comment.status is not CommentStatus.approved:
        return
    waiting = session.scalars(
        select(Subscription).where(
            Subscription.via_comment_id == comment.id,
            Subscription.confirmed_at.is_(None),
            Subscription.confirm_sent_at.is_(None),
        )
    ).all()
    for sub in waiting:
        queue_confirmation(session, ctx, sub)
    notify_approved(session, ctx, comment)


# Most pages have no subscriber: one prepared, indexed look first, so that a post on such a page
# (every post the policy publishes at once runs this) costs a few microseconds, not an ORM query.
_subs = cast(Table, Subscription.__table__)
_ANY_CONCERNED = Prepared(
    select(_subs.c.id)
    .where(
        or_(
            (_subs.c.thread_id == bindparam("thread")) & (_subs.c.mode == SubscriptionMode.thread),
            (_subs.c.comment_id == bindparam("parent"))
            & (_subs.c.mode == SubscriptionMode.replies),
        ),
        _subs.c.confirmed_at.is_not(None),
    )
    .limit(1)
)


def notify_approved(tx: Session, ctx: Context, comment: Comment) -> int:
    """Record the deliveries of a just-approved comment and queue their mails; how many."""
    if comment.kind is not CommentKind.comment:
        return 0
    parent = comment.parent_id if comment.parent_id is not None else -1
    if _ANY_CONCERNED.first(tx, {"thread": comment.thread_id, "parent": parent}) is None:
        return 0
    page = (Subscription.mode == SubscriptionMode.thread) & (
        Subscription.thread_id == comment.thread_id
    )
    concerned: ColumnElement[bool] = page
    if comment.parent_id is not None:
        reply = (Subscription.mode == SubscriptionMode.replies) & (
            Subscription.comment_id == comment.parent_id
        )
        concerned = or_(page, reply)
    own = (comment.email or "").lower()
    rows = tx.execute(
        select(Subscription.id, Subscription.email, Subscription.mode)
        .where(
            concerned,
            Subscription.confirmed_at.is_not(None),
            Subscription.email != own,
            ~exists().where(SuppressedAddress.email == Subscription.email),
            ~exists().where(
                Delivery.comment_id == comment.id, Delivery.email == Subscription.email
            ),
        )
        .order_by(Subscription.id)
    ).all()
    if not rows:
        return 0
    chosen: dict[str, int] = {}  # one subscription per address; a reply beats the page
    for sub_id, address, mode in rows:
        if address not in chosen or mode is SubscriptionMode.replies:
            chosen[address] = sub_id
    now = ctx.clock()
    for address, sub_id in chosen.items():
        waiting = tx.scalar(
            select(exists().where(Delivery.subscription_id == sub_id, Delivery.sent_at.is_(None)))
        )
        tx.add(
            Delivery(subscription_id=sub_id, comment_id=comment.id, email=address, created_at=now)
        )
        if not waiting:  # else its entry is queued already and will take this one too
            outbox.enqueue(tx, ctx, NOTIFY_MAIL, {"subscription_id": sub_id})
    tx.flush()
    return len(chosen)


# --- the mails ---------------------------------------------------------------------------------


@outbox.handler(CONFIRM_MAIL, mail=True)
def send_confirmation(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Write and send a confirmation mail (nothing when the subscription is gone or confirmed)."""
    from moderation.services import mailing, reader_mail

    with database.read() as session:
        sub = session.get(Subscription, payload["subscription_id"])
        if sub is None or sub.confirmed_at is not None:
            return
        token = ctx.tokens.sign(
            SUBSCRIPTION_CONFIRM, {"s": sub.id, "e": sub.email, "n": payload["nonce"]}
        )
        message = reader_mail.confirmation_message(ctx, sub, _url(ctx, "confirm", token))
        to = sub.email
    mailing.deliver(database, ctx, message, to)


@outbox.handler(NOTIFY_MAIL, mail=True)
def send_notifications(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Mail the deliveries waiting for one subscription, in one mail, at most once per
    ``[notify] min_interval_minutes``."""
    from moderation.services import mailing, reader_mail

    now = ctx.clock()
    with database.read() as session:
        sub = session.get(Subscription, payload["subscription_id"])
        if sub is None:
            return
        interval = timedelta(minutes=ctx.settings.notify.min_interval_minutes)
        if sub.last_sent_at is not None and now < sub.last_sent_at + interval:
            raise outbox.Later(sub.last_sent_at + interval)
        waiting = session.execute(
            select(Delivery.id, Comment)
            .join(Comment, Comment.id == Delivery.comment_id)
            .where(Delivery.subscription_id == sub.id, Delivery.sent_at.is_(None))
            .order_by(Comment.created_at, Comment.id)
        ).all()
        shown = [(d, c) for d, c in waiting if c.status is CommentStatus.approved]
        dropped = [d for d, c in waiting if c.status is not CommentStatus.approved]
        message = None
        if shown:
            unsubscribe = ctx.tokens.sign(
                UNSUBSCRIBE, {"s": sub.id, "e": sub.email, "w": sub.thread.site}
            )
            message = reader_mail.notification_message(
                ctx,
                sub,
                [c for _, c in shown],
                unsubscribe_url=_url(ctx, "unsubscribe", unsubscribe),
                first_delivery=shown[0][0],
            )
        to = sub.email
    if message is not None:
        mailing.deliver(database, ctx, message, to)  # False (suppressed): not retried either
    with database.write() as tx:
        if dropped:  # no longer approved: not mailed now (a new approval may queue it again)
            tx.execute(delete(Delivery).where(Delivery.id.in_(dropped)))
        if shown:
            tx.execute(
                update(Delivery).where(Delivery.id.in_([d for d, _ in shown])).values(sent_at=now)
            )
            tx.execute(
                update(Subscription).where(Subscription.id == sub.id).values(last_sent_at=now)
            )
        later = tx.scalar(
            select(exists().where(Delivery.subscription_id == sub.id, Delivery.sent_at.is_(None)))
        )
        if later:  # approved while this mail was written: the next mail takes them
            outbox.enqueue(tx, ctx, NOTIFY_MAIL, {"subscription_id": sub.id})


def _url(ctx: Context, kind: str, token: str) -> str:
    return f"{ctx.settings.server.public_url.rstrip('/')}/subscriptions/{kind}/{token}"


def mail_domain(ctx: Context) -> str:
    """The domain of Message-IDs (the sender's, else the service's host)."""
    from moderation.services.notify import mail_domain as domain

    return domain(ctx.settings)


def thread_message_id(ctx: Context, thread: Thread) -> str:
    """The Message-ID every notification about a page refers to, so that clients thread them."""
    return f"<thread.{thread.id}.{thread.site}@{mail_domain(ctx)}>"


def address_header(message: EmailMessage, to: str, ctx: Context) -> None:
    """From, To, Date and the automatic-mail headers every reader mail carries."""
    message["From"] = ctx.settings.mail.sender
    message["To"] = to
    message["Date"] = email.utils.format_datetime(ctx.clock())
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"


# --- the links ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    """What a genuine confirmation link asks for."""

    subscription: Subscription
    nonce: str


def check_confirmation(session: Session, ctx: Context, token: str) -> Confirmation:
    """The subscription a confirmation link is for; reads only (a GET may call it). Raises
    `TokenExpired`/`TokenInvalid`, `NotFound` (unsubscribed since), `LinkUsed`."""
    from moderation.models import UsedToken
    from moderation.services.notify import LinkUsed

    data = ctx.tokens.load(SUBSCRIPTION_CONFIRM, token)
    try:
        sub_id, address, nonce = int(data["s"]), str(data["e"]), str(data["n"])
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid("this link is not valid") from None
    sub = session.get(Subscription, sub_id)
    if sub is None or sub.email != address:
        raise NotFound("this subscription no longer exists")
    if session.get(UsedToken, nonce) is not None:
        raise LinkUsed("this link was already used")
    return Confirmation(sub, nonce)


def confirm(tx: Session, ctx: Context, token: str) -> Subscription:
    """Confirm the link's subscription (spends the link)."""
    from moderation.services.notify import spend

    found = check_confirmation(tx, ctx, token)
    spend(tx, ctx, found.nonce)
    if found.subscription.confirmed_at is None:
        found.subscription.confirmed_at = ctx.clock()
    return found.subscription


@dataclass(frozen=True)
class Unsubscribe:
    """What a genuine unsubscribe link names: the subscription (None once it is gone), its
    address and its site."""

    subscription: Subscription | None
    email: str
    site: str
    subscription_id: int


def check_unsubscribe(session: Session, ctx: Context, token: str) -> Unsubscribe:
    """Read an unsubscribe link; raises `TokenExpired`/`TokenInvalid`."""
    data = ctx.tokens.load(UNSUBSCRIBE, token)
    try:
        sub_id, address, site = int(data["s"]), str(data["e"]), str(data["w"])
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid("this link is not valid") from None
    sub = session.get(Subscription, sub_id)
    if sub is not None and sub.email != address:
        sub = None
    return Unsubscribe(sub, address, site, sub_id)


def unsubscribe(tx: Session, ctx: Context, token: str) -> bool:
    """End the link's subscription; False when it had already ended."""
    found = check_unsubscribe(tx, ctx, token)
    if found.subscription is None:
        return False
    tx.delete(found.subscription)
    return True


def subscriptions_of(session: Session, email_address: str, site: str) -> list[Subscription]:
    """Every subscription of an address on a site, page by page."""
    return list(
        session.scalars(
            select(Subscription)
            .join(Thread, Thread.id == Subscription.thread_id)
            .where(Subscription.email == email_address.strip().lower(), Thread.site == site)
            .order_by(Thread.uri, Subscription.id)
        )
    )


def unsubscribe_all(tx: Session, ctx: Context, token: str) -> int:
    """End every subscription of the link's address on its site; how many."""
    found = check_unsubscribe(tx, ctx, token)
    subs = subscriptions_of(tx, found.email, found.site)
    for sub in subs:
        tx.delete(sub)
    return len(subs)


def erase_address(session: Session, email_address: str) -> int:
    """Remove every subscription and delivery of an address (privacy erasure); how many
    subscriptions."""
    address = email_address.strip().lower()
    session.execute(delete(Delivery).where(Delivery.email == address))
    ids = list(session.scalars(select(Subscription.id).where(Subscription.email == address)))
    if ids:
        session.execute(delete(Subscription).where(Subscription.id.in_(ids)))
    return len(ids)


def export_address(session: Session, email_address: str) -> list[dict[str, Any]]:
    """An address's subscriptions as plain JSON values (privacy export)."""
    address = email_address.strip().lower()
    subs = session.scalars(
        select(Subscription).where(Subscription.email == address).order_by(Subscription.id)
    )
    return [
        {
            "site": s.thread.site,
            "uri": s.thread.uri,
            "mode": s.mode.value,
            "comment": s.comment_id,
            "created_at": s.created_at.isoformat(),
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            "last_sent_at": s.last_sent_at.isoformat() if s.last_sent_at else None,
        }
        for s in subs
    ]


def confirmations_sent_since(session: Session, email_address: str, since: datetime) -> int:
    """How many confirmation mails an address was sent since `since` (for rate limits)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Subscription.email == email_address.strip().lower(),
                Subscription.confirm_sent_at >= since,
            )
        )
        or 0
    )
