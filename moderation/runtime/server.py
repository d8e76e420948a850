"""``moderation serve``: the app under Granian, a WSGI server whose HTTP side is written in Rust.

Why Granian rather than gunicorn: on this service's hot paths the server is most of the cost. Under
gunicorn's threaded workers every request crosses Python twice more than the app needs (the worker's
event loop parses it and hands it to a thread), and that loop competes for the GIL with the threads
running the app. Granian parses HTTP, keeps connections alive and writes responses outside the GIL;
Python runs only the app (docs/performance.md has the measurements).

Each worker process builds the app itself (`worker_app`), after the fork: no database connection or
SQLite handle crosses a fork.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Flask

from moderation.config import Settings, load_settings
from moderation.runtime.logs import configure_logging
from moderation.runtime.process import limit_malloc_arenas

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
    consumer = None
    if settings.jobs.embedded_consumer and config_path is not None:
        consumer = _start_consumer(config_path)
    try:
        server.serve()
    finally:
        if consumer is not None:
            _stop(consumer)


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


def _start_consumer(config_path: Path) -> subprocess.Popen[bytes]:
    """`moderation worker`, so that the single-machine default needs no second command."""
    command = [sys.executable, "-m", "moderation.cli", "--config", str(config_path), "worker"]
    return subprocess.Popen(command)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
