"""`services.imports` and `services.exports` on the test's database (SQLite and PostgreSQL): what an
import stores (kinds, statuses, parents, times, votes, sanitized HTML), what pages then show, that
running it again adds nothing, that a malformed file writes nothing, and our JSON's round trip."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import MalformedExport
from moderation.models import ClassifierCount, ClassifierDecision, Comment, ModerationEvent, Thread
from moderation.scorers.classifier.model import DECISION_WEIGHT
from moderation.services import exports, imports
from tests.conftest import SITE_URL, empty_tables
from tests.factories import make_comment, make_thread

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"
ISSO = FIXTURES / "isso" / "comments.db"


def count(session, *where) -> int:
    return session.scalar(select(func.count()).select_from(Comment).where(*where))


def export_json(database, ctx, site="blog", with_ip=True) -> str:
    out = io.StringIO()
    exports.export_site(database, site, ctx.settings.sites[site], "json", out, with_ip=with_ip)
    return out.getvalue()


# --- Isso: a database written by the real Isso 0.14.0 ------------------------------------------


def test_isso_import_keeps_statuses_parents_votes_and_sanitizes(database, ctx, session, client):
    summary = imports.run_import(database, ctx, "blog", "isso", ISSO)
    assert summary.total == 19
    assert sum(summary.imported.values()) == 19
    assert summary.imported[("comment", "approved")] == 15
    assert summary.imported[("comment", "pending")] == 3
    assert summary.imported[("comment", "deleted")] == 1
    assert summary.new_threads == 3
    assert not summary.present

    hello = session.scalars(select(Thread).where(Thread.uri == "/blog/2024/hello-world/")).one()
    assert hello.approved_count == count(
        session, Comment.thread_id == hello.id, Comment.status == CommentStatus.approved
    )
    first = session.scalars(
        select(Comment).where(Comment.import_source == "isso", Comment.import_id == "1")
    ).one()
    assert (first.likes, first.dislikes) == (2, 1)
    # Isso flattened the ten-level chain: every reply of it points at comment 1, as Isso stored it
    replies = session.scalars(select(Comment.import_id).where(Comment.parent_id == first.id)).all()
    assert {"2", "3", "4", "5", "7", "8", "9", "10", "11", "12"} <= set(replies)
    assert first.created_at == datetime(2024, 1, 1, 0, 1, 0, 250000, tzinfo=UTC)  # as Isso stored

    hostile = session.scalars(
        select(Comment).where(Comment.import_source == "isso", Comment.import_id == "14")
    ).one()
    assert "<script" in hostile.text  # stored as given ...
    assert "<script" not in hostile.html
    assert "<img" not in hostile.html
    assert 'href="javascript' not in hostile.html
    assert "&lt;script&gt;" in hostile.html
    assert hostile.author == "Tom & Jerry <b>"

    page = client.get(f"/api/v1/threads/comments?site=blog&uri={hello.uri}").get_json()
    assert page["thread"]["count"] == hello.approved_count
    shown = json.dumps(page)
    assert "<script" not in shown
    audit = session.scalar(
        select(func.count()).select_from(ModerationEvent).where(ModerationEvent.action == "import")
    )
    assert audit == 19


def test_running_an_import_again_adds_nothing(database, ctx, session):
    imports.run_import(database, ctx, "blog", "isso", ISSO)
    before = count(session)
    again = imports.run_import(database, ctx, "blog", "isso", ISSO)
    assert count(session) == before == 19
    assert not again.imported
    assert sum(again.present.values()) == 19
    assert "nothing new" in "\n".join(again.lines())


def test_dry_run_reports_and_writes_nothing(database, ctx, session):
    summary = imports.run_import(database, ctx, "blog", "isso", ISSO, dry_run=True)
    assert sum(summary.imported.values()) == 19
    assert summary.new_threads == 3
    assert count(session) == 0
    assert session.scalar(select(func.count()).select_from(Thread)) == 0
    assert "would import: 15 comment approved" in "\n".join(summary.lines())


def test_learn_with_ham_only_fills_the_reserve_and_leaves_the_model_alone(database, ctx, session):
    """Isso has no spam label: learning its ham alone would lower every score (see
    `spam_history`), so its approved comments calibrate the site's cut-offs only."""
    summary = imports.run_import(database, ctx, "blog", "isso", ISSO, learn=True)
    assert summary.learned == 0
    assert session.get(ClassifierCount, "") is None  # nothing taught
    reserve = session.execute(
        select(ClassifierDecision.is_spam, func.count()).group_by(ClassifierDecision.is_spam)
    ).all()
    assert reserve == [(False, 15)]  # the approved comments
    assert session.scalar(select(func.count()).where(Comment.learned.is_not(None))) == 0
    assert "15 more ham only in the reserve" in "\n".join(summary.lines())


def test_learn_teaches_as_much_ham_as_spam_once_the_import_is_written(database, ctx, session):
    rich = FIXTURES / "disqus" / "rich.xml"
    summary = imports.run_import(database, ctx, "blog", "disqus", rich, learn=True)
    learned = dict(
        session.execute(
            select(Comment.learned, func.count())
            .where(Comment.learned.is_not(None))
            .group_by(Comment.learned)
        ).all()
    )
    assert learned == {"ham": 2, "spam": 2}
    assert summary.learned == 4
    totals = session.get(ClassifierCount, "")
    assert totals is not None
    assert (totals.ham, totals.spam) == (2 * DECISION_WEIGHT, 2 * DECISION_WEIGHT)
    lines = "\n".join(summary.lines())
    assert "the classifier learned from 4 labelled comments" in lines
    assert "learned 2 ham and 2 spam" in lines
    again = imports.run_import(database, ctx, "blog", "disqus", rich, learn=True)
    assert again.learned == 0  # nothing new to learn: each lesson is taught once


# --- our JSON --------------------------------------------------------------------------------


@pytest.fixture
def rich_site(session, clock):
    """A site with every kind and status, replies at depth ten, votes, HTML and non-ASCII text."""
    base = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    post = make_thread(session, uri="/post/", title="Grüße, 東京", created_at=base)
    other = make_thread(session, uri="/other/?p=7", title="Other", created_at=base, closed=True)
    parent = None
    for depth in range(10):
        parent = make_comment(
            session,
            post,
            text=f"level {depth} ✓",
            parent_id=parent.id if parent else None,
            created_at=base + timedelta(minutes=depth),
            ip="203.0.113.9",
            user_agent="Firefox",
            referrer="https://blog.example.org/post/",
            likes=depth,
            dislikes=1,
        )
    make_comment(session, post, status=CommentStatus.pending, text="held", created_at=base)
    make_comment(
        session, post, status=CommentStatus.spam, discarded=True, text="buy", created_at=base
    )
    make_comment(session, post, status=CommentStatus.deleted, text="gone", created_at=base)
    make_comment(
        session,
        other,
        kind=CommentKind.pingback,
        text="[…] cited […]",
        source="https://elsewhere.example/cite",
        verified=True,
        author="Elsewhere",
        email="",
        created_at=base,
    )
    make_comment(
        session,
        other,
        text="<p>Some <em>HTML</em> &amp; more</p>",
        html="<p>Some <em>HTML</em> &amp; more</p>",
        text_format="html",
        import_source="wordpress",
        import_id="17",
        created_at=base,
        modified_at=base + timedelta(days=1),
    )
    return post


def test_json_round_trip_gives_the_same_file(database, ctx, session, db_url, rich_site):
    first = export_json(database, ctx)
    document = json.loads(first)
    assert [t["uri"] for t in document["threads"]] == ["/post/", "/other/?p=7"]
    chain = document["threads"][0]["comments"][:10]
    assert all(c["parent"] == p["id"] for p, c in itertools.pairwise(chain))
    assert chain[0]["ip"] == "203.0.113.9"

    empty_tables(db_url)
    path = Path(ctx.settings.server.data_dir) / "export.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(first, encoding="utf-8")
    summary = imports.run_import(database, ctx, "blog", "json", path)
    assert sum(summary.imported.values()) == 15
    assert not summary.orphans
    assert export_json(database, ctx) == first

    again = imports.run_import(database, ctx, "blog", "json", path)
    assert not again.imported
    assert export_json(database, ctx) == first

    # the imported WordPress comment keeps its origin: a WordPress re-import would find it
    wordpress = session.scalars(select(Comment).where(Comment.import_source == "wordpress")).one()
    assert wordpress.import_id == "17"
    assert wordpress.text_format == "html"
    assert "<em>HTML</em>" in wordpress.html


def test_export_without_ip_leaves_out_client_data(database, ctx, rich_site):
    document = json.loads(export_json(database, ctx, with_ip=False))
    comment = document["threads"][0]["comments"][0]
    assert "ip" not in comment
    assert "user_agent" not in comment
    assert "referrer" not in comment
    assert "203.0.113.9" not in json.dumps(document)


def test_a_parent_later_in_the_file_is_linked(database, ctx, session, tmp_path):
    document = {
        "format": "moderation-export",
        "version": 1,
        "site": {"id": "blog", "url": SITE_URL},
        "threads": [
            {
                "uri": "/p/",
                "comments": [
                    {
                        "id": "b" * 32,
                        "parent": "a" * 32,
                        "kind": "comment",
                        "status": "approved",
                        "text": "the reply, first in the file",
                        "created_at": "2025-01-02T00:00:00+00:00",
                    },
                    {
                        "id": "a" * 32,
                        "parent": None,
                        "kind": "comment",
                        "status": "approved",
                        "text": "the parent",
                        "created_at": "2025-01-01T00:00:00+00:00",
                    },
                ],
            }
        ],
    }
    path = tmp_path / "later.json"
    path.write_text(json.dumps(document))
    imports.run_import(database, ctx, "blog", "json", path)
    reply = session.scalars(select(Comment).where(Comment.uid == "b" * 32)).one()
    parent = session.scalars(select(Comment).where(Comment.uid == "a" * 32)).one()
    assert reply.parent_id == parent.id


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"format": "moderation-export", "version": 1, "threads": [\n{"uri": "/p/",', 2),
        ('{"format": "something-else"}', None),
        (
            '{"format": "moderation-export", "version": 1, "threads": [{"uri": "/p/", "comments":'
            ' [{"id": "' + "a" * 32 + '", "kind": "comment", "status": "approved", "text": "x",'
            ' "created_at": "2025-01-01T00:00:00+00:00"}, {"id": "zz", "kind": "comment"}]}]}',
            None,
        ),
    ],
    ids=["truncated", "not-ours", "bad-second-row"],
)
def test_a_malformed_file_writes_nothing(database, ctx, session, tmp_path, text, line):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MalformedExport) as raised:
        imports.run_import(database, ctx, "blog", "json", path)
    assert raised.value.line == line
    assert count(session) == 0
    assert session.scalar(select(func.count()).select_from(Thread)) == 0


def test_pages_on_another_host_keep_their_path_and_are_reported(database, ctx, session, tmp_path):
    document = {
        "format": "moderation-export",
        "version": 1,
        "site": {"id": "blog", "url": SITE_URL},
        "threads": [],
    }
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(document))
    summary = imports.run_import(database, ctx, "blog", "json", path)
    assert summary.total == 0
    assert "nothing new" in "\n".join(summary.lines())
    assert imports._uri(ctx.settings.sites["blog"], f"{SITE_URL}/a/b?x=1", summary) == "/a/b?x=1"
    assert imports._uri(ctx.settings.sites["blog"], "https://old.example/a/", summary) == "/a/"
    assert summary.foreign_hosts == {"old.example": 1}
    assert "old.example" in "\n".join(summary.lines())
