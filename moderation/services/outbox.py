"""The outbox: side effects that must happen after a commit, exactly when it committed.

`enqueue` writes an `OutboxEntry` in the caller's unit of work and, once that commits, hands its id
to the job queue (`Context.dispatch`). A worker claims the entry with a compare-and-set lease, runs its
handler outside any database transaction (an Akismet call or an SMTP session must not hold SQLite's
write lock), then marks it done, or schedules the next try with exponential back-off. If the queue
loses the job, or the worker dies mid-run, the periodic `due_entries` sweep finds the entry again once
its lease expires: nothing is dropped.

A mail entry that failed ``[mail] max_attempts`` times becomes a dead letter (`dead_at`): no worker or
sweep runs it again until an admin retries it (`retry_dead`, on the dashboard's Mail page). A
handler that is not ready yet raises `Later`: the entry waits until then, and that is no failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, select, update
from sqlalchemy.orm import Session

from moderation.models import OutboxEntry
from moderation.services import Context
from moderation.storage.db import Database, after_commit
from moderation.storage.prepared import insert_row

log = logging.getLogger(__name__)

# kind -> handler(database, ctx, payload); a handler raises to ask for another try later.
Handler = Callable[[Database, Context, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}
MAIL_KINDS: set[str] = set()  # kinds whose entries become dead letters after [mail] max_attempts
LEASE = timedelta(minutes=5)
SUMMARY_KEYS = ("to", "comment_id", "event", "status", "verdict", "action", "site")


class Later(Exception):
    """Raised by a handler that should run again at `at`, without it counting as a failure (a
    notification waiting for its subscription's minimum interval, say)."""

    def __init__(self, at: datetime, why: str = "") -> None:
        super().__init__(why or f"later, at {at.isoformat()}")
        self.at = at


def handler(kind: str, *, mail: bool = False) -> Callable[[Handler], Handler]:
    """Register the function that carries out outbox entries of `kind`. Entries that send mail
    (`mail`) become dead letters after ``[mail] max_attempts``; the others (Akismet feedback,
    re-checks, verification) are retried with back-off for as long as it takes."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if mail:
            MAIL_KINDS.add(kind)
        return fn

    return register


def enqueue(session: Session, ctx: Context, kind: str, payload: dict[str, Any]) -> int:
    """Record a side effect in the caller's write (its id); it is dispatched after the commit."""
    now = ctx.clock()
    values = {
        "kind": kind,
        "payload": payload,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    entry_id = insert_row(
        session, cast(Table, OutboxEntry.__table__), values
    )  # one prepared INSERT
    if ctx.dispatch is not None:
        dispatch = ctx.dispatch
        after_commit(session, lambda: dispatch(entry_id, None))
    return entry_id


def backoff(ctx: Context, attempts: int) -> timedelta:
    """How long to wait before try number ``attempts + 1``: base, 2×base, 4×base… up to the cap."""
    spam = ctx.settings.spam
    seconds = min(spam.retry_base_seconds * 2 ** max(attempts - 1, 0), spam.retry_max_seconds)
    return timedelta(seconds=seconds)


def run_entry(database: Database, ctx: Context, entry_id: int) -> float | None:
    """Claim and carry out one entry. Returns seconds until its next try when it failed or asked to
    wait (`Later`), else None (done, dead, or not for this worker to run)."""
    claimed = _claim(database, ctx, entry_id)
    if claimed is None:
        return None
    kind, payload, attempts = claimed
    try:
        HANDLERS[kind](database, ctx, payload)
    except Later as later:
        # Not a try: the claim's count is given back, so waiting never brings it closer to dead.
        with database.write() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == entry_id, OutboxEntry.attempts == attempts)
                .values(next_attempt_at=later.at, attempts=OutboxEntry.attempts - 1)
                .execution_options(synchronize_session=False)
            )
        return max((later.at - ctx.clock()).total_seconds(), 0.0)
    except Exception as exc:  # any failure means "try again later": record it, never drop it
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if kind in MAIL_KINDS and attempts >= ctx.settings.mail.max_attempts:
            log.error(
                "outbox %s #%s failed %s times; it is a dead letter now (an admin may retry it): %s",
                kind,
                entry_id,
                attempts,
                exc,
            )
            with database.write() as session:
                session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id == entry_id)
                    .values(dead_at=ctx.clock(), last_error=error)
                )
            return None
        delay = backoff(ctx, attempts)
        log.warning(
            "outbox %s #%s failed (try %s), next in %s: %s", kind, entry_id, attempts, delay, exc
        )
        with database.write() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == entry_id)
                .values(next_attempt_at=ctx.clock() + delay, last_error=error)
            )
        return delay.total_seconds()
    with database.write() as session:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == entry_id)
            .values(done_at=ctx.clock(), last_error=None)
        )
    return None


def _claim(
    database: Database, ctx: Context, entry_id: int
) -> tuple[str, dict[str, Any], int] | None:
    """Take a lease on a due entry (compare-and-set, so two workers never run it at once)."""
    now = ctx.clock()
    with database.write() as session:
        entry = session.get(OutboxEntry, entry_id)
        if (
            entry is None
            or entry.done_at is not None
            or entry.dead_at is not None
            or entry.next_attempt_at > now
        ):
            return None
        if entry.kind not in HANDLERS:
            log.error("outbox #%s has unknown kind %r; left for an operator", entry_id, entry.kind)
            return None
        claimed = cast(
            CursorResult[Any],
            session.execute(
                update(OutboxEntry)
                .where(
                    OutboxEntry.id == entry_id,
                    OutboxEntry.attempts == entry.attempts,
                    OutboxEntry.done_at.is_(None),
                    OutboxEntry.dead_at.is_(None),
                )
                .values(next_attempt_at=now + LEASE, attempts=OutboxEntry.attempts + 1)
                .execution_options(synchronize_session=False)
            ),
        )
        if claimed.rowcount != 1:
            return None
        return entry.kind, dict(entry.payload), entry.attempts + 1


DONE_KEPT = timedelta(days=7)


def purge_done(database: Database, ctx: Context) -> int:
    """Delete entries carried out more than `DONE_KEPT` ago (kept that long to look into); entries
    still waiting or failing are never touched. Returns how many were removed."""
    cutoff = ctx.clock() - DONE_KEPT
    with database.write() as session:
        removed = cast(
            CursorResult[Any],
            session.execute(
                delete(OutboxEntry).where(
                    OutboxEntry.done_at.is_not(None), OutboxEntry.done_at < cutoff
                )
            ),
        ).rowcount
    return int(removed or 0)


def due_entries(database: Database, ctx: Context, limit: int = 100) -> list[int]:
    """Ids of entries whose time has come (new, failed and waiting, or with an expired lease)."""
    return [entry_id for entry_id, _ in due_kinds(database, ctx, limit)]


def due_kinds(database: Database, ctx: Context, limit: int = 100) -> list[tuple[int, str]]:
    """Id and kind of each entry whose time has come, the longest waiting first (the job queue
    puts each kind in a lane of its own)."""
    with database.read() as session:
        rows = session.execute(
            select(OutboxEntry.id, OutboxEntry.kind)
            .where(
                OutboxEntry.done_at.is_(None),
                OutboxEntry.dead_at.is_(None),
                OutboxEntry.next_attempt_at <= ctx.clock(),
            )
            .order_by(OutboxEntry.next_attempt_at)
            .limit(limit)
        )
        return [(entry_id, kind) for entry_id, kind in rows]


def kind_of(database: Database, entry_id: int) -> str | None:
    """The kind of an entry not yet done (None when it is done, dead or gone: nothing to run)."""
    with database.read() as session:
        return session.scalar(
            select(OutboxEntry.kind).where(
                OutboxEntry.id == entry_id,
                OutboxEntry.done_at.is_(None),
                OutboxEntry.dead_at.is_(None),
            )
        )


# --- dead letters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """A dead entry as admins see it: no payload beyond its recipient and the ids it names."""

    id: int
    kind: str
    created_at: datetime
    dead_at: datetime
    attempts: int
    last_error: str
    summary: str


def summary(payload: dict[str, Any]) -> str:
    """A short description of a payload: its recipient and the ids and words that say what it is
    about (``to=mod@example.org comment_id=12 event=new``); nonces, texts and tokens are left out."""
    parts = [f"{key}={payload[key]}" for key in SUMMARY_KEYS if key in payload]
    if isinstance(payload.get("comment_ids"), list):
        parts.append(f"comments={len(payload['comment_ids'])}")
    return " ".join(parts)[:300]


def dead_letters(session: Session, limit: int = 100) -> list[DeadLetter]:
    """The dead entries, the most recently given up first."""
    query = (
        select(OutboxEntry)
        .where(OutboxEntry.dead_at.is_not(None), OutboxEntry.done_at.is_(None))
        .order_by(OutboxEntry.dead_at.desc(), OutboxEntry.id.desc())
        .limit(limit)
    )
    return [
        DeadLetter(
            id=entry.id,
            kind=entry.kind,
            created_at=entry.created_at,
            dead_at=cast(datetime, entry.dead_at),
            attempts=entry.attempts,
            last_error=entry.last_error or "",
            summary=summary(dict(entry.payload or {})),
        )
        for entry in session.scalars(query)
    ]


def retry_dead(session: Session, ctx: Context, entry_id: int) -> bool:
    """Bring a dead entry back (inside the caller's write): its tries start again from none, now,
    and it is dispatched after the commit. False when there is no such dead entry."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(OutboxEntry)
            .where(
                OutboxEntry.id == entry_id,
                OutboxEntry.dead_at.is_not(None),
                OutboxEntry.done_at.is_(None),
            )
            .values(dead_at=None, attempts=0, next_attempt_at=ctx.clock())
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        return False
    if ctx.dispatch is not None:
        dispatch = ctx.dispatch
        after_commit(session, lambda: dispatch(entry_id, None))
    return True
