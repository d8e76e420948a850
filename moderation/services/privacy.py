"""Personal data: kept only as long as it is needed, handed over and erased on request.

Client IPs and user agents serve the flood and rate rules, the spam scorers and Akismet's feedback
(which wants the IP the comment came from), all within days of a post. After
``[privacy] ip_retention_days`` they are blanked, on the comment and in its spam checks' record of
the submission; the comment, its text and its verdicts stay. Run by the job worker's hourly purge.
"""

from __future__ import annotations

import email.utils
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from moderation.errors import TokenInvalid
from moderation.models import Comment, OutboxEntry, Reader, SpamCheck, UsedToken
from moderation.services import Context, mailing, notify, outbox, subscriptions
from moderation.services.tokens import PRIVACY_REQUEST
from moderation.storage.db import Database

log = logging.getLogger(__name__)

BATCH = 2000  # comments per write, so the write lock is never held long
CLIENT_KEYS = ("ip", "user_agent")


def blank_old_client_data(database: Database, ctx: Context) -> int:
    """Blank the IPs and user agents older than the retention; returns how many comments."""
    days = ctx.settings.privacy.ip_retention_days
    if days == 0:
        return 0
    cutoff = ctx.clock() - timedelta(days=days)
    done = 0
    while True:
        with database.write() as tx:
            ids = list(
                tx.scalars(
                    select(Comment.id)
                    .where(
                        Comment.created_at < cutoff,
                        or_(Comment.ip != "", Comment.user_agent != ""),
                    )
                    .order_by(Comment.id)
                    .limit(BATCH)
                )
            )
            if ids:
                tx.execute(update(Comment).where(Comment.id.in_(ids)).values(ip="", user_agent=""))
                for check in tx.scalars(select(SpamCheck).where(SpamCheck.comment_id.in_(ids))):
                    record = dict(check.submitted or {})
                    if any(record.get(key) for key in CLIENT_KEYS):
                        record.update(dict.fromkeys(CLIENT_KEYS, ""))
                        check.submitted = record
        done += len(ids)
        if len(ids) < BATCH:
            break
    if done:
        log.info("blanked the IPs and user agents of %d comments older than %d days", done, days)
    return done


# --- personal-data requests (GDPR articles 15, 17 and 20) ----------------------------------------

ANONYMOUS = ""  # an erased author shows as the widget's anonymous name
ERASED_KEYS = ("author", "email", "website", "ip", "user_agent", "referrer")


def comments_of(session: Session, email: str) -> list[Comment]:
    """Every comment written with `email` (case-insensitive, as it is stored lower-case)."""
    address = email.strip().lower()
    if not address:
        return []
    found = session.scalars(
        select(Comment).where(func.lower(Comment.email) == address).order_by(Comment.id)
    )
    return list(found)


def export_personal_data(session: Session, email: str) -> dict[str, Any]:
    """What the service holds about `email`, as plain JSON values (article 15 and 20)."""
    return {
        "email": email.strip().lower(),
        "comments": [
            {
                "id": c.id,
                "site": c.thread.site,
                "uri": c.thread.uri,
                "kind": c.kind.value,
                "status": c.status.value,
                "parent": c.parent_id,
                "author": c.author,
                "email": c.email,
                "website": c.website,
                "ip": c.ip,
                "user_agent": c.user_agent,
                "text": c.text,
                "created_at": c.created_at.isoformat(),
                "modified_at": c.modified_at.isoformat() if c.modified_at else None,
            }
            for c in comments_of(session, email)
        ],
        "subscriptions": subscriptions.export_address(session, email),
        "identities": [
            {
                "provider": r.provider,
                "subject": r.subject,
                "name": r.name,
                "email": r.email,
                "email_verified": r.email_verified,
                "avatar": r.avatar,
                "profile": r.profile,
                "created_at": r.created_at.isoformat(),
                "last_seen_at": r.last_seen_at.isoformat(),
            }
            for r in identities_of(session, email)
        ],
    }


def identities_of(session: Session, email: str) -> list[Reader]:
    """The signed-in identities whose address is `email`."""
    address = email.strip().lower()
    if not address:
        return []
    return list(
        session.scalars(
            select(Reader).where(func.lower(Reader.email) == address).order_by(Reader.id)
        )
    )


def erase_personal_data(session: Session, ctx: Context, email: str, *, delete: bool = False) -> int:
    """Anonymise every comment of `email` (name, e-mail, website, IP, user agent and referrer
    removed, also from its spam checks' records, and its classifier step kept for an undo is
    dropped; the text stays, by an anonymous author), or with `delete` also delete them (a
    comment with replies stays as their placeholder). Each comment gets an audit row that names no
    erased data. Thread versions are bumped, so caches and feeds show it at once. The address's
    subscriptions and their pending mails are removed, and a signed-in identity with that address
    loses its name, address, avatar and profile and is signed out everywhere. Returns how many
    comments were erased. Runs inside the caller's write."""
    from moderation.domain.states import Action, CommentStatus
    from moderation.services.moderation import SYSTEM, apply_action, bump_thread, record_event

    subscriptions.erase_address(session, email)
    for reader in identities_of(session, email):
        # The provider's subject stays (a block must keep holding); what names the person goes,
        # and every token of the identity dies (signed out everywhere).
        reader.name = reader.email = reader.avatar = reader.profile = ""
        reader.email_verified = False
        reader.revoked_generation += 1
    erased = comments_of(session, email)
    if erased:  # a kept logistic step names the author's words, e-mail domain and website
        from moderation.models import ClassifierDecision

        session.execute(
            update(ClassifierDecision)
            .where(ClassifierDecision.comment_id.in_([c.id for c in erased]))
            .values(step=None)
            .execution_options(synchronize_session=False)
        )
    for comment in erased:
        for key in ERASED_KEYS:
            setattr(comment, key, ANONYMOUS)
        for check in comment.checks:
            record = dict(check.submitted or {})
            record.update(dict.fromkeys((k for k in ERASED_KEYS if k in record), ""))
            check.submitted = record
        session.flush()
        if delete and comment.status is not CommentStatus.deleted:
            apply_action(session, ctx, comment, Action.delete, SYSTEM, "personal data erased")
        else:
            record_event(
                session, ctx, comment, "erase", comment.status, SYSTEM, "personal data erased"
            )
            bump_thread(session, comment.thread_id)
    return len(erased)


# --- readers' own requests (the /privacy/ page the widget links to) -------------------------------
#
# A reader names an address and what they want; when comments are kept for it, one mail goes to
# that address (through the outbox, after the commit) with a signed ``privacy-request`` link. The
# link's GET only asks; its POST spends the link's nonce (the used-tokens table, like the
# moderators' one-click links) and exports or erases. Whoever asks is never told whether the
# address is known: only its owner learns it, from the mail.

EXPORT = "export"  # article 15 and 20: a JSON copy
ANONYMISE = "anonymise"  # article 17, keeping the texts by an anonymous author
DELETE = "delete"  # article 17, deleting the comments
REQUEST_ACTIONS = (EXPORT, ANONYMISE, DELETE)
REQUEST_MAIL = "privacy_mail"  # the outbox kind


@dataclass(frozen=True)
class RequestLink:
    """What a genuine, unexpired ``privacy-request`` link asks for."""

    email: str
    action: str
    site: str
    nonce: str


def has_comments(session: Session, email: str) -> bool:
    """Whether any comment, subscription or signed-in identity is kept for `email`
    (case-insensitive, as `comments_of`)."""
    from moderation.models import Subscription

    address = email.strip().lower()
    if not address:
        return False
    found = session.scalar(select(Comment.id).where(func.lower(Comment.email) == address).limit(1))
    if found is None:
        found = session.scalar(
            select(Subscription.id).where(Subscription.email == address).limit(1)
        )
    if found is None:
        found = session.scalar(
            select(Reader.id).where(func.lower(Reader.email) == address).limit(1)
        )
    return found is not None


def queue_request_mail(session: Session, ctx: Context, email: str, action: str, site: str) -> bool:
    """Queue the confirmation mail for a reader's request, only when data is kept for `email`;
    returns whether one was queued (the caller answers the same either way). Runs inside the
    caller's write; the mail is sent after the commit."""
    if action not in REQUEST_ACTIONS:
        raise ValueError(f"no privacy request action {action!r}")
    if not has_comments(session, email):
        return False
    payload = {
        "to": email.strip().lower(),
        "action": action,
        "site": site,
        "nonce": secrets.token_urlsafe(16),  # spent by the link's POST: it works once
    }
    outbox.enqueue(session, ctx, REQUEST_MAIL, payload)
    return True


def sign_request_link(ctx: Context, payload: dict[str, Any]) -> str:
    """The ``privacy-request`` token of one mail: address, action, site and nonce."""
    return ctx.tokens.sign(
        PRIVACY_REQUEST,
        {"e": payload["to"], "a": payload["action"], "s": payload["site"], "n": payload["nonce"]},
    )


def read_request_link(ctx: Context, token: str) -> RequestLink:
    """The claim of a genuine, unexpired link; `TokenExpired`, or `TokenInvalid` when tampered
    with, signed for another purpose or malformed."""
    data = ctx.tokens.load(PRIVACY_REQUEST, token)
    try:
        link = RequestLink(
            email=str(data["e"]), action=str(data["a"]), site=str(data["s"]), nonce=str(data["n"])
        )
    except (KeyError, TypeError):
        raise TokenInvalid("this link is not valid") from None
    if link.action not in REQUEST_ACTIONS or "@" not in link.email or not link.nonce:
        raise TokenInvalid("this link is not valid")
    return link


def check_request_link(session: Session, ctx: Context, token: str) -> RequestLink:
    """The link, when it can still be used. Reads only (a GET may call it); raises what
    `read_request_link` raises, and `notify.LinkUsed` once it was used."""
    link = read_request_link(ctx, token)
    if session.get(UsedToken, link.nonce) is not None:
        raise notify.LinkUsed("this link was already used")
    return link


def use_request_link(session: Session, ctx: Context, token: str) -> RequestLink:
    """Spend a confirmed link (inside the caller's write) and, for an erase, carry it out. Of two
    clicks racing, one goes on and the other gets `notify.LinkUsed`. The export itself is read by
    the caller (`export_personal_data`)."""
    link = check_request_link(session, ctx, token)
    notify.spend(session, ctx, link.nonce)
    if link.action != EXPORT:
        count = erase_personal_data(session, ctx, link.email, delete=link.action == DELETE)
        forget_request_mails(session, link.email)
        log.info("a reader's own request erased (%s) %d comments", link.action, count)
    return link


def forget_request_mails(session: Session, email: str) -> int:
    """Delete the sent confirmation mails' outbox entries for `email` (kept a while for looking
    into otherwise): after an erasure they would be the last rows naming the address. Mails still
    waiting to go out stay. Returns how many were deleted."""
    address = email.strip().lower()
    sent = session.scalars(
        select(OutboxEntry).where(
            OutboxEntry.kind == REQUEST_MAIL, OutboxEntry.done_at.is_not(None)
        )
    )
    gone = [entry for entry in sent if str(entry.payload.get("to", "")).lower() == address]
    for entry in gone:
        session.delete(entry)
    return len(gone)


@outbox.handler(REQUEST_MAIL, mail=True)
def send_request_mail(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Write and send one confirmation mail; raise (so the outbox retries) when SMTP fails. An
    address on the suppression list is not mailed (`mailing.deliver`)."""
    mailing.deliver(database, ctx, build_request_mail(ctx, payload), payload["to"])


REQUEST_WHAT = {
    EXPORT: "send you a copy of the comments kept for this address, as a JSON file",
    ANONYMISE: (
        "erase this address, the names and websites given with it, and the IP addresses from "
        "its comments (their texts stay, by an anonymous author)"
    ),
    DELETE: (
        "erase this address, the names and websites given with it, and the IP addresses from "
        "its comments, and delete the comments"
    ),
}


def build_request_mail(ctx: Context, payload: dict[str, Any]) -> EmailMessage:
    """The confirmation mail: plain text plus an HTML alternative, with the one link."""
    settings = ctx.settings
    site = settings.sites.get(payload["site"])
    label = (site.title or payload["site"]) if site else ""
    public_url = settings.server.public_url.rstrip("/")
    data = {
        "subject": (f"[{notify._one_line(label, 60)}] " if label else "")
        + "Confirm your personal-data request",
        "site": label,
        "site_url": site.url if site else "",
        "what": REQUEST_WHAT[payload["action"]],
        "action": payload["action"],
        "url": f"{public_url}/privacy/{sign_request_link(ctx, payload)}",
        "expires": ctx.clock() + timedelta(hours=settings.privacy.link_max_age_hours),
    }
    message = EmailMessage()
    message["Subject"] = data["subject"]
    message["From"] = settings.mail.sender
    message["To"] = payload["to"]
    message["Date"] = email.utils.format_datetime(ctx.clock())
    message["Message-ID"] = f"<privacy.{payload['nonce']}@{notify.mail_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    notify.set_bodies(message, "privacy", data)
    return message
