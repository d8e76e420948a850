"""``moderation serve``: the app under gunicorn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from moderation.config import Settings
from moderation.logs import configure_logging
from moderation.process import limit_malloc_arenas


class Server(BaseApplication):
    """Gunicorn with its options from our settings, no config file of its own.

    The app is built in each worker after the fork (no preload), so no database connection or
    SQLite handle crosses a fork.
    """

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's config."""
        for key, value in self.options.items():
            if key in self.cfg.settings:  # e.g. control_socket_disable exists from gunicorn 27 on
                self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app (called in each worker)."""
        from moderation.app import create_app

        configure_logging(self.settings.server.log_level)
        return create_app(self.settings)


def run(
    settings: Settings, *, host: str | None = None, port: int | None = None,
    workers: int | None = None, config_path: Path | None = None,
) -> None:  # fmt: skip
    """Serve until stopped; with the embedded job consumer, run `moderation worker` beside it."""
    configure_logging(settings.server.log_level)
    limit_malloc_arenas()  # before gunicorn forks, so every worker inherits it
    settings.data_path.mkdir(parents=True, exist_ok=True)
    options = {
        "bind": f"{host or settings.server.host}:{port or settings.server.port}",
        "workers": workers or settings.server.workers,
        "worker_class": "gthread",
        "threads": settings.server.threads,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.server.log_level,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "control_socket_disable": True,
    }
    if settings.jobs.embedded_consumer and config_path is not None:
        options.update(_embedded_worker_hooks(config_path))
    Server(settings, options).run()


def _embedded_worker_hooks(config_path: Path) -> dict[str, Any]:
    """Gunicorn hooks that start `moderation worker` when the server is ready and stop it on exit,
    so the single-machine default needs no second command."""
    process: dict[str, subprocess.Popen[bytes]] = {}

    def when_ready(_server: object) -> None:
        command = [sys.executable, "-m", "moderation.cli", "--config", str(config_path), "worker"]
        process["worker"] = subprocess.Popen(command)

    def on_exit(_server: object) -> None:
        worker = process.pop("worker", None)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()

    return {"when_ready": when_ready, "on_exit": on_exit}
