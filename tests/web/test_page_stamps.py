"""Per-page change stamps (`moderation.storage.sqlite`): a change on one page is read at once on
that page by every worker, and never leaves a stale answer on another page, on SQLite and on
PostgreSQL (which has no stamps: its workers always ask it). Two apps share one database, each with
its own engines, cache, stamp mapping and fast path, as two worker processes do; the writes go
through the production paths (the moderation API, the services inside `Database.write`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from moderation.app import create_app
from moderation.domain.states import Action, CommentStatus
from moderation.models import Thread
from moderation.services import accounts, build_context, imports, privacy, queue
from moderation.services.moderation import Actor
from moderation.storage import sqlite
from moderation.storage.db import Database
from moderation.web import current, fastpath
from tests.conftest import SITE_URL, make_settings
from tests.factories import make_comment, make_thread

THREAD = "/api/v1/threads/comments"
MODERATOR = Actor("token:stamps")


class Worker:
    """One app over its own `Database`, as a worker process of `moderation serve`."""

    def __init__(self, settings: Any, db_url: str) -> None:
        self.database = Database(db_url)
        ctx = build_context(settings)
        self.app = create_app(settings, database=self.database, context=ctx)
        self.client = self.app.test_client()
        self.ctx = current.parts(self.app).context

    def page(self, uri: str) -> dict[str, Any]:
        r = self.client.get(THREAD, query_string={"site": "blog", "uri": uri})
        assert r.status_code == 200, r.get_json()
        return dict(r.get_json())

    def texts(self, uri: str) -> list[str]:
        return [c["html"] for c in self.page(uri)["comments"]]

    def counts(self, *uris: str) -> dict[str, int]:
        r = self.client.get(
            "/api/v1/counts", query_string=[("site", "blog")] + [("uri", u) for u in uris]
        )
        assert r.status_code == 200, r.get_json()
        return dict(r.get_json()["counts"])

    def post(self, uri: str, text: str, email: str = "poster@example.org") -> None:
        body = {"site": "blog", "uri": uri, "text": text, "author": "Poster", "email": email}
        r = self.client.post("/api/v1/comments", json=body)
        assert r.status_code == 201, r.get_json()


@pytest.fixture
def workers(db_url: str, tmp_path: Any) -> Iterator[tuple[Worker, Worker]]:
    settings = make_settings(tmp_path, **{"guard.flood_seconds": 0})
    pair = (Worker(settings, db_url), Worker(settings, db_url))
    yield pair
    for worker in pair:
        worker.database.dispose()


def warm(workers: tuple[Worker, ...], *uris: str) -> None:
    """Every worker reads every page a few times: built, cached, then kept by the fast path."""
    for worker in workers:
        for uri in uris:
            for _ in range(3):
                worker.page(uri)


def asked_for_threads(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """A list that grows by the (site, uri) each time `worker`'s fast path asks for a thread row."""
    asked: list[tuple[Any, ...]] = []
    raw_rows = worker.database.raw_rows

    def counting(sql: str, params: Any) -> list[tuple[Any, ...]]:
        asked.extend([tuple(params)] if sql == fastpath.FIND_THREAD else [])
        return raw_rows(sql, params)

    monkeypatch.setattr(worker.database, "raw_rows", counting)
    return asked


def test_an_approval_on_one_page_is_read_by_both_workers_and_the_other_page_stays(workers, session):
    first, second = workers
    first.post("/a/", "shown on a")
    second.post("/b/", "shown on b")
    held = make_comment(session, make_thread(session, uri="/h/"), status=CommentStatus.pending)
    thread_a = session.query(Thread).filter_by(uri="/a/").one()
    waiting = make_comment(
        session, thread_a, status=CommentStatus.pending, text="waited on a", email="w@example.org"
    )
    token = accounts.create_api_token(session, first.ctx, "stamps")[1]
    warm(workers, "/a/", "/b/")
    b_before = [w.page("/b/") for w in workers]

    r = second.client.post(
        f"/api/v1/moderation/comments/{waiting.id}/approve",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.get_json()

    for worker in workers:
        assert worker.texts("/a/") == ["<p>shown on a</p>", "<p>waited on a</p>"]
        assert worker.page("/a/")["thread"]["count"] == 2
        assert worker.page("/b/") == b_before[0] == b_before[1]
    assert held.status is CommentStatus.pending  # (another page's held comment: untouched)


def test_a_post_on_one_page_leaves_the_answers_kept_for_the_others(workers, monkeypatch):
    first, second = workers
    first.post("/a/", "one")
    first.post("/b/", "two")
    warm(workers, "/a/", "/b/")
    asked = asked_for_threads(second, monkeypatch)
    first.post("/a/", "three")
    assert second.texts("/a/") == ["<p>one</p>", "<p>three</p>"]
    assert second.texts("/b/") == ["<p>two</p>"]
    if first.database.changes is None:  # PostgreSQL: every read asks for the thread's row
        assert ("blog", "/b/") in asked
    else:  # SQLite: only the page that changed was asked for again
        assert ("blog", "/b/") not in asked
        assert ("blog", "/a/") in asked


def test_counts_follow_every_change_of_their_pages(workers, session):
    first, second = workers
    first.post("/a/", "one")
    first.post("/b/", "two")
    for worker in workers:  # kept, counting a page that has no thread yet
        for _ in range(2):
            assert worker.counts("/a/", "/b/", "/new/") == {"/a/": 1, "/b/": 1, "/new/": 0}
    second.post("/new/", "first on a new page")  # the thread is created by this write
    first.post("/a/", "again")
    for worker in workers:
        assert worker.counts("/a/", "/b/", "/new/") == {"/a/": 2, "/b/": 1, "/new/": 1}


def test_a_bulk_action_over_two_pages_is_read_at_once(workers, session):
    first = workers[0]
    first.post("/a/", "shown on a")
    first.post("/b/", "shown on b")
    threads = {t.uri: t for t in session.query(Thread).all()}
    held = [
        make_comment(session, threads[uri], status=CommentStatus.pending, text=f"held {uri}")
        for uri in ("/a/", "/b/")
    ]
    warm(workers, "/a/", "/b/")
    with first.database.write() as tx:
        batch = queue.act_on_many(tx, first.ctx, [c.id for c in held], Action.approve, MODERATOR)
    assert batch.done == 2
    for worker in workers:
        assert worker.texts("/a/") == ["<p>shown on a</p>", "<p>held /a/</p>"]
        assert worker.texts("/b/") == ["<p>shown on b</p>", "<p>held /b/</p>"]
        assert worker.counts("/a/", "/b/") == {"/a/": 2, "/b/": 2}


def test_a_privacy_erase_is_read_at_once(workers):
    first, second = workers
    first.post("/a/", "by ann", email="ann@example.org")
    first.post("/b/", "by bob", email="bob@example.org")
    warm(workers, "/a/", "/b/")
    with second.database.write() as tx:
        assert privacy.erase_personal_data(tx, second.ctx, "ann@example.org") == 1
    for worker in workers:
        assert [c["author"] for c in worker.page("/a/")["comments"]] != ["Poster"]
        assert [c["author"] for c in worker.page("/b/")["comments"]] == ["Poster"]


def test_an_import_into_a_page_being_read_is_read_at_once(workers, tmp_path):
    first, second = workers
    first.post("/a/", "posted here")
    warm(workers, "/a/")
    document = {
        "format": "moderation-export",
        "version": 1,
        "site": {"id": "blog", "url": SITE_URL},
        "threads": [
            {
                "uri": "/a/",
                "comments": [
                    {
                        "id": "c" * 32,
                        "parent": None,
                        "kind": "comment",
                        "status": "approved",
                        "text": "imported",
                        "created_at": "2025-01-01T00:00:00+00:00",
                    }
                ],
            }
        ],
    }
    path = tmp_path / "import.json"
    path.write_text(json.dumps(document))
    imports.run_import(second.database, second.ctx, "blog", "json", path)
    for worker in workers:
        assert sorted(worker.texts("/a/")) == ["<p>imported</p>", "<p>posted here</p>"]


def test_a_write_over_more_pages_than_are_told_apart_changes_every_answer(workers, session):
    first = workers[0]
    first.post("/a/", "shown on a")
    thread_a = session.query(Thread).filter_by(uri="/a/").one()
    waiting = make_comment(session, thread_a, status=CommentStatus.pending, text="waited")
    warm(workers, "/a/")
    changes = first.database.changes
    before = None if changes is None else changes.read()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with first.database.write() as tx:  # more pages than one write bumps one by one
        tx.execute(
            insert(Thread),
            [
                {"site": "blog", "uri": f"/many/{i}/", "created_at": when, "version": 1}
                for i in range(sqlite.MANY_PAGES * 2)
            ],
        )
        queue.act_on_many(tx, first.ctx, [waiting.id], Action.approve, MODERATOR)
    if changes is not None:
        assert changes.read() != before  # the database's stamp: every kept answer is asked again
    for worker in workers:
        assert worker.texts("/a/") == ["<p>shown on a</p>", "<p>waited</p>"]
