"""Personal data the service keeps only as long as it needs it.

Client IPs and user agents serve the flood and rate rules, the spam scorers and Akismet's feedback
(which wants the IP the comment came from), all within days of a post. After
``[privacy] ip_retention_days`` they are blanked, on the comment and in its spam checks' record of
the submission; the comment, its text and its verdicts stay. Run by the job worker's hourly purge.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

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
