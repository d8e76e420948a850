"""The whole app on a real loopback port, in a thread, over its own migrated SQLite file.

The port is taken first, because the app's settings need its URL; `serve` then starts the app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from moderation.storage import migrations
from moderation.storage.db import Database


class AppServer:
    """A threaded WSGI server bound to a free port, waiting for its app."""

    def __init__(self, tmp: Path) -> None:
        self.db_url = f"sqlite:///{tmp / 'moderation.sqlite3'}"
        migrations.upgrade(self.db_url)
        self.database = Database(self.db_url)
        self._app: Any = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="app-server", daemon=True
        )

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._app(environ, start_response)

    def serve(self, app: Any) -> None:
        """Start answering with `app`."""
        self._app = app
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self.database.dispose()


@contextmanager
def app_server(tmp: Path) -> Iterator[AppServer]:
    """An `AppServer` over a database in `tmp`, shut down on leaving."""
    server = AppServer(tmp)
    try:
        yield server
    finally:
        server.close()
