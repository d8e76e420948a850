"""The outbox: side effects that must happen after a commit, exactly when it committed.

`enqueue` writes an `OutboxEntry` in the caller's unit of work and, once that commits, hands its id
to the job queue (`Context.dispatch`). A worker claims the entry with a compare-and-set lease, runs its
handler outside any database transaction (an Akismet call or an SMTP session must not hold SQLite's
write lock), then marks it done, or schedules the next try with exponential back-off. If the queue
loses the job, or the worker dies mid-run, the periodic `due_entries` sweep finds the entry again once
its lease expires: nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
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
LEASE = timedelta(minutes=5)


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out outbox entries of `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
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
    """Claim and carry out one entry. Returns seconds until its next try when it failed, else None."""
    claimed = _claim(database, ctx, entry_id)
    if claimed is None:
        return None
    kind, payload, attempts = claimed
    try:
        HANDLERS[kind](database, ctx, payload)
    except Exception as exc:  # any failure means "try again later": record it, never drop it
        delay = backoff(ctx, attempts)
        log.warning(
            "outbox %s #%s failed (try %s), next in %s: %s", kind, entry_id, attempts, delay, exc
        )
        with database.write() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == entry_id)
                .values(
                    next_attempt_at=ctx.clock() + delay,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                )
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
        if entry is None or entry.done_at is not None or entry.next_attempt_at > now:
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
            .where(OutboxEntry.done_at.is_(None), OutboxEntry.next_attempt_at <= ctx.clock())
            .order_by(OutboxEntry.next_attempt_at)
            .limit(limit)
        )
        return [(entry_id, kind) for entry_id, kind in rows]


def kind_of(database: Database, entry_id: int) -> str | None:
    """The kind of an entry not yet done (None when it is done or gone: nothing to run)."""
    with database.read() as session:
        return session.scalar(
            select(OutboxEntry.kind).where(
                OutboxEntry.id == entry_id, OutboxEntry.done_at.is_(None)
            )
        )
