"""What `create_app` built, for the views, and the current request's database work.

Typed accessors (`settings()`, `context()`, `database()`, ...) instead of string keys into
``app.extensions`` in every blueprint.

A request reads through `session()`: a read-only session (`Database.read`) opened on first use and
closed when the request ends. A view that writes says so where it does, once::

    with current.write() as tx:
        comment = comments.store_comment(tx, ctx, draft)

which is `Database.write` (the write lock and the commit) for this request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.runtime.cache import Cache
from moderation.runtime.jobs import Jobs
from moderation.services import Context
from moderation.storage.db import Database, WriteSession

KEY = "moderation"  # in `app.extensions`
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Parts:
    """The collaborators one app is built from (`moderation.app.create_app`)."""

    database: Database
    context: Context
    jobs: Jobs
    cache: Cache
    trusted_proxies: tuple[Network, ...]
    rate_limits: FixedWindowRateLimiter


def install(app: Flask, parts: Parts) -> None:
    """Make `parts` the app's, and close each request's read session when the request ends."""
    app.extensions[KEY] = parts
    app.teardown_appcontext(_close_session)


def parts(app: Flask | None = None) -> Parts:
    """The parts of `app` (default: the current app)."""
    found: Parts = (app or current_app).extensions[KEY]
    return found


def settings() -> Settings:
    """The settings (the context's)."""
    return parts().context.settings


def context() -> Context:
    """The services' context."""
    return parts().context


def database() -> Database:
    """The database."""
    return parts().database


def cache() -> Cache:
    """The thread cache."""
    return parts().cache


def jobs() -> Jobs:
    """The job queue."""
    return parts().jobs


def session() -> Session:
    """This request's read-only session, opened on first use."""
    opened: tuple[AbstractContextManager[Session], Session] | None = g.get("_db_read")
    if opened is None:
        manager = database().read()
        opened = g._db_read = (manager, manager.__enter__())
    return opened[1]


@contextmanager
def write() -> Iterator[WriteSession]:
    """This request's write (`Database.write`); a request writes once. What the request's read
    session had loaded is forgotten afterwards, so later reads see the write."""
    if g.get("_db_wrote"):
        raise RuntimeError("a request writes once: put its writes in one `with current.write()`")
    g._db_wrote = True
    with database().write() as tx:
        yield tx
    opened = g.get("_db_read")
    if opened is not None:
        opened[1].expire_all()


def _close_session(_exc: BaseException | None) -> Any:
    opened = g.pop("_db_read", None)
    if opened is not None:
        opened[0].__exit__(None, None, None)
