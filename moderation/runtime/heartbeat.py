"""The job consumer's heartbeat: proof, readable by every web worker, that jobs are being run.

A consumer that was killed (or whose threads all died) leaves no trace a web worker could see:
the queue just fills up and no mail goes out. So the consumer touches a heartbeat every
``[jobs] heartbeat_seconds`` while its threads are alive, and ``GET /readyz`` fails when the
heartbeat is older than ``[jobs] heartbeat_max_age_seconds``. With the SQLite job queue the
consumer runs on this machine, so the heartbeat is a file's modification time in ``[server]
data_dir``; with Redis jobs the consumer may run on another node, so it is a Redis key.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Protocol

from moderation.config import Settings

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "worker.heartbeat"
REDIS_KEY = "moderation:worker-heartbeat"


class Heartbeat(Protocol):
    """Where the consumer's last sign of life is kept."""

    def beat(self) -> None:
        """Record that the consumer is alive now."""

    def age(self) -> float | None:
        """Seconds since the last beat; None when there has never been one (or it is unreadable)."""


class FileHeartbeat:
    """The modification time of a file: one ``utime`` a beat, one ``stat`` a check."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def beat(self) -> None:
        """Touch the file (made on the first beat)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def age(self) -> float | None:
        """Seconds since the file was last touched."""
        try:
            return max(time.time() - self.path.stat().st_mtime, 0.0)
        except OSError:
            return None


class RedisHeartbeat:
    """A Redis key holding the time of the last beat; it expires, so a dead consumer's goes."""

    def __init__(self, url: str, max_age_seconds: int) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.max_age_seconds = max_age_seconds

    def beat(self) -> None:
        """Set the key to now, expiring well after the age /readyz accepts."""
        self.client.set(REDIS_KEY, repr(time.time()), ex=self.max_age_seconds * 2)

    def age(self) -> float | None:
        """Seconds since the last beat; None when the key is missing or Redis does not answer."""
        try:
            value = self.client.get(REDIS_KEY)
        except Exception:  # Redis down: the consumer cannot be seen, so it is not ready
            log.warning("could not read the job consumer's heartbeat from Redis", exc_info=True)
            return None
        if value is None:
            return None
        return max(time.time() - float(value), 0.0)


def heartbeat_for(settings: Settings) -> Heartbeat:
    """The heartbeat that matches the job queue's storage."""
    if settings.jobs.backend == "redis":
        return RedisHeartbeat(settings.redis.url, settings.jobs.heartbeat_max_age_seconds)
    return FileHeartbeat(settings.data_path / HEARTBEAT_FILE)
