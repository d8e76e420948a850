"""``moderation serve``: the app under Granian, a WSGI server whose HTTP side is written in Rust.

Why Granian rather than gunicorn: on this service's hot paths the server is most of the cost. Under
gunicorn's threaded workers every request crosses Python twice more than the app needs (the worker's
event loop parses it and hands it to a thread), and that loop competes for the GIL with the threads
running the app. Granian parses HTTP, keeps connections alive and writes responses outside the GIL;
Python runs only the app (docs/performance.md has the measurements).

Each worker process builds the app itself (`worker_app`), after the fork: no database connection or
SQLite handle crosses a fork. The app's modules are imported before it (`preload`), so that the
workers share their pages with the main process rather than each holding a copy.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from moderation.config import Settings, load_settings
from moderation.runtime import metrics
from moderation.runtime.logs import configure_logging
from moderation.runtime.process import limit_malloc_arenas

log = logging.getLogger(__name__)

#: Granian's own lines (start, stop, a worker that died) as JSON on stderr, like the app's.
GRANIAN_LOGGING: dict[str, Any] = {
    "formatters": {"json": {"()": "moderation.runtime.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"_granian": {"handlers": ["console"], "propagate": False}},
}

#: The settings `run` serves. Forked workers inherit them; a worker started afresh (a platform
#: whose multiprocessing spawns) reads the same file, named in ``MODERATION_CONFIG``.
_SERVED: Settings | None = None


def worker_app() -> Flask:
    """The app of one worker process (Granian calls this once in each worker)."""
    from moderation.app import create_app

    settings = _SERVED or load_settings(os.environ["MODERATION_CONFIG"])
    limit_malloc_arenas()
    configure_logging(settings.server.log_level)
    return create_app(settings)


def preload() -> None:
    """Import the app's modules (only import: nothing opens a database or a file) and freeze
    the objects made so far, before Granian forks the workers. A forked worker then shares those
    pages with this process and with the other workers for as long as nothing writes to them,
    and the frozen objects are left out of every garbage collection, which would write to each
    one. RSS per worker stays the same; the private memory of each worker is about 16 MB less
    (docs/performance.md, Memory)."""
    import moderation.app  # noqa: F401

    gc.freeze()


def run(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    config_path: Path | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; with the embedded job consumer, run `moderation worker`
    beside the server and stop it when the server has stopped."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    global _SERVED
    configure_logging(settings.server.log_level)
    limit_malloc_arenas()  # before the workers fork, so every one inherits it
    settings.data_path.mkdir(parents=True, exist_ok=True)
    # Every worker and the embedded consumer count into one directory; /metrics adds them up.
    metrics.use_directory(metrics.directory(settings.data_path), clear=True)
    address, port = host or settings.server.host, port or settings.server.port
    ensure_port_free(address, port)
    _SERVED = settings
    if config_path is not None:
        os.environ["MODERATION_CONFIG"] = str(config_path.resolve())
    server = Granian(
        "moderation.runtime.server:worker_app",
        factory=True,
        address=address,
        port=port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers or settings.server.workers,
        blocking_threads=settings.server.threads,
        log_level=LogLevels(settings.server.log_level.lower()),
        log_dictconfig=GRANIAN_LOGGING,
        log_access=False,  # the app writes its own structured access log (`moderation.runtime.logs`)
        respawn_failed_workers=True,
        workers_kill_timeout=10,
    )
    preload()
    supervisor = None
    if settings.jobs.embedded_consumer and config_path is not None:
        supervisor = ConsumerSupervisor(consumer_command(config_path))
        supervisor.start()
    try:
        server.serve()
    finally:
        if supervisor is not None:
            supervisor.stop()


class PortInUse(Exception):
    """Another process listens on the address `moderation serve` was asked to bind."""


def ensure_port_free(host: str, port: int) -> None:
    """Raise `PortInUse` when something already listens on ``host:port``.

    Granian binds its socket with ``SO_REUSEPORT`` (no option turns that off), so a second
    `moderation serve` on a busy port would start, share the port with the first, and answer
    half the connections with its own configuration and database. A test bind without
    ``SO_REUSEPORT`` fails while any socket listens there, whatever options that one set;
    ``SO_REUSEADDR`` lets it pass over connections in TIME_WAIT left by a server just stopped.
    (Another process could still take the port between this check and Granian's bind.)
    """
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(
                        f"{host}:{port} is already in use (another moderation serve?); "
                        "stop it or choose another port with --port or [server] port"
                    ) from None
                raise


def consumer_command(config_path: Path) -> list[str]:
    """`moderation worker`, so that the single-machine default needs no second command."""
    return [sys.executable, "-m", "moderation.cli", "--config", str(config_path), "worker"]


class ConsumerSupervisor:
    """Runs the job consumer beside the server and starts it again whenever it exits.

    A consumer killed by the OOM killer or ``kill -9`` used to stay dead until the next restart of
    the service, while ``/healthz`` went on answering 200 and mail piled up. Now each exit is
    logged and followed by a new consumer after a back-off: `first_delay` seconds, doubling up to
    `max_delay` while it keeps dying, back to `first_delay` once one has run `stable_after`
    seconds. Entries the dead one had claimed come back when their lease runs out (the outbox).
    """

    def __init__(
        self,
        command: list[str],
        *,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        stable_after: float = 60.0,
    ) -> None:
        self.command = command
        self.first_delay, self.max_delay, self.stable_after = first_delay, max_delay, stable_after
        self.restarts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # between starting a consumer and stopping for good
        self._stopping = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch, name="consumer-supervisor", daemon=True
        )

    def start(self) -> None:
        """Start the consumer and watch it."""
        with self._lock:
            self.process = subprocess.Popen(self.command)
        self._watcher.start()

    def _watch(self) -> None:
        delay = self.first_delay
        while True:
            process = self.process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            if ran >= self.stable_after:
                delay = self.first_delay
            log.warning(
                "the job consumer (pid %s) exited with %s after %.0f s; starting it again in %.0f s",
                process.pid,
                code,
                ran,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = subprocess.Popen(self.command)
                self.restarts += 1
            log.warning(
                "the job consumer was started again (pid %s, restart %s)",
                self.process.pid,
                self.restarts,
            )
            delay = min(delay * 2, self.max_delay)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, then stop the consumer (SIGTERM; SIGKILL after `timeout` seconds)."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None:
            _stop(process, timeout)
        self._watcher.join(timeout)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
