"""The public-thread cache: each thread's JSON is built once per change.

Keys carry the thread's version, which every state change bumps in the database, so a changed
thread is simply a new key: nothing is ever invalidated by hand, and every worker and node sees a
change at once because the version comes from the shared database. Old keys age out (LRU locally,
a TTL in Redis). Redis outlives a restart, so its keys also carry a fingerprint of the settings the
JSON is made from (the public URL and the sites'): a changed setting is a new set of keys there too.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from moderation.config import Settings


class Cache(Protocol):
    """Bytes by key."""

    def get(self, key: str) -> bytes | None:
        """The stored value, or None."""
        ...

    def set(self, key: str, value: bytes) -> None:
        """Store a value."""
        ...


class LocalCache:
    """An in-process LRU of at most `size` entries (one per worker process)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The value, marked as recently used."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        """Store, evicting the least recently used entry past `size`."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class RedisCache:
    """Entries shared by every node, each kept for `ttl` seconds after it was built."""

    def __init__(self, url: str, ttl: int = 86400, prefix: str = "moderation:cache:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl = ttl
        self.prefix = prefix

    def get(self, key: str) -> bytes | None:
        """The value, or None (also when Redis does not answer: the caller builds it)."""
        try:
            return self.client.get(self.prefix + key)  # type: ignore[return-value]
        except Exception:  # redis down: serve from the database, never fail a read
            return None

    def set(self, key: str, value: bytes) -> None:
        """Store with the TTL (a failure only costs a rebuild next time)."""
        try:
            self.client.set(self.prefix + key, value, ex=self.ttl)
        except Exception:  # best effort, as get()
            return


class Turns:
    """One builder at a time per key, in this process: when a thread's version changes, the
    readers that miss together wait for the first one's build and then find it in the cache,
    instead of each building the same JSON under the GIL."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key: (lock, holders and waiters)

    @contextmanager
    def turn(self, key: str) -> Iterator[None]:
        """Hold `key`'s turn for the block (look in the cache again first thing inside it)."""
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            lock = lock or threading.Lock()
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                _, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """Keys with a builder or a waiter now."""
        return len(self._locks)


def make_cache(settings: Settings) -> Cache:
    """Redis when ``[redis] url`` is set, else a per-process LRU."""
    if settings.redis.url:
        return RedisCache(settings.redis.url, prefix=f"moderation:cache:{fingerprint(settings)}:")
    return LocalCache()


def fingerprint(settings: Settings) -> str:
    """A short hash of what the public JSON depends on besides the data: the public URL (links)
    and every site's settings (avatars, the signed TrackBack URLs, when threads close...)."""
    shape = repr((settings.server.public_url, sorted(settings.sites.items())))
    return hashlib.sha256(shape.encode()).hexdigest()[:16]
