"""Background jobs in real processes: queued work survives a stopped worker, and an entry the queue
never saw is found by the sweep."""

import subprocess
import sys
import time

import pytest

from moderation.config import load_settings
from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment, OutboxEntry, SpamCheck, Thread
from moderation.runtime.jobs import Jobs
from moderation.services import build_context, outbox
from moderation.storage import migrations
from moderation.storage.db import Database
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet

pytestmark = pytest.mark.slow

CONFIG = """
[server]
secret_key = "jobs-test-secret-key-0123456789"
public_url = "http://127.0.0.1:1"
data_dir = "{folder}/var"
[database]
url = "sqlite:///{folder}/jobs.db"
[sites.blog]
url = "https://blog.example.org"
origins = ["https://blog.example.org"]
[akismet]
key = "{key}"
endpoint = "{endpoint}"
timeout = 2.0
"""


@pytest.fixture
def setup(tmp_path):
    with FakeAkismet() as fake:
        text = CONFIG.format(folder=tmp_path, key=FAKE_KEY, endpoint=fake.url)
        (tmp_path / "config.toml").write_text(text)
        settings = load_settings(tmp_path / "config.toml", {})
        migrations.upgrade(settings.database.url)
        yield tmp_path, settings, fake


def held_comment(database, ctx):
    with database.write() as session:
        thread = Thread(site="blog", uri="/p/")
        comment = Comment(
            thread=thread,
            kind=CommentKind.comment,
            status=CommentStatus.spam,
            author="Ann",
            email="ann@example.org",
            ip="203.0.113.9",
            text="x",
            html="<p>x</p>",
        )
        session.add(comment)
        session.flush()
        session.add(
            SpamCheck(
                comment_id=comment.id,
                verdict=Verdict.spam,
                score=5.0,
                signals=[],
                submitted={
                    "kind": "comment",
                    "site": "blog",
                    "site_url": "https://blog.example.org",
                    "permalink": "https://blog.example.org/p/",
                    "text": "x",
                    "author": "Ann",
                    "ip": "203.0.113.9",
                },
            )
        )
        return comment.id


def start_worker(folder):
    return subprocess.Popen(
        [sys.executable, "-m", "moderation.cli", "--config", str(folder / "config.toml"), "worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_queued_job_survives_until_a_worker_starts(setup):
    folder, settings, fake = setup
    database = Database(settings.database.url)
    ctx = build_context(settings)
    Jobs(settings, database, ctx)  # queues into the SQLite job file; no consumer runs yet
    comment_id = held_comment(database, ctx)
    with database.write() as session:
        outbox.enqueue(
            session, ctx, "akismet_feedback", {"comment_id": comment_id, "verdict": "ham"}
        )
    time.sleep(0.5)
    assert fake.requests_to("submit-ham") == []  # nothing runs without a worker
    worker = start_worker(folder)
    try:
        assert wait_for(lambda: len(fake.requests_to("submit-ham")) == 1)
        assert fake.requests_to("submit-ham")[0].form["user_ip"] == "203.0.113.9"
    finally:
        worker.terminate()
        worker.wait(10)


def test_entry_the_queue_never_saw_is_swept_up(setup):
    folder, settings, fake = setup
    database = Database(settings.database.url)
    ctx = build_context(settings)  # no Jobs: ctx.dispatch is None, as if the process died at commit
    comment_id = held_comment(database, ctx)
    with database.write() as session:
        entry_id = outbox.enqueue(
            session, ctx, "akismet_feedback", {"comment_id": comment_id, "verdict": "spam"}
        )
    worker = start_worker(folder)
    try:
        assert wait_for(lambda: len(fake.requests_to("submit-spam")) == 1)
        with database.read() as session:
            assert wait_for(
                lambda: session.get(OutboxEntry, entry_id, populate_existing=True).done_at
            )
    finally:
        worker.terminate()
        worker.wait(10)


def test_failed_entry_is_kept_with_its_error_and_retried(setup):
    _, settings, fake = setup
    database = Database(settings.database.url)
    ctx = build_context(settings)
    comment_id = held_comment(database, ctx)
    fake.mode = "error500"
    with database.write() as session:
        entry_id = outbox.enqueue(
            session, ctx, "akismet_feedback", {"comment_id": comment_id, "verdict": "spam"}
        )
    assert outbox.run_entry(database, ctx, entry_id) == 60.0
    with database.read() as session:
        entry = session.get(OutboxEntry, entry_id)
        assert entry.attempts == 1
        assert entry.done_at is None
        assert "500" in entry.last_error
    assert outbox.run_entry(database, ctx, entry_id) is None  # not due yet: nothing happens
    assert len(fake.requests_to("submit-spam")) == 1
