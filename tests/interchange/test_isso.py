"""The Isso reader on a database written by the real Isso 0.14.0 (tests/fixtures/imports/isso,
made by scripts/make_isso_fixture.py), and on files that are not Isso databases."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.isso import read_isso
from moderation.interchange.records import CommentRecord, MalformedExport, Skipped, ThreadRecord

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures/imports/isso/comments.db"


def comments_by_id(records: list) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in records if isinstance(r, CommentRecord)}


@pytest.fixture(scope="module")
def records() -> list:
    return list(read_isso(FIXTURE))


def test_threads_with_comments_each_followed_by_its_comments_in_id_order(records: list) -> None:
    threads = [r for r in records if isinstance(r, ThreadRecord)]
    assert [(t.key, t.url, t.title) for t in threads] == [
        ("1", "/blog/2024/hello-world/", "Hello, world"),
        ("2", "/blog/2024/ünïcödé/", "Grüße, 日本語 und ☃"),
        ("3", "/about/", "About"),
    ]  # thread 4 ("/empty/") has no comments: left out
    order: list[tuple[str, str]] = []
    current = None
    for record in records:
        if isinstance(record, ThreadRecord):
            current = record.key
            order.append(("thread", record.key))
        else:
            assert isinstance(record, CommentRecord)
            assert record.thread_key == current
            order.append((record.thread_key, record.source_id))
    ids = lambda key: [c for t, c in order if t == key]  # noqa: E731
    assert ids("1") == ["1", "2", "3", "4", "5", "7", "8", "9", "10", "11", "12"]  # 6 deleted
    assert ids("2") == ["13", "14", "15", "16", "17", "18", "19"]
    assert ids("3") == ["20"]
    assert not [r for r in records if isinstance(r, Skipped)]


def test_statuses_from_isso_modes(records: list) -> None:
    comments = comments_by_id(records)
    assert Counter(c.status for c in comments.values()) == {
        CommentStatus.approved: 15,
        CommentStatus.pending: 3,
        CommentStatus.deleted: 1,
    }
    assert {k for k, c in comments.items() if c.status is CommentStatus.pending} == {
        "12",
        "19",
        "20",
    }
    assert comments["18"].status is CommentStatus.approved  # held, then activated
    assert all(c.kind is CommentKind.comment for c in comments.values())
    assert all(c.text_format == "markdown" for c in comments.values())


def test_ten_level_reply_chain_as_isso_flattened_it(records: list) -> None:
    """Each of 2..11 was posted as a reply to the one before; Isso's `Comments.add` re-parented
    every one to the top-level comment 1. The pending reply 12 (posted to 11) too."""
    comments = comments_by_id(records)
    assert comments["1"].parent_id is None
    for cid in ["2", "3", "4", "5", "7", "8", "9", "10", "11", "12"]:
        assert comments[cid].parent_id == "1", cid
    assert "6" not in comments  # a reply without replies: Isso's delete removed the row


def test_deleted_placeholder_keeps_its_reply(records: list) -> None:
    comments = comments_by_id(records)
    placeholder = comments["16"]
    assert placeholder.status is CommentStatus.deleted
    assert placeholder.text == ""
    assert (placeholder.author, placeholder.website) == ("", "")
    assert placeholder.email == "gone@example.org"  # Isso's delete keeps the e-mail
    assert comments["17"].parent_id == "16"
    assert comments["17"].status is CommentStatus.approved


def test_likes_and_dislikes_from_isso_votes(records: list) -> None:
    comments = comments_by_id(records)
    votes = {k: (c.likes, c.dislikes) for k, c in comments.items() if c.likes or c.dislikes}
    # On 1: two of four upvotes were refused (a voter already seen in the /24; the author's /24).
    assert votes == {"1": (2, 1), "4": (0, 2), "13": (1, 0), "14": (0, 1)}


def test_fields_times_and_addresses(records: list) -> None:
    comments = comments_by_id(records)
    first = comments["1"]
    assert first.text == "First! Some **bold** Markdown and a [link](https://example.org/)."
    assert (first.author, first.email, first.website) == (
        "Alice",
        "alice@example.org",
        "http://alice.example.org",  # Isso's normalize() added the scheme
    )
    assert first.ip == "203.0.113.0"  # anonymised by Isso
    assert first.created_at == datetime(2024, 1, 1, 0, 1, 0, 250000, tzinfo=UTC)
    assert first.modified_at is None
    assert comments["12"].ip == "2001:0db8:85a3:0000:0000:0000:0000:0000"
    edited = comments["15"]
    assert edited.text == "Typo in this comment, fixed."
    assert edited.modified_at == datetime(2024, 1, 1, 0, 33, tzinfo=UTC)
    assert comments["20"].author == ""  # NULL
    assert comments["20"].email == ""


def test_non_ascii_text_and_names(records: list) -> None:
    comments = comments_by_id(records)
    assert comments["13"].text == "Grüße aus Köln! 🎉 日本語のコメント。 مرحبا بالعالم"
    assert comments["13"].author == "Zoë Ørsted"
    assert comments["19"].text == "Still pending, with ünïcödé."


def test_hostile_markup_kept_as_given_and_isso_escaping_undone(records: list) -> None:
    hostile = comments_by_id(records)["14"]
    assert hostile.text == (
        "Nice post!\n\n"
        "<script>alert('xss')</script>\n\n"
        "[click me](javascript:alert(1)) and *emphasis*\n\n"
        '<img src="x" onerror="alert(2)">'
    )
    # Isso stored "Tom &amp; Jerry &lt;b&gt;": the record holds what the author typed.
    assert hostile.author == "Tom & Jerry <b>"
    assert hostile.website == "https://example.com/?a=1&b=<2>"


def test_reader_never_writes_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "isso.db"
    shutil.copy2(FIXTURE, copy)
    before = (copy.read_bytes(), copy.stat().st_mtime_ns)
    assert len(list(read_isso(copy))) == 22
    assert (copy.read_bytes(), copy.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["isso.db"]  # no journal left behind


def test_unknown_mode_and_missing_thread_are_skipped(tmp_path: Path) -> None:
    copy = tmp_path / "isso.db"
    shutil.copy(FIXTURE, copy)
    with sqlite3.connect(copy) as con:
        con.execute("UPDATE comments SET mode = 8 WHERE id = 13")
        con.execute("DROP TRIGGER remove_stale_threads")
        con.execute("DELETE FROM threads WHERE id = 3")
    con.close()
    records = list(read_isso(copy))
    skipped = [r for r in records if isinstance(r, Skipped)]
    assert [(s.source_id, s.reason) for s in skipped] == [
        ("13", "unknown Isso mode 8"),
        ("20", "its thread 3 is missing"),
    ]
    assert records[-1] == skipped[-1]
    assert "13" not in comments_by_id(records)
    assert [r.key for r in records if isinstance(r, ThreadRecord)] == ["1", "2"]


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    for name, content in [("text.db", b"tid,id\n1,1\n"), ("empty.db", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(MalformedExport, match="not an Isso database"):
            list(read_isso(path))


def test_a_truncated_database(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    path.write_bytes(FIXTURE.read_bytes()[:5000])
    with pytest.raises(MalformedExport):
        list(read_isso(path))


def test_a_sqlite_database_without_isso_tables(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)")
    con.close()
    with pytest.raises(MalformedExport, match="not an Isso database: no table 'threads'"):
        list(read_isso(other))

    partial = tmp_path / "partial.db"
    with sqlite3.connect(partial) as con:
        con.execute("CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR, title VARCHAR)")
        con.execute("CREATE TABLE comments (tid, id INTEGER PRIMARY KEY, parent, text)")
    con.close()
    with pytest.raises(MalformedExport, match="table 'comments' lacks author, created"):
        list(read_isso(partial))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_isso(tmp_path / "nope.db"))
