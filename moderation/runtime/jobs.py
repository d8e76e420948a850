"""The background-job queue (huey): SQLite storage by default, Redis when configured.

Jobs carry only outbox ids; the outbox rows in the database are the source of truth (see
`moderation.services.outbox`). The queue makes them happen at once; the per-minute sweep makes them
happen even if a queued job was lost with a stopped process.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from moderation.config import Settings
from moderation.services import Context, linkbacks, notify, outbox, spam
from moderation.storage.db import Database

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger(__name__)
# Importing a service registers its outbox handlers; a worker must know every kind.
HANDLER_MODULES = (linkbacks, spam)


def make_huey(settings: Settings) -> Huey:
    """A huey instance on the configured storage (Redis storage needs the ``[redis]`` extra)."""
    import huey

    if settings.jobs.backend == "redis":
        return huey.RedisHuey(
            "moderation", url=settings.redis.url, immediate=settings.jobs.immediate
        )
    settings.data_path.mkdir(parents=True, exist_ok=True)
    return huey.SqliteHuey(
        "moderation",
        filename=str(settings.data_path / "jobs.sqlite3"),
        immediate=settings.jobs.immediate,
    )


class Jobs:
    """The queue and its tasks, bound to one database and service context.

    `ctx` is the given context with this queue's `dispatch` (unless it brings its own): the one the
    app and the worker use.
    """

    def __init__(self, settings: Settings, database: Database, ctx: Context) -> None:
        self.huey = make_huey(settings)
        self.database = database
        self.ctx = replace(ctx, dispatch=ctx.dispatch or self.dispatch)
        self.run_task = self.huey.task(name="outbox.run")(self._run)
        from huey import crontab

        self.sweep_task = self.huey.periodic_task(crontab(minute="*"), name="outbox.sweep")(
            self.sweep
        )
        self.purge_task = self.huey.periodic_task(crontab(minute="17"), name="purge")(self.purge)

    def dispatch(self, entry_id: int, delay: float | None = None) -> None:
        """Queue an outbox entry (after its commit). A queue failure is logged: the sweep retries."""
        try:
            if delay:
                self.run_task.schedule(args=(entry_id,), delay=delay)
            else:
                self.run_task(entry_id)
        except Exception:
            log.exception("could not queue outbox entry %s; the sweep will pick it up", entry_id)

    def _run(self, entry_id: int) -> None:
        delay = outbox.run_entry(self.database, self.ctx, entry_id)
        if delay is not None and not self.huey.immediate:
            self.dispatch(entry_id, delay)

    def sweep(self) -> int:
        """Queue every due outbox entry; returns how many."""
        due = outbox.due_entries(self.database, self.ctx)
        for entry_id in due:
            self.dispatch(entry_id)
        return len(due)

    def purge(self) -> int:
        """Remove old spam and deleted comments, spent e-mail link nonces that guard nothing, and
        outbox entries done a week ago. Returns how many rows went."""
        return (
            spam.purge(self.database, self.ctx)
            + notify.purge_used_tokens(self.database, self.ctx)
            + outbox.purge_done(self.database, self.ctx)
        )

    def consumer(self, workers: int = 2) -> object:
        """A huey consumer (threads) that also runs the periodic sweep and purge."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
