"""The Disqus reader on real exports (Isso's and Remark42's test files), on a richer file built on
Remark42's (tests/fixtures/imports/disqus/README.md), and on broken and hostile files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.disqus import read_disqus
from moderation.interchange.records import CommentRecord, MalformedExport, Skipped, ThreadRecord

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures/imports/disqus"
ISSO = FIXTURES / "isso-tests-disqus.xml"
REMARK42 = FIXTURES / "remark42-migrator-disqus.xml"
RICH = FIXTURES / "rich.xml"

HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">\n'
)
THREAD = (
    '<thread dsq:id="1"><link>https://example.org/a/</link><title>A</title>'
    "<createdAt>2020-01-01T00:00:00Z</createdAt></thread>\n"
)


def post(pid: str = "10", created: str = "2020-01-02T00:00:00Z", extra: str = "") -> str:
    return (
        f'<post dsq:id="{pid}"><message>hi</message><createdAt>{created}</createdAt>'
        f'{extra}<thread dsq:id="1"/></post>\n'
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(text, encoding="utf-8")
    return path


def comments(records: list) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in records if isinstance(r, CommentRecord)}


@pytest.fixture(scope="module")
def rich() -> list:
    return list(read_disqus(RICH))


def test_isso_test_export_threads_posts_and_skips_in_order() -> None:
    records = list(read_disqus(ISSO))
    summary = [
        (
            type(r).__name__,
            r.key if isinstance(r, ThreadRecord) else r.source_id,
            getattr(r, "line", None),
        )
        for r in records
    ]
    assert summary == [
        ("ThreadRecord", "2", None),
        ("Skipped", "3", 28),
        ("ThreadRecord", "7", None),
        ("CommentRecord", "4", 33),
        ("CommentRecord", "5", 49),
        ("Skipped", "6", 66),
        ("CommentRecord", "8", 101),
        ("CommentRecord", "9", 117),
        ("CommentRecord", "11", 133),
    ]
    thread = records[0]
    assert thread == ThreadRecord(
        key="2",
        url="http://example.org/",
        title="Hello, World!",
        created_at=datetime(2012, 12, 12, 12, 12, 12, tzinfo=UTC),
        closed=False,
    )
    assert records[1].reason == "thread 3 has no link"
    assert records[5].reason == "thread 1337 is not in the file"
    by_id = comments(records)
    assert by_id["5"].parent_id == "4"
    assert by_id["5"].text == "<p>Hello, World.</p>"
    assert by_id["5"].text_format == "html"
    assert (by_id["4"].author, by_id["4"].email, by_id["4"].ip) == (
        "peter",
        "foo@bar.com",
        "127.0.0.1",
    )
    assert by_id["4"].created_at == datetime(2013, 10, 10, 19, 20, 29, tzinfo=UTC)
    assert by_id["9"].status is CommentStatus.deleted
    assert by_id["9"].text == ""
    assert by_id["11"].parent_id == "9"
    assert by_id["8"].thread_key == "7"  # a thread defined after an earlier post still counts
    assert {c.kind for c in by_id.values()} == {CommentKind.comment}


def test_remark42_test_export_with_a_stray_character_before_the_declaration_is_malformed() -> None:
    with pytest.raises(MalformedExport) as raised:
        list(read_disqus(REMARK42))
    assert raised.value.line == 1
    assert "not well-formed" in raised.value.reason


def test_rich_threads(rich: list) -> None:
    threads = {r.key: r for r in rich if isinstance(r, ThreadRecord)}
    assert list(threads) == ["247918464", "247937687", "900001", "900003", "900004"]
    assert threads["247918464"].url == "http://radio-t.umputun.com/2011/03/229_8880.html"
    assert threads["247918464"].title == "Радио-Т: Радио-Т 229"
    assert threads["247937687"].closed is True
    assert threads["247937687"].created_at == datetime(2011, 3, 7, 21, 17, 17, tzinfo=UTC)
    assert threads["900001"].url == "https://example.org/p/unicode/?a=1&b=2"
    assert threads["900001"].title == "Q&A: Grüße, Ελληνικά, 日本語 — <b>not bold</b>"
    assert threads["900003"].closed is True
    # every thread comes before every post
    first_post = next(i for i, r in enumerate(rich) if not isinstance(r, ThreadRecord | Skipped))
    assert all(not isinstance(r, ThreadRecord) for r in rich[first_post:])


def test_rich_real_radio_t_posts(rich: list) -> None:
    by_id = comments(rich)
    first = by_id["299619020"]
    assert first.thread_key == "247937687"
    assert first.text == (
        '<p>The quick brown fox jumps over the lazy dog.</p><p><a href="https://https://radio-t.com"'
        ' rel="nofollow noopener" title="radio-t">some link</a></p>'
    )
    assert (first.author, first.email, first.ip) == ("Alexander Blah", "", "178.178.178.178")
    assert by_id["299744309"].text.startswith(
        "<p>Microsoft показал проводник Windows 8 с ленточным интерфейсом.</p>"
    )
    assert by_id["299986072"].author == "No Username"
    assert by_id["299986073"].status is CommentStatus.spam


def test_rich_reply_chain_ten_levels_deep(rich: list) -> None:
    by_id = comments(rich)
    depth, current = 0, by_id["910010"]
    while current.parent_id is not None:
        current = by_id[current.parent_id]
        depth += 1
    assert depth == 10
    assert current.source_id == "910000"
    assert by_id["910010"].text == "<p>Reply at depth 10</p>"
    assert by_id["910010"].author == "Replier 10"
    assert by_id["910010"].created_at == datetime(2024, 5, 1, 10, 10, tzinfo=UTC)


def test_rich_statuses(rich: list) -> None:
    by_id = comments(rich)
    assert by_id["920006"].status is CommentStatus.deleted
    assert by_id["920007"].status is CommentStatus.spam
    assert by_id["920008"].status is CommentStatus.pending
    assert by_id["920009"].status is CommentStatus.deleted  # deleted and spam: deleted
    assert by_id["920001"].status is CommentStatus.approved
    assert sum(c.status is CommentStatus.approved for c in by_id.values()) == 21


def test_rich_skips_say_why_and_where(rich: list) -> None:
    skipped = [(r.source_id, r.reason, r.line) for r in rich if isinstance(r, Skipped)]
    assert skipped == [
        ("900002", "thread 900002 is deleted in Disqus", 139),
        ("920010", "thread 404404 is not in the file", 499),
        ("920011", "thread 900002 is deleted in Disqus", 515),
    ]
    late = comments(rich)["920012"]
    assert late.thread_key == "900004"  # its thread comes later in the file
    assert late.author == "only-a-username"


def test_rich_text_is_kept_exactly(rich: list) -> None:
    by_id = comments(rich)
    assert by_id["920001"].text == (
        "<p>Grüße aus Köln — Ελληνικά, 日本語のテキスト, emoji 🎉 and “quotes”</p>"
    )
    assert by_id["920001"].author == "Zoë Łukasiewicz"
    assert by_id["920002"].text == "<p>Escaped, not CDATA: café & crème, 5 < 6</p>"
    assert by_id["920003"].text == "<p>a ]]> b</p>"


def test_rich_hostile_markup_is_passed_on_verbatim_as_html(rich: list) -> None:
    """The reader does not sanitize: it keeps the HTML and says so (text_format), and the
    importer renders it through the same sanitizer as new comments."""
    by_id = comments(rich)
    hostile = by_id["920004"]
    assert hostile.text_format == "html"
    assert "<script>alert(1)</script>" in hostile.text
    assert '<a href="javascript:alert(2)">' in hostile.text
    assert 'onerror="alert(3)"' in hostile.text
    assert hostile.author == '<script>alert("name")</script>'
    assert by_id["920005"].text == "<script>alert(4)</script>"


def test_threads_are_yielded_before_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    broken = write(tmp_path, HEAD + THREAD + post() + "<post dsq:id='11'><message>cut")
    records = read_disqus(broken)
    assert next(records) == ThreadRecord(
        key="1",
        url="https://example.org/a/",
        title="A",
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(MalformedExport) as raised:
        next(records)
    assert raised.value.line == 5


def test_a_truncated_export_is_malformed_at_its_end(tmp_path: Path) -> None:
    text = RICH.read_text(encoding="utf-8")
    cut = text[: text.index("Reply at depth 5")]
    with pytest.raises(MalformedExport) as raised:
        list(read_disqus(write(tmp_path, cut)))
    assert raised.value.line == cut.count("\n") + 1


def test_mismatched_tags_are_malformed_at_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEAD + THREAD + "<post dsq:id='2'>\n<message>x</msg>\n</post>\n</disqus>"
    )
    with pytest.raises(MalformedExport) as raised:
        list(read_disqus(path))
    assert raised.value.line == 5


def test_a_wordpress_export_is_not_a_disqus_export(tmp_path: Path) -> None:
    path = write(tmp_path, '<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>')
    with pytest.raises(MalformedExport) as raised:
        list(read_disqus(path))
    assert raised.value.line == 2
    assert "<rss>" in raised.value.reason


def test_a_disqus_root_without_its_namespace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MalformedExport, match="not a Disqus export"):
        list(read_disqus(write(tmp_path, "<disqus></disqus>")))


@pytest.mark.parametrize(
    "prologue",
    [
        '<!DOCTYPE disqus [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n',
        '<!DOCTYPE disqus [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n',
        '<!DOCTYPE disqus SYSTEM "http://example.org/disqus.dtd">\n',
    ],
)
def test_dtds_and_entities_are_refused(tmp_path: Path, prologue: str) -> None:
    text = '<?xml version="1.0"?>\n' + prologue + HEAD.split("\n", 1)[1] + THREAD + "</disqus>"
    with pytest.raises(MalformedExport, match="refused XML construct"):
        list(read_disqus(write(tmp_path, text)))


def test_a_post_without_an_id_is_malformed(tmp_path: Path) -> None:
    text = HEAD + THREAD + post() + post(pid="") + "</disqus>"
    with pytest.raises(MalformedExport, match="without dsq:id") as raised:
        list(read_disqus(write(tmp_path, text)))
    assert raised.value.line == 5


@pytest.mark.parametrize(
    ("extra", "created", "message"),
    [
        ("", "2011-x09-30T22:48:43Z", "not an ISO 8601 time"),
        ("", "", "without <createdAt>"),
        ("<isSpam>123</isSpam>", "2020-01-02T00:00:00Z", "not true or false"),
    ],
)
def test_bad_times_and_flags_are_malformed(
    tmp_path: Path, extra: str, created: str, message: str
) -> None:
    text = HEAD + THREAD + post(created=created, extra=extra) + "</disqus>"
    with pytest.raises(MalformedExport, match=message) as raised:
        list(read_disqus(write(tmp_path, text)))
    assert raised.value.line == 4


def test_times_with_offsets_become_utc(tmp_path: Path) -> None:
    text = HEAD + THREAD + post(created="2020-01-02T03:00:00+02:00") + "</disqus>"
    (record,) = comments(list(read_disqus(write(tmp_path, text)))).values()
    assert record.created_at == datetime(2020, 1, 2, 1, 0, tzinfo=UTC)
