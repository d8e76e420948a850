"""A widget post's write transaction on a SQLite file, as `moderation serve` runs it: a `LeanWrite`
(`moderation.db`) when the thread exists, the session's own transaction when the post creates it.
Either way the rows land together or not at all, and side effects follow the commit."""

import pytest
from sqlalchemy import func, select, text

from moderation import db
from moderation import schema as migrations
from moderation.app import create_app
from moderation.db import Database
from moderation.models import Comment, ModerationEvent, OutboxEntry, SpamCheck
from moderation.services import build_context
from tests.conftest import make_settings


def file_app(tmp_path, **overrides):
    url = f"sqlite:///{tmp_path / 'posts.sqlite3'}"
    migrations.upgrade(url)
    settings = make_settings(tmp_path, **{"guard.flood_seconds": 0, **overrides})
    ctx = build_context(settings)
    database = Database(url)
    app = create_app(settings, database=database, context=ctx)
    return app.test_client(), database, ctx


def post(client, text_: str):
    return client.post("/api/v1/comments", json={"site": "blog", "uri": "/post/", "text": text_,
                       "author": "Ann", "email": "ann@example.org"})  # fmt: skip


def counts(database: Database) -> tuple[int, int, int, int]:
    with database.unit_of_work(write=False) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Comment, SpamCheck, ModerationEvent, OutboxEntry)
        )  # type: ignore[return-value]


def lean_writes(monkeypatch) -> list[bool]:
    """A list of what each `begin_lean_write` call answered."""
    answers: list[bool] = []
    begin = db.begin_lean_write

    def recording(session):
        answers.append(begin(session))
        return answers[-1]

    monkeypatch.setattr("moderation.services.comments.begin_lean_write", recording)
    return answers


def test_posts_to_an_existing_thread_write_in_a_lean_write_and_mail_after_it(tmp_path, monkeypatch):
    client, database, ctx = file_app(
        tmp_path, **{"mail.moderators": ["mod@example.org"], "mail.notify": "all"}
    )
    dispatched: list[int] = []
    ctx.dispatch = lambda entry_id, _delay: dispatched.append(entry_id)
    answers = lean_writes(monkeypatch)

    first = post(client, "The first, which makes the thread.")
    second = post(client, "The second, into the thread.")

    assert (first.status_code, second.status_code) == (201, 201)
    assert answers == [True]  # the first post created the thread through the ORM
    assert counts(database) == (2, 2, 2, 2)
    with database.unit_of_work(write=False) as session:
        outbox = session.execute(select(OutboxEntry.id, OutboxEntry.payload)).all()
    assert dispatched == [entry_id for entry_id, _ in outbox]
    assert [payload["comment_id"] for _, payload in outbox] == [
        first.get_json()["comment"]["id"], second.get_json()["comment"]["id"]]  # fmt: skip


@pytest.mark.expect_errors  # the failing post's 500 is logged
def test_a_post_that_fails_under_the_lock_leaves_no_row_and_the_next_one_lands(
    tmp_path, monkeypatch
):
    client, database, ctx = file_app(tmp_path)
    assert post(client, "Makes the thread.").status_code == 201
    answers = lean_writes(monkeypatch)

    def broken_hook(*_args):
        raise RuntimeError("a hook failed after the inserts")

    ctx.submission_hooks.append(broken_hook)
    failed = post(client, "Never stored.")
    ctx.submission_hooks.remove(broken_hook)
    landed = post(client, "Stored.")

    assert failed.status_code == 500
    assert failed.is_json
    assert landed.status_code == 201
    assert answers == [True, True]
    assert counts(database) == (2, 2, 2, 0)
    with database.unit_of_work(write=False) as session:
        texts = session.scalars(text("SELECT text FROM comments ORDER BY id")).all()
    assert texts == ["Makes the thread.", "Stored."]
