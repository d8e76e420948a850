"""Every format's fixtures imported into the test's database (SQLite and PostgreSQL): each stored
row matches what the format's reader read (kind, status, parent at any depth, time, author, votes),
the HTML is the sanitizer's, re-importing adds nothing, and a WXR export imports back.

The fixtures are real exports (WordPress's own, Isso 0.14.0's database, Disqus and Remark42 files
from those projects' tests) and richer ones built on them: see each folder's README."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from moderation import markup
from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import CommentRecord, ThreadRecord
from moderation.models import Comment, Thread
from moderation.services import exports, imports

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"
CASES = [
    ("wordpress", "wordpress/theme-unit-test-data.xml"),
    ("wordpress", "wordpress/threaded.xml"),
    ("wordpress", "wordpress/valid-wxr-1.0.xml"),
    ("wordpress", "wordpress/valid-wxr-1.1.xml"),
    ("disqus", "disqus/isso-tests-disqus.xml"),
    ("disqus", "disqus/rich.xml"),
    ("remark42", "remark42/native-test-import.jsonl"),
    ("remark42", "remark42/rich.jsonl"),
    ("isso", "isso/comments.db"),
]
TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")


def read(fmt: str, path: Path) -> tuple[dict[str, ThreadRecord], list[CommentRecord]]:
    threads: dict[str, ThreadRecord] = {}
    comments: list[CommentRecord] = []
    for record in imports.reader_for(fmt)(path):
        if isinstance(record, ThreadRecord):
            threads.setdefault(record.key, record)
        elif isinstance(record, CommentRecord) and record.thread_key in threads:
            comments.append(record)
    return threads, comments


@pytest.mark.parametrize(("fmt", "name"), CASES, ids=[name for _, name in CASES])
def test_every_row_is_stored_as_read_and_shown_safely(database, ctx, session, fmt, name):
    path = FIXTURES / name
    _threads, records = read(fmt, path)
    summary = imports.run_import(database, ctx, "blog", fmt, path)
    assert sum(summary.imported.values()) == len(records) > 0

    rows = {
        c.import_id: c for c in session.scalars(select(Comment).where(Comment.import_source == fmt))
    }
    by_id = {c.id: c for c in rows.values()}
    in_file = {r.source_id for r in records}
    for record in records:
        row = rows[record.source_id]
        assert (row.kind, row.status) == (record.kind, record.status), record.source_id
        assert row.text == record.text
        assert row.created_at == record.created_at
        assert row.author == record.author[:255]
        assert (row.likes, row.dislikes) == (record.likes, record.dislikes)
        if record.parent_id in in_file:
            assert by_id[row.parent_id].import_id == record.parent_id
        else:
            assert row.parent_id is None
        assert (row.approved_at is not None) == (record.status is CommentStatus.approved)
        for tag, attributes in TAG.findall(row.html):  # escaped text is not a tag
            assert tag in markup.ALLOWED_TAGS, (record.source_id, row.html)
            assert "javascript:" not in attributes.lower()
            assert " on" not in attributes.lower()

    for thread in session.scalars(select(Thread)):
        approved = session.scalar(
            select(func.count()).where(
                Comment.thread_id == thread.id, Comment.status == CommentStatus.approved
            )
        )
        assert thread.approved_count == approved
        assert thread.uri.startswith("/")

    again = imports.run_import(database, ctx, "blog", fmt, path)
    assert not again.imported
    assert sum(again.present.values()) == len(records)


def depth(comment: Comment, by_id: dict[int, Comment]) -> int:
    level = 0
    while comment.parent_id is not None:
        comment = by_id[comment.parent_id]
        level += 1
    return level


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("wordpress", "wordpress/theme-unit-test-data.xml"),
        ("wordpress", "wordpress/threaded.xml"),
        ("disqus", "disqus/rich.xml"),
        ("remark42", "remark42/rich.jsonl"),
    ],
)
def test_replies_ten_levels_deep_keep_their_chain(database, ctx, session, fmt, name):
    imports.run_import(database, ctx, "blog", fmt, FIXTURES / name)
    by_id = {c.id: c for c in session.scalars(select(Comment))}
    assert max(depth(c, by_id) for c in by_id.values()) >= 9  # ten levels: depths 0..9


def test_wordpress_kinds_statuses_and_skips(database, ctx, session):
    summary = imports.run_import(
        database, ctx, "blog", "wordpress", FIXTURES / "wordpress/threaded.xml"
    )
    kinds = {kind for kind, _ in summary.imported}
    assert {"comment", "trackback", "pingback"} <= kinds
    statuses = {status for _, status in summary.imported}
    assert {"approved", "pending", "spam", "deleted"} <= statuses
    assert summary.skipped  # the unsupported comment type is reported, not imported
    linkback = session.scalars(select(Comment).where(Comment.kind == CommentKind.pingback)).first()
    assert linkback is not None
    assert linkback.source


def test_disqus_posts_of_a_missing_thread_are_reported(database, ctx):
    summary = imports.run_import(database, ctx, "blog", "disqus", FIXTURES / "disqus/rich.xml")
    assert any("thread" in reason for reason in summary.skipped)


def test_a_wxr_export_imports_back(database, ctx, session):
    imports.run_import(database, ctx, "blog", "wordpress", FIXTURES / "wordpress/threaded.xml")
    out = io.StringIO()
    count = exports.export_site(database, "blog", ctx.settings.sites["blog"], "wxr", out)
    path = Path(ctx.settings.server.data_dir) / "export.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    summary = imports.run_import(database, ctx, "other", "wordpress", path)
    assert sum(summary.imported.values()) == count
    source = session.scalars(select(Comment).join(Thread).where(Thread.site == "blog")).all()
    copied = session.scalars(select(Comment).join(Thread).where(Thread.site == "other")).all()
    shape = sorted((c.kind, c.status, c.text, c.author, c.created_at) for c in source)
    assert sorted((c.kind, c.status, c.text, c.author, c.created_at) for c in copied) == shape
    by_id = {c.id: c for c in [*source, *copied]}
    assert sorted(depth(c, by_id) for c in copied) == sorted(depth(c, by_id) for c in source)
