"""Rate-limit counters that every worker process on one machine shares.

The rate limits keep counters in a `limits` storage. Its memory storage is per process, so with several
worker processes a client would get N times its limit. When no Redis is configured we keep the counters
in a small SQLite file instead: each increment is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
statement, atomic on its own, so increments from different processes serialize and a limit holds
exactly. Redis (``[redis] url``) replaces this for
several machines.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import cast

from limits.storage import Storage

from moderation.storage.sqlite import when_unlocked

SCHEME = "moderation-sqlite"


def storage_uri(path: Path) -> str:
    """The `limits` storage URI for a counter file at `path`."""
    return f"{SCHEME}://{path.resolve()}"


class SQLiteStorage(Storage):
    """A fixed-window counter store in one SQLite file, safe across processes and threads."""

    STORAGE_SCHEME = [SCHEME]
    #: How long a write waits for another process's write to finish before it fails.
    BUSY_TIMEOUT = 10.0

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.split("://", 1)[1]
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries: we wait in short
        # steps ourselves instead (`_write`, through `storage.sqlite.when_unlocked`), and SQLite gives up at once.
        self._conn = sqlite3.connect(
            self.path, timeout=self.BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Counters live for a minute or an hour: losing the last ones in a power cut is harmless,
        # an fsync on every request is not.
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER, expires REAL)"
        )
        self._conn.execute("PRAGMA busy_timeout=0")

    @property
    def base_exceptions(self) -> type[Exception]:
        """What this storage raises when it fails."""
        return sqlite3.Error

    def _write(self, sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        """Run one writing statement (atomic on its own), retrying while another process writes."""

        def attempt() -> list[tuple[object, ...]]:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()

        return when_unlocked(attempt, self.BUSY_TIMEOUT)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to the counter, starting a new window of `expiry` seconds if none is open."""
        now = time.time()
        # One statement, so one short write lock: a counter whose window has closed starts again.
        ((value,),) = self._write(
            "INSERT INTO counters (key, value, expires) VALUES (:key, :amount, :expires) "
            "ON CONFLICT (key) DO UPDATE SET "
            "value = CASE WHEN expires <= :now THEN excluded.value ELSE value + excluded.value END, "
            "expires = CASE WHEN expires <= :now THEN excluded.expires ELSE expires END "
            "RETURNING value",
            {"key": key, "amount": amount, "expires": now + expiry, "now": now},
        )
        return cast(int, value)

    def decr(self, key: str, amount: int = 1) -> int:
        """Take `amount` off the counter (never below zero)."""
        self._write(
            "UPDATE counters SET value = MAX(value - :amount, 0) WHERE key = :key",
            {"key": key, "amount": amount},
        )
        return self.get(key)

    def get(self, key: str) -> int:
        """The counter's value in its current window (0 when none is open)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time())
            ).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        """When the counter's window ends (now when none is open)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT expires FROM counters WHERE key = ?", (key,)
            ).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        """Whether the file answers."""
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter."""
        return len(self._write("DELETE FROM counters RETURNING key", {}))

    def clear(self, key: str) -> None:
        """Forget one counter."""
        self._write("DELETE FROM counters WHERE key = :key", {"key": key})
