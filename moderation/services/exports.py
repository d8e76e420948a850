"""Exporting a site: every thread and comment, as our JSON (which imports back losslessly) or as
WordPress's WXR. Read one thread at a time, so memory follows the largest thread, not the site."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TextIO, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from moderation.config import SiteSettings
from moderation.interchange.records import CommentRecord, ThreadRecord
from moderation.models import Comment, Thread, new_uid
from moderation.storage.db import Database

EXPORT_FORMATS = ("json", "wxr")


def site_threads(
    session: Session, site_id: str, site: SiteSettings, *, with_ip: bool, absolute: bool
) -> Iterator[tuple[ThreadRecord, list[CommentRecord]]]:
    """Each thread of the site with a comment, and its comments in the order they were stored.
    A comment's `source_id` and `parent_id` are portable uids; IPs, user agents and referrers are
    blank unless `with_ip`. `absolute` gives pages as URLs (WXR) instead of URIs (our JSON)."""
    thread_ids = session.scalars(
        select(Thread.id)
        .where(
            Thread.site == site_id,
            select(Comment.id).where(Comment.thread_id == Thread.id).exists(),
        )
        .order_by(Thread.id)
    ).all()
    for thread_id in thread_ids:
        thread = session.get_one(Thread, thread_id)
        comments = session.scalars(
            select(Comment).where(Comment.thread_id == thread_id).order_by(Comment.id)
        ).all()
        uids = {c.id: c.uid or "" for c in comments}
        parents = _parent_uids(session, comments, uids)
        url = site.page_url(thread.uri) if absolute else thread.uri
        record = ThreadRecord(
            key=str(thread.id),
            url=url,
            title=thread.title,
            created_at=thread.created_at,
            closed=thread.closed,
        )
        yield record, [_record(c, record.key, parents.get(c.id), with_ip) for c in comments]
        session.expunge_all()  # what was read for this thread is not needed again


def _parent_uids(
    session: Session, comments: Sequence[Comment], uids: dict[int, str]
) -> dict[int, str]:
    """Each reply's parent uid (a parent in another thread is looked up; that should not be)."""
    missing = {c.parent_id for c in comments if c.parent_id and c.parent_id not in uids}
    if missing:
        found = session.execute(select(Comment.id, Comment.uid).where(Comment.id.in_(missing)))
        uids = uids | {cid: uid or "" for cid, uid in found.tuples()}
    return {c.id: uids[c.parent_id] for c in comments if c.parent_id in uids}


def _record(c: Comment, thread_key: str, parent: str | None, with_ip: bool) -> CommentRecord:
    origin = (c.import_source, c.import_id) if c.import_source and c.import_id else None
    return CommentRecord(
        source_id=c.uid or "",
        thread_key=thread_key,
        kind=c.kind,
        status=c.status,
        text=c.text,
        created_at=c.created_at,
        parent_id=parent,
        text_format="html" if c.text_format == "html" else "markdown",
        author=c.author,
        email=c.email,
        website=c.website,
        ip=c.ip if with_ip else "",
        user_agent=c.user_agent if with_ip else "",
        modified_at=c.modified_at,
        linkback_source=c.source,
        likes=c.likes,
        dislikes=c.dislikes,
        uid=c.uid,
        origin=origin,
        approved_at=c.approved_at,
        deleted_at=c.deleted_at,
        verified=c.verified,
        discarded=c.discarded,
        referrer=c.referrer if with_ip else "",
    )


UID_BATCH = 2000


def assign_uids(database: Database, site_id: str) -> int:
    """Give every comment of the site that has none its portable id (comments get one at their
    first export, so a reader's post does not pay for it); in batches, each its own write."""
    done = 0
    while True:
        with database.write() as tx:
            ids = list(
                tx.scalars(
                    select(Comment.id)
                    .join(Thread, Thread.id == Comment.thread_id)
                    .where(Thread.site == site_id, Comment.uid.is_(None))
                    .limit(UID_BATCH)
                )
            )
            if ids:
                table = cast(Table, Comment.__table__)
                tx.execute(
                    update(table).where(table.c.id == bindparam("cid")).values(uid=bindparam("u")),
                    [{"cid": i, "u": new_uid()} for i in ids],
                )
        done += len(ids)
        if len(ids) < UID_BATCH:
            return done


def export_site(
    database: Database,
    site_id: str,
    site: SiteSettings,
    fmt: str,
    out: TextIO,
    *,
    with_ip: bool = False,
) -> int:
    """Write the site's export in `fmt` ("json" or "wxr") to `out`; returns how many comments.
    Comments without a portable id get one first (the only write an export makes)."""
    assign_uids(database, site_id)
    with database.read() as session:
        return _export(session, site_id, site, fmt, out, with_ip=with_ip)


def _export(
    session: Session, site_id: str, site: SiteSettings, fmt: str, out: TextIO, *, with_ip: bool
) -> int:
    if fmt == "json":
        from moderation.interchange.native import write_json

        threads = site_threads(session, site_id, site, with_ip=with_ip, absolute=False)
        return write_json(out, site_id, site.url, threads, with_ip=with_ip)
    from moderation.interchange.wordpress import write_wxr

    count = 0

    def counted() -> Iterator[tuple[ThreadRecord, list[CommentRecord]]]:
        nonlocal count
        for thread, comments in site_threads(
            session, site_id, site, with_ip=with_ip, absolute=True
        ):
            count += len(comments)
            yield thread, comments

    write_wxr(out, site.url, site.title or site_id, counted())
    return count
