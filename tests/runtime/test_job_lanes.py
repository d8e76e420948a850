"""Kinds of jobs that cannot starve each other (issue 16, finding 10): a real `moderation worker`
process, an SMTP server that accepts and never answers, and linkback verifications that must not
wait behind the mails. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from moderation.config import load_settings
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import OutboxEntry
from moderation.services import build_context, outbox, verification
from moderation.storage.db import Database
from tests.factories import make_comment, make_thread
from tests.fakes.black_hole import BlackHole
from tests.fakes.web_site import FakeSite, send

pytestmark = pytest.mark.slow

CONFIG = """
[server]
secret_key = "lanes-test-secret-key-0123456789"
public_url = "http://127.0.0.1:1"
data_dir = "{folder}/var"
[database]
url = "{db_url}"
[sites.blog]
url = "https://blog.example.org"
origins = ["https://blog.example.org"]
[mail]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
moderators = ["mod@example.org"]
notify = "all"
[fetch]
allow_private = true
timeout = 5.0
"""

TARGET = "https://blog.example.org/post/"
MAILS = 6
MENTIONS = 3


def wait_for(condition, seconds=60.0):
    """Poll `condition` until it holds; the bound only ends a test that would otherwise hang."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def aware(moment):
    """SQLite gives naive UTC datetimes back, PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entries(database, kind):
    with database.read() as s:
        return list(s.scalars(select(OutboxEntry).where(OutboxEntry.kind == kind)))


def test_every_outbox_kind_has_a_lane():
    from moderation.runtime.jobs import lane_of

    assert lane_of("mail") == "mail"
    assert lane_of("akismet_feedback") == lane_of("recheck") == "akismet"
    assert lane_of(verification.VERIFY) == "fetch"
    assert lane_of("some_future_kind") == "other"


def test_a_hanging_smtp_server_does_not_hold_up_linkback_verification(tmp_path, db_url, session):
    source = FakeSite()
    # A source without the link: its verification settles quickly (spam), with no scoring.
    source.routes["/reply"] = lambda h: send(h, 200, b"<p>No link to the post here.</p>")
    with BlackHole() as smtp, source:
        (tmp_path / "config.toml").write_text(
            CONFIG.format(folder=tmp_path, db_url=db_url, smtp_port=smtp.port)
        )
        settings = load_settings(tmp_path / "config.toml", {})
        database = Database(db_url)
        ctx = build_context(settings)  # no dispatch: the worker's first sweep finds the entries
        thread = make_thread(session, uri="/post/")
        held = make_comment(session, thread, status=CommentStatus.pending)
        mentions = [
            make_comment(
                session,
                thread,
                status=CommentStatus.pending,
                kind=CommentKind.webmention,
                source=f"http://127.0.0.1:{source.port}/reply?n={n}",
                text="",
            )
            for n in range(MENTIONS)
        ]
        with database.write() as tx:
            for _ in range(MAILS):  # queued first, so a single pool would take them first
                outbox.enqueue(
                    tx,
                    ctx,
                    "mail",
                    {
                        "comment_id": held.id,
                        "to": "mod@example.org",
                        "event": "new",
                        "status": "pending",
                        "nonce": secrets.token_urlsafe(16),
                    },
                )
        with database.write() as tx:
            for mention in mentions:
                outbox.enqueue(
                    tx,
                    ctx,
                    verification.VERIFY,
                    {"comment_id": mention.id, "target": TARGET, "give_up_at": None},
                )
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moderation.cli",
                "--config",
                str(tmp_path / "config.toml"),
                "worker",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.log").open("w"),
        )
        try:
            assert wait_for(
                lambda: all(e.done_at for e in entries(database, verification.VERIFY))
            ), (tmp_path / "worker.log").read_text()
            # The verifications are done while no SMTP session has even timed out yet: they did
            # not wait behind the mails.
            mails = entries(database, "mail")
            assert [m.last_error for m in mails] == [None] * MAILS
            assert wait_for(lambda: smtp.accepted >= 1)  # mail is tried meanwhile
            # Nothing is dropped: the mail that hangs fails and waits for its retry.
            assert wait_for(lambda: any(m.last_error for m in entries(database, "mail")))
            failed = [m for m in entries(database, "mail") if m.last_error]
            assert all(m.done_at is None for m in entries(database, "mail"))
            now = datetime.now(UTC)
            assert all(aware(m.next_attempt_at) > now for m in failed)
        finally:
            worker.terminate()
            worker.wait(30)
        database.dispose()
