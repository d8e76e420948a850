"""Personal data: kept only as long as it is needed, handed over and erased on request.

Client IPs and user agents serve the flood and rate rules, the spam scorers and Akismet's feedback
(which wants the IP the comment came from), all within days of a post. After
``[privacy] ip_retention_days`` they are blanked, on the comment and in its spam checks' record of
the submission; the comment, its text and its verdicts stay. Run by the job worker's hourly purge.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from moderation.models import Comment, SpamCheck
from moderation.services import Context
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
    }


def erase_personal_data(session: Session, ctx: Context, email: str, *, delete: bool = False) -> int:
    """Anonymise every comment of `email` (name, e-mail, website, IP, user agent and referrer
    removed, also from its spam checks' records; the text stays, by an anonymous author), or with
    `delete` also delete them (a comment with replies stays as their placeholder). Each comment
    gets an audit row that names no erased data. Thread versions are bumped, so caches and feeds
    show it at once. Returns how many comments were erased. Runs inside the caller's write."""
    from moderation.domain.states import Action, CommentStatus
    from moderation.services.moderation import SYSTEM, apply_action, bump_thread, record_event

    erased = comments_of(session, email)
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
