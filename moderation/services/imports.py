"""Importing another comment system's export (or our own) into one site.

A file is read twice. The first pass reads it through without writing anything: a malformed or
truncated file stops there with the line and the reason, and the database is unchanged. The second
pass stores it in batches, each one write (so the service keeps answering while a large file
imports). Every imported comment remembers where it came from (``import_source``/``import_id``,
unique per thread; our own JSON keeps each comment's portable ``uid``), so running the same import
again adds nothing, and an import interrupted half-way is finished by running it again.

Comments keep their kind, status, parent (at any depth, also when the parent comes later in the
file), times, author fields and votes; their text is kept as given and rendered through the same
sanitizer as new comments. Imported comments are not scored (their status is the source's
verdict); with ``learn``, once the import is written, the site's history teaches the classifier
and fills the site's reserve of decisions (`spam_history.learn_history`: as much ham as spam is
learned, the rest of the ham only calibrates the cut-offs).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from moderation import markup
from moderation.config import SiteSettings
from moderation.domain.states import CommentKind, CommentStatus
from moderation.errors import InvalidInput
from moderation.interchange.records import (
    CommentRecord,
    Reader,
    ThreadRecord,
)
from moderation.models import Comment, ModerationEvent, Thread, new_uid
from moderation.scorers.rules.text import text_fingerprint
from moderation.services import Context
from moderation.storage.db import Database

log = logging.getLogger(__name__)

FORMATS = ("wordpress", "disqus", "isso", "remark42", "json")
BATCH = 500  # comments per write: the write lock is held for a fraction of a second
# The widths of the columns an import fills from outside data (longer values are cut).
_WIDTHS = {"author": 255, "email": 255, "website": 512, "ip": 64, "user_agent": 512}
_WIDTHS |= {"referrer": 1024, "source": 2048}


def reader_for(fmt: str) -> Reader:
    """The reader of format `fmt` (one of `FORMATS`)."""
    if fmt == "wordpress":
        from moderation.interchange.wordpress import read_wxr

        return read_wxr
    if fmt == "disqus":
        from moderation.interchange.disqus import read_disqus

        return read_disqus
    if fmt == "isso":
        from moderation.interchange.isso import read_isso

        return read_isso
    if fmt == "remark42":
        from moderation.interchange.remark42 import read_remark42

        return read_remark42
    if fmt == "json":
        from moderation.interchange.native import read_json

        return read_json
    raise InvalidInput(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


@dataclass
class Summary:
    """What an import did (or, dry, would do)."""

    fmt: str
    dry_run: bool = False
    total: int = 0  # comments in the file
    imported: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, status)
    present: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # reason
    threads: int = 0  # pages in the file
    new_threads: int = 0
    foreign_hosts: Counter[str] = field(default_factory=Counter)  # host -> pages
    orphans: int = 0  # comments whose parent is nowhere: imported as top-level ones
    learned: int = 0
    history: list[str] = field(default_factory=list)  # what `learn_history` did, for a terminal

    def lines(self) -> list[str]:
        """The summary for a terminal."""
        verb = "would import" if self.dry_run else "imported"
        out = [
            f"{self.fmt}: {self.total} comments on {self.threads} pages"
            f" ({self.new_threads} new pages)"
        ]
        for (kind, status), n in sorted(self.imported.items()):
            out.append(f"  {verb}: {n} {kind} {status}")
        for (kind, status), n in sorted(self.present.items()):
            out.append(f"  already present: {n} {kind} {status}")
        for reason, n in sorted(self.skipped.items()):
            out.append(f"  skipped: {n} ({reason})")
        for host, n in sorted(self.foreign_hosts.items()):
            out.append(
                f"  note: {n} page{'s' * (n != 1)} on {host}, not this site's host;"
                " imported by their path"
            )
        if self.orphans:
            out.append(f"  note: {self.orphans} replies to comments not in the file: top-level")
        if self.learned:
            out.append(f"  the classifier learned from {self.learned} labelled comments")
        out += [f"  {line}" for line in self.history]
        if not self.imported and not self.dry_run:
            out.append("  nothing new")
        return out


@dataclass
class _Survey:
    """What the first pass learned: the pages, and every comment id in the file."""

    uris: dict[str, str] = field(default_factory=dict)  # thread key -> uri
    threads: dict[str, ThreadRecord] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)


def run_import(
    database: Database,
    ctx: Context,
    site_id: str,
    fmt: str,
    path: Path,
    *,
    dry_run: bool = False,
    learn: bool = False,
    progress: Callable[[int, int], object] | None = None,
) -> Summary:
    """Import `path` (format `fmt`) into site `site_id`; see the module's docstring. Raises
    `MalformedExport` (nothing written) or `InvalidInput` (unknown site or format). `progress`
    is called after each batch with the comments done so far and their total."""
    site = ctx.settings.sites.get(site_id)
    if site is None:
        raise InvalidInput(f"no site {site_id!r} in the config")
    reader = reader_for(fmt)
    summary = Summary(fmt, dry_run=dry_run)
    survey = _survey(reader, path, site, summary)
    importer = _Importer(database, ctx, site_id, site, fmt, survey, summary, dry_run)
    batch: list[CommentRecord] = []
    done = 0
    for record in _comments(reader(path), survey):
        batch.append(record)
        if len(batch) >= BATCH:
            importer.store(batch)
            done += len(batch)
            batch = []
            if progress:
                progress(done, summary.total)
    if batch:
        importer.store(batch)
        if progress:
            progress(done + len(batch), summary.total)
    importer.finish()
    if learn and not dry_run:  # after the import's own writes, in batches of its own
        from moderation.services import spam_history

        report = spam_history.learn_history(database, ctx, site_id)
        summary.learned = report.learned_ham + report.learned_spam
        summary.history = report.lines()
    return summary


def _survey(reader: Reader, path: Path, site: SiteSettings, summary: Summary) -> _Survey:
    """The first pass: read everything, write nothing; a malformed file raises here."""
    survey = _Survey()
    for record in reader(path):
        if isinstance(record, ThreadRecord):
            if record.key not in survey.uris:
                survey.uris[record.key] = _uri(site, record.url, summary)
                survey.threads[record.key] = record
                summary.threads += 1
        elif isinstance(record, CommentRecord):
            if record.thread_key not in survey.uris:
                summary.skipped[f"its page ({record.thread_key}) is not in the file"] += 1
            elif record.source_id in survey.ids:
                summary.skipped["an id that appears twice in the file"] += 1
            else:
                survey.ids.add(record.source_id)
                summary.total += 1
        else:
            summary.skipped[record.reason] += 1
    return survey


def _comments(records: Iterator[Any], survey: _Survey) -> Iterator[CommentRecord]:
    """The second pass: the comments the survey accepted, once each."""
    seen: set[str] = set()
    for record in records:
        if not isinstance(record, CommentRecord) or record.thread_key not in survey.uris:
            continue
        if record.source_id in seen:
            continue
        seen.add(record.source_id)
        yield record


def _uri(site: SiteSettings, url: str, summary: Summary) -> str:
    """A page's address as a URI of the site: the site's url stripped; a page on another host
    keeps its path (and is reported)."""
    parts = urlsplit(url.strip())
    if parts.scheme and parts.netloc:
        if site.owns(url):
            uri = site.uri_of(url)
        else:
            summary.foreign_hosts[parts.netloc.lower()] += 1
            uri = parts.path or "/"
    else:
        uri = parts.path or "/"
        if not uri.startswith("/"):
            uri = "/" + uri
    return uri + (f"?{parts.query}" if parts.query else "")


_COMMENTS = cast(Table, Comment.__table__)
_SET_PARENT = update(_COMMENTS).where(_COMMENTS.c.id == bindparam("child"))


class _Importer:
    """The second pass's state: thread ids by key, stored comment ids by source id, and the
    parent links still waiting for their parent."""

    def __init__(
        self,
        database: Database,
        ctx: Context,
        site_id: str,
        site: SiteSettings,
        fmt: str,
        survey: _Survey,
        summary: Summary,
        dry_run: bool,
    ) -> None:
        self.database, self.ctx, self.site_id, self.site = database, ctx, site_id, site
        self.fmt, self.survey, self.summary = fmt, survey, summary
        self.dry_run = dry_run
        self.thread_ids: dict[str, int] = {}
        self.ids: dict[str, int] = {}  # source id -> comment id
        self.waiting: dict[int, str] = {}  # comment id -> its parent's source id
        self.dry_present: set[str] = set()

    # --- one batch --------------------------------------------------------------------------

    def store(self, batch: list[CommentRecord]) -> None:
        """Store one batch in one write (in a dry run: only find what is already there)."""
        if self.dry_run:
            with self.database.read() as session:
                self._count_dry(session, batch)
            return
        rendered = {r.source_id: markup.render_as(r.text, r.text_format) for r in batch}
        with self.database.write() as tx:
            self._store(tx, batch, rendered)

    def _count_dry(self, session: Session, batch: list[CommentRecord]) -> None:
        thread_ids = {
            key: thread.id
            for key in {r.thread_key for r in batch}
            if (thread := _find_thread(session, self.site_id, self.survey.uris[key]))
        }
        for key in {r.thread_key for r in batch} - thread_ids.keys() - self.thread_ids.keys():
            self.thread_ids[key] = -1
            self.summary.new_threads += 1
        existing = self._existing(session, batch, thread_ids)
        for record in batch:
            label = (record.kind.value, record.status.value)
            if record.source_id in existing:
                self.summary.present[label] += 1
            else:
                self.summary.imported[label] += 1
                if record.parent_id and record.parent_id not in self.survey.ids:
                    self.summary.orphans += 1

    def _store(self, tx: Session, batch: list[CommentRecord], rendered: dict[str, str]) -> None:
        now = self.ctx.clock()
        touched: set[int] = set()
        for key in dict.fromkeys(r.thread_key for r in batch):
            if key not in self.thread_ids:
                self.thread_ids[key] = self._thread(tx, key, batch)
        existing = self._existing(tx, batch, self.thread_ids)
        new: list[CommentRecord] = []
        for record in batch:
            label = (record.kind.value, record.status.value)
            found = existing.get(record.source_id)
            if found is not None:
                comment_id, parent_id = found
                self.ids[record.source_id] = comment_id
                self.summary.present[label] += 1
                if parent_id is None and record.parent_id:
                    self.waiting[comment_id] = record.parent_id  # an interrupted run's link
            else:
                new.append(record)
                self.summary.imported[label] += 1
        if new:
            rows = [self._row(r, rendered[r.source_id]) for r in new]
            inserted = tx.execute(
                insert(_COMMENTS).returning(_COMMENTS.c.id, sort_by_parameter_order=True), rows
            )
            ids = [row[0] for row in inserted]
            events = []
            for record, comment_id in zip(new, ids, strict=True):
                self.ids[record.source_id] = comment_id
                touched.add(self.thread_ids[record.thread_key])
                if record.parent_id:
                    self.waiting[comment_id] = record.parent_id
                events.append(self._event(record, comment_id, now))
            tx.execute(insert(ModerationEvent), events)
        self._link_parents(tx, final=False)
        _recount(tx, touched)

    def finish(self) -> None:
        """The parent links whose parent never came: top-level comments (and counted)."""
        if self.dry_run or not self.waiting:
            return
        with self.database.write() as tx:
            self._link_parents(tx, final=True)

    # --- the parts --------------------------------------------------------------------------

    def _thread(self, tx: Session, key: str, batch: list[CommentRecord]) -> int:
        uri, record = self.survey.uris[key], self.survey.threads[key]
        thread = _find_thread(tx, self.site_id, uri)
        if thread is None:
            first = min(r.created_at for r in batch if r.thread_key == key)
            thread = Thread(
                site=self.site_id,
                uri=uri,
                title=record.title[:512],
                created_at=record.created_at or first,
                closed=record.closed,
            )
            tx.add(thread)
            tx.flush()
            self.summary.new_threads += 1
        elif record.title and not thread.title:
            thread.title = record.title[:512]
        return thread.id

    def _existing(
        self, session: Session, batch: list[CommentRecord], thread_ids: dict[str, int]
    ) -> dict[str, tuple[int, int | None]]:
        """The batch's comments already stored: source id -> (comment id, parent id)."""
        c = Comment
        if self.fmt == "json":
            uids = [r.uid or r.source_id for r in batch]
            by_uid = {
                uid: (cid, parent)
                for uid, cid, parent in session.execute(
                    select(c.uid, c.id, c.parent_id).where(c.uid.in_(uids))
                )
            }
            return {r.source_id: by_uid[r.uid or r.source_id] for r in batch if r.uid in by_uid}
        wanted = {(thread_ids.get(r.thread_key), r.source_id) for r in batch}
        rows = session.execute(
            select(c.thread_id, c.import_id, c.id, c.parent_id).where(
                c.import_source == self.fmt,
                c.thread_id.in_({t for t, _ in wanted if t is not None}),
                c.import_id.in_([s for _, s in wanted]),
            )
        )
        return {
            str(import_id): (cid, parent)
            for thread_id, import_id, cid, parent in rows
            if (thread_id, import_id) in wanted
        }

    def _row(self, r: CommentRecord, html: str) -> dict[str, Any]:
        origin: tuple[str | None, str | None] = r.origin or (self.fmt, r.source_id)
        if self.fmt == "json" and not r.origin:
            origin = (None, None)  # a comment written here, exported, brought back
        source, source_id = origin
        approved = r.status is CommentStatus.approved
        deleted = r.status is CommentStatus.deleted
        return {
            "thread_id": self.thread_ids[r.thread_key],
            "parent_id": None,
            "kind": r.kind,
            "status": r.status,
            "author": _cut(r.author, "author"),
            "email": _cut(r.email.strip().lower(), "email"),
            "website": _cut(r.website, "website"),
            "ip": _cut(r.ip, "ip"),
            "user_agent": _cut(r.user_agent, "user_agent"),
            "referrer": _cut(r.referrer, "referrer"),
            "text": r.text,
            "html": html,
            "text_format": r.text_format,
            "created_at": r.created_at,
            "modified_at": r.modified_at,
            "approved_at": (r.approved_at or r.created_at) if approved else None,
            "deleted_at": (r.deleted_at or r.modified_at or r.created_at) if deleted else None,
            "source": _cut(r.linkback_source, "source") if r.linkback_source else None,
            "verified": r.verified,
            "discarded": r.discarded and r.status in (CommentStatus.spam, CommentStatus.deleted),
            "recheck_reason": None,
            "learned": None,
            "uid": r.uid or new_uid(),
            "import_source": source,
            "import_id": source_id,
            "likes": r.likes,
            "dislikes": r.dislikes,
            # Old comments mostly fall outside the repeat window, but a recent one counts.
            "fingerprint": text_fingerprint(r.text) if r.kind is CommentKind.comment else "",
        }

    def _event(self, r: CommentRecord, comment_id: int, now: datetime) -> dict[str, Any]:
        origin = f"{r.origin[0]} {r.origin[1]}" if r.origin else f"{self.fmt} {r.source_id}"
        return {
            "comment_id": comment_id,
            "moderator_id": None,
            "actor": f"import:{self.fmt}",
            "action": "import",
            "from_status": None,
            "to_status": r.status,
            "reason": f"imported ({origin})",
            "created_at": now,
        }

    def _link_parents(self, tx: Session, *, final: bool) -> None:
        links = [
            {"child": child, "parent_id": self.ids[parent]}
            for child, parent in self.waiting.items()
            if parent in self.ids and self.ids[parent] != child
        ]
        if links:
            tx.execute(_SET_PARENT.values(parent_id=bindparam("parent_id")), links)
            for link in links:
                del self.waiting[link["child"]]
        if final and self.waiting:
            self.summary.orphans += len(self.waiting)
            self.waiting.clear()


def _find_thread(session: Session, site: str, uri: str) -> Thread | None:
    return session.scalars(select(Thread).where(Thread.site == site, Thread.uri == uri)).first()


def _recount(tx: Session, thread_ids: set[int]) -> None:
    """The touched threads' approved counts from their rows, and their versions bumped."""
    if not thread_ids:
        return
    approved = (
        select(func.count())
        .where(Comment.thread_id == Thread.id, Comment.status == CommentStatus.approved)
        .scalar_subquery()
    )
    tx.execute(
        update(Thread)
        .where(Thread.id.in_(thread_ids))
        .values(approved_count=approved, version=Thread.version + 1)
    )


def _cut(value: str, column: str) -> str:
    return value[: _WIDTHS[column]]
