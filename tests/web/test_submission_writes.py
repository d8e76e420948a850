"""A widget post's write, as `moderation serve` runs it, on a real SQLite file and on PostgreSQL: the
comment, its spam check, its audit row and its outbox row are written in one `Database.write` and
committed together, or not at all; the outbox entry is dispatched only after the commit."""

import logging
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text

from moderation.app import create_app
from moderation.models import Comment, ModerationEvent, OutboxEntry, SpamCheck, Thread
from moderation.services import build_context
from moderation.storage.db import Database
from moderation.web import current
from tests.conftest import make_settings, reconfigure

MAIL = {"mail.moderators": ["mod@example.org"], "mail.notify": "all"}  # an outbox row per post


def production_app(tmp_path, database):
    """The app with the production context (its submission hooks mail the moderator through the
    outbox) over the test's database; dispatches are recorded instead of run, each with the row
    counts another connection sees at that moment."""
    settings = make_settings(tmp_path, **{"guard.flood_seconds": 0, **MAIL})
    dispatched: list[tuple[int, tuple[int, int, int, int]]] = []

    def record(entry_id: int, _delay: float | None) -> None:
        dispatched.append((entry_id, counts(database)))

    app = create_app(settings, database=database, context=build_context(settings, dispatch=record))
    return app, dispatched


def post(client, text_: str, uri: str = "/post/"):
    return client.post(
        "/api/v1/comments",
        json={
            "site": "blog",
            "uri": uri,
            "text": text_,
            "author": "Ann",
            "email": "ann@example.org",
        },
    )


def counts(database: Database) -> tuple[int, int, int, int]:
    """Comments, spam checks, audit rows and outbox rows, as a connection of its own sees them."""
    with database.read() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Comment, SpamCheck, ModerationEvent, OutboxEntry)
        )  # type: ignore[return-value]


def watch_writes(monkeypatch, database: Database) -> tuple[list[str], list[tuple[int, ...]]]:
    """Every `database.write` the app begins, and for each one that ends normally the row counts
    another connection sees at its end, after its last flush and before its commit."""
    began: list[str] = []
    before_commit: list[tuple[int, ...]] = []
    write = database.write

    @contextmanager
    def watched():
        with write() as tx:
            began.append("write")
            yield tx
            tx.flush()
            before_commit.append(counts(database))

    monkeypatch.setattr(database, "write", watched)
    return began, before_commit


def test_a_post_writes_its_rows_in_one_write_and_dispatches_after_the_commit(
    tmp_path, database, monkeypatch
):
    app, dispatched = production_app(tmp_path, database)
    client = app.test_client()
    began, before_commit = watch_writes(monkeypatch, database)

    first = post(client, "The first, which makes the thread.")
    second = post(client, "The second, into the thread.")

    assert (first.status_code, second.status_code) == (201, 201)
    assert began == ["write", "write"]  # one write per post, the thread's creation included
    # Until its commit, another connection sees none of a post's rows ...
    assert before_commit == [(0, 0, 0, 0), (1, 1, 1, 1)]
    assert counts(database) == (2, 2, 2, 2)
    with database.read() as session:
        outbox = session.execute(
            select(OutboxEntry.id, OutboxEntry.payload).order_by(OutboxEntry.id)
        ).all()
    assert [payload["comment_id"] for _, payload in outbox] == [
        first.get_json()["comment"]["id"],
        second.get_json()["comment"]["id"],
    ]
    # ... and each dispatch came after the commit: it saw all of them.
    assert dispatched == [(outbox[0][0], (1, 1, 1, 1)), (outbox[1][0], (2, 2, 2, 2))]


@pytest.mark.expect_errors  # the failing post's 500 is logged (checked below)
@pytest.mark.parametrize("uri", ["/post/", "/new/"], ids=["thread-exists", "post-makes-thread"])
def test_a_post_that_fails_inside_its_write_leaves_no_row_and_the_next_one_lands(
    tmp_path, database, monkeypatch, caplog, uri
):
    app, dispatched = production_app(tmp_path, database)
    client = app.test_client()
    assert post(client, "Makes the thread.").status_code == 201
    began, before_commit = watch_writes(monkeypatch, database)
    seen_in_the_write: list[int] = []

    def broken_hook(tx, *_args):  # after the inserts and the notification's outbox row
        seen_in_the_write.append(tx.scalar(select(func.count()).select_from(OutboxEntry)))
        raise RuntimeError("a hook failed after the inserts")

    hooks = current.parts(app).context.submission_hooks
    reconfigure(app, submission_hooks=(*hooks, broken_hook))
    with caplog.at_level(logging.ERROR):
        failed = post(client, "Never stored.", uri)
    reconfigure(app, submission_hooks=hooks)
    landed = post(client, "Stored.", uri)

    assert failed.status_code == 500
    assert failed.is_json
    assert failed.get_json()["error"]["code"] == "internal_error"
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.getMessage() == "unhandled error on POST /api/v1/comments"
    assert isinstance(logged.exc_info[1], RuntimeError)
    assert landed.status_code == 201
    assert began == ["write", "write"]
    assert seen_in_the_write == [2]  # the failed post had written its rows, outbox row included
    assert before_commit == [(1, 1, 1, 1)]  # (the failed write never reached its commit)
    assert counts(database) == (2, 2, 2, 2)
    with database.read() as session:
        texts = session.scalars(text("SELECT text FROM comments ORDER BY id")).all()
        threads = session.scalars(select(Thread.uri).order_by(Thread.id)).all()
        outbox = session.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id)).all()
    assert texts == ["Makes the thread.", "Stored."]
    assert threads == sorted({"/post/", uri}, key=["/post/", "/new/"].index)
    assert [entry_id for entry_id, _ in dispatched] == outbox  # nothing for the rolled-back post
