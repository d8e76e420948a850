"""A same-machine change stamp for a SQLite database: which readers can trust what they last read.

The read fast path (`moderation.web.fastpath`) asks the database for a thread's version on every
read, and that one query is about a third of a cached read's cost. On SQLite every process that
can write the database is on this machine, so they can tell each other cheaply that something
changed: each write commit stores a new random stamp in a small shared file (memory-mapped, so a
read of it is a memory read, no system call). A reader takes the stamp before it queries and keeps
what it read with that stamp; as long as the stamp is the same, nothing was committed since, and
what it read is still what the database holds.

The order is what makes it safe. A writer stores its stamp after its commit is visible (when the
connection goes back to the pool), so a reader that sees the old stamp either read before the
commit and will see the new stamp next time, or read after it and holds the new data under an old
stamp (a needless query next time, never a stale answer). A new stamp is 64 random bits rather
than one more, so two processes that commit at once cannot in practice store the same value.

What it cannot see (a write by another program, a writer killed between its commit and its stamp),
readers bound: they trust a stamp for `TRUST_SECONDS` at most, then ask the database again.
PostgreSQL (several machines) has no such file; readers always ask it.
"""

from __future__ import annotations

import mmap
import os
import random
from pathlib import Path

TRUST_SECONDS = 1.0
_SIZE = 8


class ChangeStamp:
    """The shared stamp of one SQLite database file, kept in ``<database>-changes`` beside it."""

    def __init__(self, database_path: str | os.PathLike[str]) -> None:
        self.path = Path(f"{database_path}-changes")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            new = os.fstat(fd).st_size < _SIZE
            if new:
                os.ftruncate(fd, _SIZE)  # every process may do this; the size is all it sets
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._random = random.SystemRandom()  # not a seeded generator: forked workers share those
        if new:
            self.bump()  # no two databases start with the same stamp

    def read(self) -> bytes:
        """The current stamp: it differs from an earlier one when a write committed in between."""
        return self._map[:_SIZE]

    def bump(self) -> None:
        """Record that a write committed (call it after the commit)."""
        self._map[:_SIZE] = self._random.getrandbits(64).to_bytes(_SIZE, "little")
