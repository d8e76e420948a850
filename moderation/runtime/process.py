"""Settings for the service's long-running processes (`moderation serve`, `moderation worker`), and
how the threads of one process take turns at submissions."""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# glibc's mallopt() parameter for the number of malloc arenas (malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process and the workers it forks; True when it applied.

    glibc gives threads arenas of their own, up to eight per core; each keeps freed memory for
    itself, so a worker whose four threads take turns at the same work holds that memory four
    times over. Two arenas keep a server worker several megabytes smaller at no measurable cost
    in speed (docs/performance.md). The same as ``MALLOC_ARENA_MAX=2``, but it
    needs no wrapper script; a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols, libc's among them
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


# --- the submission gate -------------------------------------------------------------------------

_SUBMISSION_GATE = threading.Lock()
_holding = threading.local()


@contextmanager
def one_submission_at_a_time() -> Iterator[None]:
    """Run the block while no other thread of this process runs a submission's block.

    A submission is CPU work (Markdown, scoring, signing) around a short write under SQLite's
    write lock, which the other processes wait for. Python runs one thread at a time anyway, so
    letting a process's threads interleave their submissions buys no parallelism; it only makes
    the thread that holds the write lock wait for the interpreter behind the others' scoring, and
    every process behind it waits too; one at a time, posts are faster (docs/performance.md).
    Network waits inside the block
    (`waiting_on_network`) let the next submission in; reads never wait for the gate. (The web
    layer takes the gate on SQLite only: on PostgreSQL there is no single write lock to queue for,
    and interleaved submissions overlap their round trips to the server.)
    """
    _SUBMISSION_GATE.acquire()
    _holding.gate = True
    try:
        yield
    finally:
        _holding.gate = False
        _SUBMISSION_GATE.release()


@contextmanager
def waiting_on_network() -> Iterator[None]:
    """Let other submissions run while this thread waits on a remote service (Akismet)."""
    if not getattr(_holding, "gate", False):
        yield
        return
    _holding.gate = False
    _SUBMISSION_GATE.release()
    try:
        yield
    finally:
        _SUBMISSION_GATE.acquire()
        _holding.gate = True
