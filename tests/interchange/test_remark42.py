"""The Remark42 reader on the backups Remark42's own tests carry, on a richer backup built on one
of them (tests/fixtures/imports/remark42/README.md), gzip-compressed, and on broken files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import CommentRecord, MalformedExport, ThreadRecord
from moderation.interchange.remark42 import read_remark42

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures/imports/remark42"
NATIVE = FIXTURES / "native-test-import.jsonl"
REST = FIXTURES / "rest-migrator-test-import.json"
NOT_A_BACKUP_GZ = FIXTURES / "cmd-testdata-import.txt.gz"
RICH = FIXTURES / "rich.jsonl"

META = '{"version":1,"users":[],"posts":[]}'


def line(cid: str = "c1", **fields: object) -> str:
    comment: dict[str, object] = {
        "id": cid,
        "pid": "",
        "text": "<p>x</p>",
        "user": {"name": "n", "id": "u", "picture": "", "admin": False},
        "locator": {"site": "s", "url": "https://example.org/a/"},
        "score": 0,
        "time": "2020-01-01T00:00:00Z",
    }
    comment.update(fields)
    return json.dumps({k: v for k, v in comment.items() if v is not None})


def write(tmp_path: Path, text: str, name: str = "backup.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def comments(records: list) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in records if isinstance(r, CommentRecord)}


@pytest.fixture(scope="module")
def rich() -> list:
    return list(read_remark42(RICH))


def test_native_import_test_backup() -> None:
    records = list(read_remark42(NATIVE))
    assert [type(r).__name__ for r in records] == [
        "ThreadRecord",
        "CommentRecord",
        "ThreadRecord",
        "CommentRecord",
    ]
    assert records[0] == ThreadRecord(
        key="https://radio-t.com", url="https://radio-t.com", closed=True
    )  # read_only in the meta record's posts
    assert records[2] == ThreadRecord(key="https://radio-t.com/2", url="https://radio-t.com/2")
    first, second = records[1], records[3]
    assert first == CommentRecord(
        source_id="efbc17f177ee1a1c0ee6e1e025749966ec071adc",
        thread_key="https://radio-t.com",
        kind=CommentKind.comment,
        status=CommentStatus.approved,
        text='some text, <a href="http://radio-t.com" rel="nofollow">link</a>',
        created_at=datetime(2017, 12, 20, 21, 18, 22, tzinfo=UTC),
        text_format="html",
        author="user name",
        line=2,
    )
    assert first.ip == ""  # Remark42 keeps a hash, not the address
    assert (second.source_id, second.parent_id, second.line) == (
        "f863bd79-fec6-4a75-b308-61fe5dd02aa1",
        "1234",
        3,
    )


def test_rest_test_backup_with_values_sharing_and_spanning_lines() -> None:
    records = list(read_remark42(REST))
    by_id = comments(records)
    assert [r.key for r in records if isinstance(r, ThreadRecord)] == [
        "https://radio-t.com/blah1",
        "https://radio-t.com/blah2",
    ]
    one = by_id["2aa0478c-df1b-46b1-b561-03d507cf482c"]
    two = by_id["83fd97fd-ff64-48d1-9fb7-ca7769c77037"]
    assert (one.line, two.line) == (1, 5)
    assert one.text == "<p>test test #1</p>"
    assert one.author == "developer one"
    assert one.created_at == datetime(2018, 4, 30, 6, 37, 0, 849053, tzinfo=UTC)
    assert two.parent_id == "p1"


def test_real_gzip_file_that_is_not_a_backup_is_malformed_at_line_1() -> None:
    with pytest.raises(MalformedExport) as raised:
        list(read_remark42(NOT_A_BACKUP_GZ))
    assert raised.value.line == 1
    assert "not JSON" in raised.value.reason


def test_rich_threads_titles_and_read_only(rich: list) -> None:
    threads = [r for r in rich if isinstance(r, ThreadRecord)]
    assert [(t.key, t.title, t.closed) for t in threads] == [
        ("https://radio-t.com", "", True),
        ("https://radio-t.com/2", "", False),
        ("https://example.org/p/unicode/", "Grüße — Ελληνικά, 日本語", False),
        ("https://example.org/p/second/", "Second page", False),
    ]
    seen: set[str] = set()
    for record in rich:  # each thread before any comment naming it
        if isinstance(record, ThreadRecord):
            seen.add(record.key)
        else:
            assert record.thread_key in seen


def test_rich_reply_chain_ten_levels_deep_in_markdown(rich: list) -> None:
    by_id = comments(rich)
    depth, current = 0, by_id["chain-10"]
    while current.parent_id is not None:
        current = by_id[current.parent_id]
        depth += 1
    assert depth == 10
    assert current.source_id == "chain-00"
    deepest = by_id["chain-10"]
    assert (deepest.text, deepest.text_format) == ("Reply at *depth* 10", "markdown")
    assert deepest.created_at == datetime(2024, 5, 1, 8, 10, 0, 123456, tzinfo=UTC)
    assert deepest.line == 14


def test_rich_statuses_and_votes(rich: list) -> None:
    by_id = comments(rich)
    assert by_id["deleted-soft"].status is CommentStatus.deleted
    assert by_id["deleted-soft"].parent_id == "chain-00"
    assert (by_id["deleted-hard"].status, by_id["deleted-hard"].author) == (
        CommentStatus.deleted,
        "deleted",
    )
    assert sum(c.status is CommentStatus.approved for c in by_id.values()) == 22
    assert (by_id["voted"].likes, by_id["voted"].dislikes) == (2, 1)  # from the votes map
    assert (by_id["scored"].likes, by_id["scored"].dislikes) == (0, 3)  # from the score
    assert (by_id["liked"].likes, by_id["liked"].dislikes) == (4, 0)
    assert by_id["voted"].modified_at == datetime(2024, 5, 2, 6, 0, 0, 500000, tzinfo=UTC)
    assert by_id["scored"].modified_at is None  # Go's zero time
    assert by_id["reply-to-later"].parent_id == "later-parent"


def test_rich_text_is_kept_exactly(rich: list) -> None:
    by_id = comments(rich)
    unicode = by_id["unicode"]
    assert unicode.text == (
        "Grüße aus Köln — Ελληνικά, 日本語のテキスト, emoji 🎉 and “quotes”\u2028next"
    )
    assert unicode.author == "Zoë Łukasiewicz"
    other = by_id["other-page"]
    assert (other.text, other.text_format) == (
        "<p>On another page, imported from Disqus</p>",
        "html",
    )


def test_rich_hostile_markup_is_passed_on_verbatim(rich: list) -> None:
    """The reader does not sanitize; the importer renders every text through the sanitizer."""
    by_id = comments(rich)
    assert by_id["hostile-orig"].text == (
        "<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>"
    )
    html = by_id["hostile-html"]
    assert html.text_format == "html"
    assert '<a href="javascript:alert(2)">' in html.text
    assert "&lt;script&gt;escaped&lt;/script&gt; &amp; more" in html.text
    assert html.author == "<img src=x onerror=alert(7)>"
    assert {c.ip for c in by_id.values()} == {""}
    assert {c.email for c in by_id.values()} == {""}


def test_gzip_backup_reads_like_the_plain_one(tmp_path: Path, rich: list) -> None:
    packed = tmp_path / "backup-radio-t-20240501.gz"
    packed.write_bytes(gzip.compress(RICH.read_bytes()))
    assert list(read_remark42(packed)) == rich


def test_truncated_gzip_backup_is_malformed(tmp_path: Path) -> None:
    packed = gzip.compress(RICH.read_bytes())
    path = tmp_path / "backup.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(MalformedExport) as raised:
        list(read_remark42(path))
    assert raised.value.line is not None
    assert raised.value.line > 1


def test_a_backup_cut_inside_a_comment_is_malformed_at_that_line(tmp_path: Path) -> None:
    text = RICH.read_text(encoding="utf-8")
    cut = text[: text.index('"Reply at *depth* 5"')]
    with pytest.raises(MalformedExport) as raised:
        list(read_remark42(write(tmp_path, cut)))
    assert raised.value.line == 9


def test_a_backup_cut_between_fields_is_malformed_at_its_last_value(tmp_path: Path) -> None:
    text = META + "\n" + line("a") + "\n" + '{"id":"b",'
    with pytest.raises(MalformedExport, match="ends inside") as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 3


def test_a_line_that_is_not_json_is_malformed_at_its_line(tmp_path: Path) -> None:
    text = "\n".join([META, line("a"), "", "this is not json", line("b")])
    with pytest.raises(MalformedExport, match="not JSON") as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 4


def test_unsupported_version_is_refused(tmp_path: Path) -> None:
    text = '{"version":2,"users":[],"posts":[]}\n' + line()
    with pytest.raises(MalformedExport, match="version 2") as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 1


def test_another_json_format_is_not_a_remark42_backup(tmp_path: Path) -> None:
    text = '{"format":"moderation-export","version":1,"threads":[]}\n'
    with pytest.raises(MalformedExport, match="not a Remark42 backup"):
        list(read_remark42(write(tmp_path, text)))


def test_comments_without_a_meta_record_are_read(tmp_path: Path) -> None:
    records = list(read_remark42(write(tmp_path, line("a") + "\n" + line("b", pid="a"))))
    assert [getattr(r, "source_id", None) for r in records] == [None, "a", "b"]
    assert comments(records)["b"].parent_id == "a"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time": None}, "time is missing"),
        ({"time": "yesterday"}, "not an RFC 3339 time"),
        ({"locator": {"site": "s"}}, "no locator.url"),
        ({"id": ""}, "without an id"),
    ],
)
def test_comments_missing_what_is_needed_are_malformed(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    text = "\n".join([META, line("a"), line("b", **fields)])
    with pytest.raises(MalformedExport, match=message) as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 3


def test_text_that_is_not_utf8_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "backup.jsonl"
    path.write_bytes((META + "\n" + line("a") + "\n").encode() + b'{"id":"\xff\xfe"}\n')
    with pytest.raises(MalformedExport, match="not UTF-8") as raised:
        list(read_remark42(path))
    assert raised.value.line == 3


def test_a_byte_order_mark_and_crlf_line_ends_are_read(tmp_path: Path) -> None:
    path = tmp_path / "backup.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([META, line("a"), line("b")]).encode())
    records = list(read_remark42(path))
    assert [(r.source_id, r.line) for r in comments(records).values()] == [("a", 2), ("b", 3)]


def test_a_value_left_open_for_too_many_lines_is_malformed(tmp_path: Path) -> None:
    text = META + "\n" + '{"id":"a","votes":{\n' + '"u":true,\n' * 1200
    with pytest.raises(MalformedExport, match="spans more than 1000 lines") as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 2


def test_absurd_nesting_is_malformed(tmp_path: Path) -> None:
    text = META + "\n" + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(MalformedExport, match="nested too deeply") as raised:
        list(read_remark42(write(tmp_path, text)))
    assert raised.value.line == 2
