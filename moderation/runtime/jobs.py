"""The background-job queue (huey): SQLite storage by default, Redis when configured.

Jobs carry only outbox ids; the outbox rows in the database are the source of truth (see
`moderation.services.outbox`). The queue makes them happen at once; the per-minute sweep makes them
happen even if a queued job was lost with a stopped process.

Each kind of outbox entry runs in a lane of its own: a huey queue with its own consumer threads
(``[jobs] mail_threads``, ``akismet_threads``, ``fetch_threads``). An SMTP server that accepts and
never answers holds the mail threads for its timeout per mail, and nothing else: linkback
verification and Akismet go on. An entry dispatched after its commit names only its id, so it goes
first to the general queue, whose task reads its kind and passes it on to its lane (a primary-key
read, in the worker); the sweep and the retries know the kind and queue straight into the lane.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

from moderation.config import Settings
from moderation.runtime.heartbeat import Heartbeat, heartbeat_for
from moderation.services import (
    Context,
    linkbacks,
    notify,
    outbox,
    privacy,
    readers,
    spam,
    subscriptions,
    verification,
)
from moderation.storage.db import Database

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger(__name__)
# Importing a service registers its outbox handlers; a worker must know every kind.
HANDLER_MODULES = (linkbacks, spam)


#: The lane of each outbox kind: the kinds in one lane wait on the same outside service.
KIND_LANES = {
    "mail": "mail",
    privacy.REQUEST_MAIL: "mail",
    notify.DIGEST: "mail",
    subscriptions.CONFIRM_MAIL: "mail",
    subscriptions.NOTIFY_MAIL: "mail",
    readers.SIGNIN_MAIL: "mail",
    "akismet_feedback": "akismet",
    "recheck": "akismet",
    verification.VERIFY: "fetch",
}
#: Kinds no lane names (none yet) run in the general queue, beside routing, sweep and purge.
OTHER = "other"
LANES = ("mail", "akismet", "fetch", OTHER)


def lane_of(kind: str) -> str:
    """The lane that runs outbox entries of `kind`."""
    return KIND_LANES.get(kind, OTHER)


def lane_threads(settings: Settings, general_threads: int) -> dict[str, int]:
    """How many consumer threads each lane gets."""
    jobs = settings.jobs
    return {
        "mail": jobs.mail_threads,
        "akismet": jobs.akismet_threads,
        "fetch": jobs.fetch_threads,
        OTHER: general_threads,
    }


def import_huey(settings: Settings) -> ModuleType:
    """Import huey without the client libraries this configuration does not use.

    huey's storage module imports the redis client and psycopg whenever they are installed,
    whatever storage it is given: about 16 MB in every server worker and job consumer of the
    container image, which installs both extras (docs/performance.md, Memory). Each one nothing
    here needs is hidden during huey's import (huey then treats it as not installed) and is
    importable again afterwards. A process that imported huey so and then meets a Redis
    configuration (tests do) gets the client handed to huey's storage module under the names its
    own import would have bound (tested).
    """
    if "huey" in sys.modules:
        loaded = sys.modules["huey"]
        if settings.jobs.backend == "redis" and loaded.storage.Redis is None:
            from redis import ConnectionPool, Redis
            from redis.exceptions import ConnectionError, TimeoutError

            storage = loaded.storage
            storage.ConnectionPool, storage.Redis = ConnectionPool, Redis
            storage.ConnectionError, storage.TimeoutError = ConnectionError, TimeoutError
            storage.RedisStorage.redis_client = Redis  # (bound when the class was made)
        return loaded
    unused = []
    if settings.jobs.backend != "redis" and not settings.redis.url:
        unused.append("redis")
    if not settings.database.url.startswith("postgresql"):
        unused.append("psycopg")
    hidden = [name for name in unused if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        return importlib.import_module("huey")
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def make_huey(settings: Settings, name: str = "moderation") -> Huey:
    """A huey queue called `name` on the configured storage (Redis storage needs the ``[redis]``
    extra). The lanes' queues share the storage: one SQLite file, or one Redis."""
    huey = import_huey(settings)

    if settings.jobs.backend == "redis":
        return huey.RedisHuey(name, url=settings.redis.url, immediate=settings.jobs.immediate)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    return huey.SqliteHuey(
        name,
        filename=str(settings.data_path / "jobs.sqlite3"),
        immediate=settings.jobs.immediate,
    )


class Jobs:
    """The queues and their tasks, bound to one database and service context.

    `ctx` is the given context with this queue's `dispatch` (unless it brings its own): the one the
    app and the worker use.
    """

    def __init__(self, settings: Settings, database: Database, ctx: Context) -> None:
        self.settings = settings
        self.huey = make_huey(settings)  # the general queue: routing, sweep, purge, other kinds
        self.database = database
        self.ctx = replace(ctx, dispatch=ctx.dispatch or self.dispatch)
        self.lanes: dict[str, Huey] = {
            lane: self.huey if lane == OTHER else make_huey(settings, f"moderation-{lane}")
            for lane in LANES
        }
        # (The name of the task that used to run every entry: entries queued by an older
        # version are routed too.)
        self.route_task = self.huey.task(name="outbox.run")(self._route)
        self.lane_tasks = {
            lane: queue.task(name=f"outbox.run.{lane}")(self._runner(lane))
            for lane, queue in self.lanes.items()
        }
        crontab = import_huey(settings).crontab
        self.sweep_task = self.huey.periodic_task(crontab(minute="*"), name="outbox.sweep")(
            self.sweep
        )
        self.purge_task = self.huey.periodic_task(crontab(minute="17"), name="purge")(self.purge)
        # Every minute on every node; the digest's own mark decides when one is due (and who).
        self.digest_task = self.huey.periodic_task(crontab(minute="*"), name="digest")(self.digest)

    def dispatch(self, entry_id: int, delay: float | None = None) -> None:
        """Queue an outbox entry (after its commit) for routing to its lane. A queue failure is
        logged: the sweep retries."""
        try:
            self.route_task(entry_id)
        except Exception:
            log.exception("could not queue outbox entry %s; the sweep will pick it up", entry_id)

    def dispatch_to_lane(self, lane: str, entry_id: int, delay: float | None = None) -> None:
        """Queue an outbox entry in `lane`, now or after `delay` seconds."""
        task = self.lane_tasks[lane]
        try:
            if delay:
                task.schedule(args=(entry_id,), delay=delay)
            else:
                task(entry_id)
        except Exception:
            log.exception("could not queue outbox entry %s; the sweep will pick it up", entry_id)

    def _route(self, entry_id: int) -> None:
        kind = outbox.kind_of(self.database, entry_id)
        if kind is not None:
            self.dispatch_to_lane(lane_of(kind), entry_id)

    def _runner(self, lane: str) -> Callable[[int], None]:
        def run(entry_id: int) -> None:
            delay = outbox.run_entry(self.database, self.ctx, entry_id)
            if delay is not None and not self.huey.immediate:
                self.dispatch_to_lane(lane, entry_id, delay)

        run.__name__ = run.__qualname__ = f"run_{lane}"
        return run

    def sweep(self) -> int:
        """Queue every due outbox entry in its lane; returns how many."""
        due = outbox.due_kinds(self.database, self.ctx)
        for entry_id, kind in due:
            self.dispatch_to_lane(lane_of(kind), entry_id)
        return len(due)

    def digest(self) -> int:
        """Queue the moderators' digest when ``[mail] notify = "digest"`` and it is due; returns
        how many mails were queued."""
        return notify.check_digest(self.database, self.ctx)

    def purge(self) -> int:
        """Remove old spam and deleted comments, spent e-mail link nonces that guard nothing, and
        outbox entries done a week ago, and blank IPs and user agents past their retention.
        Returns how many rows went or changed."""
        return (
            spam.purge(self.database, self.ctx)
            + privacy.blank_old_client_data(self.database, self.ctx)
            + notify.purge_used_tokens(self.database, self.ctx)
            + outbox.purge_done(self.database, self.ctx)
        )

    def consumers(self, general_threads: int = 1) -> dict[str, Any]:
        """One huey consumer (threads) per lane; the general one also runs the sweep and purge."""
        threads = lane_threads(self.settings, general_threads)
        return {
            lane: queue.create_consumer(
                workers=threads[lane],
                worker_type="thread",
                periodic=lane == OTHER,
                check_worker_health=True,
                health_check_interval=1,
                shutdown_timeout=5,  # a job stuck on the network is left to its lease
            )
            for lane, queue in self.lanes.items()
        }

    def run_consumers(
        self,
        general_threads: int = 1,
        heartbeat: Heartbeat | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Run every lane's consumer until SIGTERM or SIGINT (or `stop` is set), touching the
        heartbeat while all their threads are alive (huey's consumer loop restarts a dead one)."""
        heartbeat = heartbeat or heartbeat_for(self.settings)
        stop = stop or threading.Event()
        consumers = self.consumers(general_threads)
        for lane, consumer in consumers.items():
            # Its threads only: huey's `start()` would also take the process's signals for
            # itself (and cannot off the main thread); here one handler stops every lane.
            consumer.scheduler.start()
            for _, thread in consumer.worker_threads:
                thread.start()
            log.info("job lane %s: %s threads", lane, consumer.workers)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        interval = self.settings.jobs.heartbeat_seconds
        try:
            while not stop.is_set():
                healthy = True
                for lane, consumer in consumers.items():
                    if not consumer.check_worker_health():
                        log.warning("job lane %s: a dead consumer thread was restarted", lane)
                        healthy = False
                if healthy:
                    try:
                        heartbeat.beat()
                    except Exception:
                        log.warning("could not write the job consumer's heartbeat", exc_info=True)
                stop.wait(interval)
        finally:
            for consumer in consumers.values():
                consumer.stop_flag.set()  # all at once: their threads end together
            for consumer in consumers.values():
                consumer.stop(graceful=True)
