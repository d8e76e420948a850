"""A linkback that cannot get SQLite's write lock in time (finding 2): each protocol answers its own
temporary error, never the API's JSON, never a 400 or a 500, with a Retry-After, and the wait is
logged. Another connection holds SQLite's write lock, as another process would.

SQLite only: PostgreSQL has no database-wide write lock, so it never answers busy.
"""

from __future__ import annotations

import logging
import sqlite3
import urllib.parse
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from moderation.app import create_app
from moderation.domain import linkbacks as lb
from moderation.storage.db import Database
from tests.conftest import empty_tables, make_settings
from tests.web.linkback_helpers import TARGET

TB_URL = "/trackback/blog/post/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def busy(migrated, tmp_path, ctx) -> Iterator[Any]:
    """A test client whose writes wait 200 ms for the lock, while another connection holds it."""
    url = migrated["get"]("sqlite")
    database = Database(url, busy_timeout_ms=200)
    app = create_app(make_settings(tmp_path), database=database, context=ctx)
    app.config["TESTING"] = True
    holder = sqlite3.connect(sa.make_url(url).database or "", isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield app.test_client()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.dispose()
        empty_tables(url)


def _waited_logged(caplog: pytest.LogCaptureFixture, protocol: str) -> None:
    records = [r for r in caplog.records if r.name == "moderation.web.linkbacks"]
    assert any(
        protocol in r.getMessage() and "waited" in r.getMessage() and r.levelno == logging.WARNING
        for r in records
    ), [r.getMessage() for r in records]


def test_busy_trackback_is_a_trackback_error_with_503_and_retry_after(busy, caplog):
    client = busy
    answer = client.post(TB_URL, data={"url": "http://public.test/a", "title": "Re"})
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    ok, message = lb.parse_trackback_response(answer.data)
    assert not ok
    assert "try again" in message
    _waited_logged(caplog, "trackback")


def test_busy_pingback_is_an_xmlrpc_fault_with_retry_after(busy, caplog):
    client = busy
    body = xmlrpc.client.dumps(("http://public.test/a", TARGET), "pingback.ping")
    answer = client.post("/pingback", data=body, content_type="text/xml")
    assert answer.status_code == 200  # XML-RPC: a fault travels as 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert int(answer.headers["Retry-After"]) >= 1
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(answer.data)
    assert fault.value.faultCode == lb.FAULT_GENERIC
    assert "busy" in fault.value.faultString
    assert "try again" in fault.value.faultString
    _waited_logged(caplog, "pingback")


def test_busy_webmention_is_503_text_with_retry_after(busy, caplog):
    client = busy
    data = {"source": "http://public.test/a", "target": TARGET}
    answer = client.post("/webmention", data=urllib.parse.urlencode(data), content_type=FORM)
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "try again" in answer.text
    _waited_logged(caplog, "webmention")


def test_after_the_lock_is_free_the_same_ping_is_stored(migrated, tmp_path, ctx):
    """The busy answer wrote nothing: once the other writer is gone, the ping goes through."""
    url = migrated["get"]("sqlite")
    database = Database(url, busy_timeout_ms=200)
    app = create_app(make_settings(tmp_path), database=database, context=ctx)
    holder = sqlite3.connect(sa.make_url(url).database or "", isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")
        data = {"url": "http://public.test/a", "title": "Re"}
        assert app.test_client().post(TB_URL, data=data).status_code == 503
        holder.execute("ROLLBACK")
        assert app.test_client().post(TB_URL, data=data).status_code == 200
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM comments")).scalar_one()
        engine.dispose()
        assert count == 1
    finally:
        holder.close()
        database.dispose()
        empty_tables(url)
