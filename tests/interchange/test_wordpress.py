"""The WXR reader on real WordPress exports (tests/fixtures/imports/wordpress, see its README), on a
built file covering threading, kinds, statuses, encodings and hostile markup, on broken and hostile
files; and the writer, read back by the reader."""

from __future__ import annotations

import io
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from defusedxml import ElementTree

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import (
    CommentRecord,
    MalformedExport,
    Record,
    Skipped,
    ThreadRecord,
)
from moderation.interchange.wordpress import read_wxr, write_wxr

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures/imports/wordpress"
THEME = FIXTURES / "theme-unit-test-data.xml"
THREADED = FIXTURES / "threaded.xml"
WP = "{http://wordpress.org/export/1.2/}"


def comments_by_id(records: Sequence[Record]) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in records if isinstance(r, CommentRecord)}


def threads(records: Sequence[Record]) -> list[ThreadRecord]:
    return [r for r in records if isinstance(r, ThreadRecord)]


def ancestors(comments: dict[str, CommentRecord], source_id: str) -> list[str]:
    chain = []
    parent = comments[source_id].parent_id
    while parent is not None:
        chain.append(parent)
        parent = comments[parent].parent_id
    return chain


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def assert_threads_come_first(records: Sequence[Record]) -> None:
    """Every comment and skipped row follows the thread it belongs to, and names it."""
    current: str | None = None
    for record in records:
        if isinstance(record, ThreadRecord):
            current = record.key
        else:
            assert current is not None
            if isinstance(record, CommentRecord):
                assert record.thread_key == current


# --- real exports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def theme() -> list[Record]:
    return list(read_wxr(THEME))


def test_theme_unit_test_data_threads_are_the_posts_and_pages_with_comments(
    theme: list[Record],
) -> None:
    assert [(t.key, t.closed) for t in threads(theme)] == [
        ("51", False),
        ("155", False),
        ("703", False),
        ("1148", False),
        ("1149", True),
        ("1168", True),
        ("1170", True),
    ]
    page = threads(theme)[1]
    assert page.url == "https://wpthemetestdata.wordpress.com/about/page-with-comments/"
    assert page.title == "Page with comments"
    assert page.created_at == at("2007-09-04 17:47:47")
    assert_threads_come_first(theme)


def test_theme_unit_test_data_comments_kinds_and_statuses(theme: list[Record]) -> None:
    comments = comments_by_id(theme)
    assert len(comments) == 33
    assert not [r for r in theme if isinstance(r, Skipped)]
    assert Counter(c.kind for c in comments.values()) == {
        CommentKind.comment: 29,
        CommentKind.trackback: 2,
        CommentKind.pingback: 2,
    }
    assert Counter(c.status for c in comments.values()) == {
        CommentStatus.approved: 30,
        CommentStatus.pending: 3,
    }
    assert {k for k, c in comments.items() if c.status == CommentStatus.pending} == {
        "1015",
        "1016",
        "1017",
    }
    assert all(c.text_format == "html" for c in comments.values())


def test_theme_unit_test_data_fields(theme: list[Record]) -> None:
    comments = comments_by_id(theme)
    first = comments["2"]
    assert (first.thread_key, first.author, first.email, first.website, first.line) == (
        "51",
        "themedemos",
        "themeshaperwp+demos@gmail.com",
        "https://wpthemetestdata.wordpress.com/",
        1624,  # the line of its <wp:comment>
    )
    assert first.text == "This test post needs a comment."
    # the GMT date, not the local one (2007-09-04 10:48:51)
    assert comments["169"].created_at == at("2007-09-04 17:48:51")
    assert comments["1017"].parent_id == "168"
    assert comments["881"].author == "John Γιάννης Doe Κάποιος"
    assert comments["881"].text.startswith("<strong>Headings</strong>\n<h1>Header one</h1>")
    # 904 is depth 1 ... 915 depth 10
    assert ancestors(comments, "915") == [
        "914",
        "913",
        "912",
        "911",
        "910",
        "907",
        "906",
        "905",
        "904",
    ]
    assert comments["915"].text == "Comment Depth 10\n\nAlso an author comment."


def test_theme_unit_test_data_linkbacks(theme: list[Record]) -> None:
    comments = comments_by_id(theme)
    trackback = comments["921"]
    assert trackback.kind == CommentKind.trackback
    assert trackback.thread_key == "1149"
    # stored by WordPress as "Ping 1 &laquo; What&#8217;s a tellyworth?" inside CDATA
    assert trackback.author == "Ping 1 « What’s a tellyworth?"
    assert trackback.linkback_source == "http://tellyworth.wordpress.com/2007/11/21/ping-1/"
    assert trackback.text == "[...] Trackback test. [...]"
    assert comments["923"].kind == CommentKind.pingback
    assert comments["925"].kind == CommentKind.comment
    assert comments["925"].linkback_source is None


@pytest.mark.parametrize(
    ("name", "created"),
    [("valid-wxr-1.0.xml", "2010-10-20 14:08:20"), ("valid-wxr-1.1.xml", "2010-10-16 20:53:18")],
)
def test_old_wxr_versions(name: str, created: str) -> None:
    records = list(read_wxr(FIXTURES / name))
    comment = records[1]
    assert isinstance(comment, CommentRecord)
    assert comment.line == {"valid-wxr-1.0.xml": 75, "valid-wxr-1.1.xml": 70}[name]
    assert records == [
        ThreadRecord(
            key="1",
            url="http://localhost/?p=1",
            title="Hello world!",
            created_at=at(created),
            closed=False,
        ),
        CommentRecord(
            source_id="1",
            thread_key="1",
            kind=CommentKind.comment,
            status=CommentStatus.approved,
            text="Hi, this is a comment.<br />To delete a comment, just log in and view the post&#039;s"
            " comments. There you will have the option to edit or delete them.",
            text_format="html",
            created_at=at(created),
            author="Mr WordPress",
            website="http://wordpress.org/",
            line=comment.line,
        ),
    ]


# --- the built file -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threaded() -> list[Record]:
    return list(read_wxr(THREADED))


def test_threaded_threads(threaded: list[Record]) -> None:
    assert threads(threaded) == [
        ThreadRecord(
            key="10",
            url="https://blog.example.org/gruesse-aus-tokyo/",
            title="Grüße aus 東京 & more",
            created_at=at("2024-03-01 09:00:00"),
        ),
        ThreadRecord(
            key="20",
            url="https://blog.example.org/pings/",
            title="Pings",
            created_at=at("2024-03-05 05:00:00"),
            closed=True,
        ),
        # attachment 30 has no comments; the draft's post_date_gmt is WordPress's zero date
        ThreadRecord(
            key="40", url="https://blog.example.org/a-draft/", title="A draft", created_at=None
        ),
    ]
    assert_threads_come_first(threaded)


def test_threaded_replies_ten_levels_deep(threaded: list[Record]) -> None:
    comments = comments_by_id(threaded)
    assert ancestors(comments, "111") == [str(n) for n in range(110, 100, -1)]
    assert len(ancestors(comments, "111")) == 10
    assert comments["101"].parent_id is None
    assert comments["111"].created_at == at("2024-03-01 09:11:00")


def test_threaded_parent_later_in_the_file(threaded: list[Record]) -> None:
    order = [r.source_id for r in threaded if isinstance(r, CommentRecord)]
    assert comments_by_id(threaded)["140"].parent_id == "141"
    assert order.index("140") < order.index("141")


def test_threaded_statuses_kinds_and_skips(threaded: list[Record]) -> None:
    comments = comments_by_id(threaded)
    assert {k: comments[k].status for k in ("130", "133", "134", "135", "136")} == {
        "130": CommentStatus.approved,
        "133": CommentStatus.pending,
        "134": CommentStatus.spam,
        "135": CommentStatus.deleted,
        "136": CommentStatus.deleted,
    }
    trackback, pingback = comments["201"], comments["202"]
    assert (trackback.kind, trackback.thread_key, trackback.author) == (
        CommentKind.trackback,
        "20",
        "Ping 1 « Another Blog",
    )
    assert trackback.linkback_source == "https://another.example.net/2024/03/ping-1/"
    assert trackback.ip == "198.51.100.7"
    assert trackback.created_at == at("2024-03-05 06:00:00")
    assert pingback.kind == CommentKind.pingback
    assert pingback.linkback_source == "https://pinging.example.com/post/"
    assert comments["130"].linkback_source is None
    skipped = [r for r in threaded if isinstance(r, Skipped)]
    assert [(s.source_id, s.reason) for s in skipped] == [
        ("137", "unknown comment status (wp:comment_approved) 'hold'"),
        ("203", "comment type 'order_note' is not a comment, trackback or pingback"),
        ("204", "comment type 'note' is not a comment, trackback or pingback"),
    ]
    assert all(s.line for s in skipped)
    assert len(comments) == 24


def test_threaded_text_is_kept_exactly(threaded: list[Record]) -> None:
    comments = comments_by_id(threaded)
    assert comments["130"].author == "Jürgen 東京"
    assert comments["130"].text == "Grüße, 東京, emoji 😀👍🏽 and “quotes”"
    assert comments["130"].ip == "2001:db8::1"
    assert comments["130"].email == "juergen@example.de"
    assert comments["131"].author == "Tom & Jerry <3"
    assert comments["131"].text == "<p>Escaped &amp; markup</p> outside CDATA"
    assert comments["132"].author == "AT&T"
    assert comments["132"].text == "Fish &amp; chips: <b>bold</b> in CDATA"
    # hostile markup is kept as given: the importer renders it through the sanitizer
    assert comments["133"].text == "<script>alert(1)</script>Hi"
    assert comments["134"].text == '<a href="javascript:alert(1)">x</a>'
    assert comments["135"].text == "<img src=x onerror=alert(1)>"
    assert comments["142"].text == "a literal ]]> inside the text"
    assert comments["101"].website == "https://d1.example.org/"


def test_threaded_zero_gmt_date_falls_back_to_the_local_date(threaded: list[Record]) -> None:
    assert comments_by_id(threaded)["401"].created_at == at("2009-05-06 07:08:09")


@pytest.mark.parametrize(
    "namespace",
    [
        "http://wordpress.org/export/1.0/",
        "http://wordpress.org/export/1.1/",
        "https://wordpress.org/export/1.2/",
    ],
)
def test_threaded_in_other_wxr_versions_reads_the_same(
    threaded: list[Record], namespace: str, tmp_path: Path
) -> None:
    text = THREADED.read_text(encoding="utf-8")
    assert 'xmlns:wp="http://wordpress.org/export/1.2/"' in text
    variant = tmp_path / "variant.xml"
    variant.write_text(
        text.replace(
            'xmlns:wp="http://wordpress.org/export/1.2/"', f'xmlns:wp="{namespace}"'
        ).replace("<wp:wxr_version>1.2<", f"<wp:wxr_version>{namespace[-4:-1]}<"),
        encoding="utf-8",
    )
    assert list(read_wxr(variant)) == threaded


# --- broken and hostile files -------------------------------------------------------------------


def test_truncated_real_export(tmp_path: Path) -> None:
    data = THEME.read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) // 2])
    last_line = cut.read_bytes().count(b"\n") + 1
    with pytest.raises(MalformedExport) as caught:
        list(read_wxr(cut))
    assert caught.value.line is not None
    assert last_line - 1 <= caught.value.line <= last_line
    assert "not well-formed" in caught.value.reason


def test_truncated_inside_a_comment_yields_the_earlier_records_first(tmp_path: Path) -> None:
    text = THREADED.read_text(encoding="utf-8")
    cut = tmp_path / "cut.xml"
    cut.write_text(text[: text.index("Comment depth 05")], encoding="utf-8")
    seen: list[Record] = []

    def consume() -> None:
        seen.extend(read_wxr(cut))  # extend keeps what came before the error

    with pytest.raises(MalformedExport) as caught:
        consume()
    assert [r.source_id for r in seen if isinstance(r, CommentRecord)] == [
        "101",
        "102",
        "103",
        "104",
    ]
    assert caught.value.line == text[: text.index("Comment depth 05")].count("\n") + 1


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>
<wp:post_id>1</wp:post_id><wp:comment><wp:comment_id>1</wp:comment_id>
<wp:comment_content>&lol3;</wp:comment_content></wp:comment></item></channel></rss>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>
<wp:post_id>1</wp:post_id><wp:comment><wp:comment_id>1</wp:comment_id>
<wp:comment_content>&xxe;</wp:comment_content></wp:comment></item></channel></rss>
"""
UNDECLARED_ENTITY = """<?xml version="1.0"?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>
<wp:post_id>1</wp:post_id><wp:comment><wp:comment_id>1</wp:comment_id>
<wp:comment_content>&nbsp;</wp:comment_content></wp:comment></item></channel></rss>
"""


@pytest.mark.parametrize(
    ("content", "line"), [(BILLION_LAUGHS, 2), (EXTERNAL_ENTITY, 2), (UNDECLARED_ENTITY, 4)]
)
def test_entity_attacks_are_malformed_exports(content: str, line: int, tmp_path: Path) -> None:
    path = tmp_path / "attack.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MalformedExport) as caught:
        list(read_wxr(path))
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
            "not a WordPress export: the root element is <{http://www.w3.org/2005/Atom}feed>, not <rss>",
        ),
        (
            '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>A feed</title>\n'
            "<item><title>Post</title><link>https://example.org/p</link></item></channel></rss>",
            "not a WordPress export: no WordPress namespace",
        ),
        (
            '<?xml version="1.0"?>\n<rss version="2.0"><channel></channel></rss>',
            "no WordPress namespace",
        ),
        ('{"threads": []}', "not well-formed XML"),
        ("", "not well-formed XML"),
    ],
)
def test_files_that_are_not_wxr(content: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MalformedExport) as caught:
        list(read_wxr(path))
    assert reason in caught.value.reason
    assert caught.value.line is not None


def _one_comment_file(tmp_path: Path, comment: str) -> Path:
    path = tmp_path / "one.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/">\n'
        "<channel><item><link>https://example.org/p</link><wp:post_id>7</wp:post_id>\n"
        f"<wp:comment>{comment}</wp:comment></item></channel></rss>\n",
        encoding="utf-8",
    )
    return path


def test_a_comment_without_an_id_is_malformed(tmp_path: Path) -> None:
    path = _one_comment_file(
        tmp_path,
        "<wp:comment_content>hi</wp:comment_content><wp:comment_approved>1</wp:comment_approved>",
    )
    with pytest.raises(MalformedExport) as caught:
        list(read_wxr(path))
    assert (caught.value.reason, caught.value.line) == ("a <wp:comment> has no <wp:comment_id>", 4)


def test_a_comment_with_a_bad_date_is_malformed(tmp_path: Path) -> None:
    path = _one_comment_file(
        tmp_path,
        "<wp:comment_id>5</wp:comment_id><wp:comment_approved>1</wp:comment_approved>"
        "<wp:comment_date_gmt>yesterday</wp:comment_date_gmt>",
    )
    with pytest.raises(MalformedExport) as caught:
        list(read_wxr(path))
    assert caught.value.line == 4
    assert "'yesterday' is not a date" in caught.value.reason


# --- the writer ---------------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _comment(
    source_id: str, thread: str, text: str, parent: str | None = None, **fields: object
) -> CommentRecord:
    values: dict = {
        "kind": CommentKind.comment,
        "status": CommentStatus.approved,
        "created_at": T0 + timedelta(minutes=int(source_id)),
        "author": f"Author {source_id}",
        "email": f"a{source_id}@example.org",
        "website": f"https://a{source_id}.example.org/",
        "ip": "203.0.113.9",
    }
    values.update(fields)
    return CommentRecord(
        source_id=source_id, thread_key=thread, text=text, parent_id=parent, **values
    )


SAMPLE: list[tuple[ThreadRecord, list[CommentRecord]]] = [
    (
        ThreadRecord(
            key="/blog/one/",
            url="https://site.example/blog/one/",
            title="One & <Two>",
            created_at=T0,
        ),
        [
            _comment("10", "/blog/one/", "a reply to a later comment", parent="12"),
            _comment("11", "/blog/one/", "Text with ]]> and ]]]]> and <![CDATA[ inside"),
            _comment("12", "/blog/one/", "Grüße, 東京 😀 <p>para</p>", author="Tom & Jerry <3"),
            _comment("13", "/blog/one/", "reply", parent="11", status=CommentStatus.pending),
            _comment("14", "/blog/one/", "spam", status=CommentStatus.spam, ip=""),
            _comment("15", "/blog/one/", "gone", status=CommentStatus.deleted),
        ],
    ),
    (
        ThreadRecord(key="/blog/two/", url="https://site.example/blog/two/", closed=True),
        [
            _comment(
                "20",
                "/blog/two/",
                "[...] cites you [...]",
                kind=CommentKind.trackback,
                website="https://cites.example/x",
                linkback_source="https://cites.example/x",
            ),
            _comment(
                "21",
                "/blog/two/",
                "[...] pings you [...]",
                kind=CommentKind.pingback,
                website="https://pings.example/y",
                linkback_source="https://pings.example/y",
            ),
        ],
    ),
]


def _written(threads: Sequence[tuple[ThreadRecord, Sequence[CommentRecord]]]) -> str:
    out = io.StringIO()
    write_wxr(out, "https://site.example", "My <Site> & more", threads)
    return out.getvalue()


def test_written_wxr_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text(_written(SAMPLE), encoding="utf-8")
    records = list(read_wxr(path))
    assert_threads_come_first(records)
    read_threads = threads(records)
    assert [(t.key, t.url, t.title, t.created_at, t.closed) for t in read_threads] == [
        ("1", "https://site.example/blog/one/", "One & <Two>", T0, False),
        ("2", "https://site.example/blog/two/", "", None, True),
    ]
    read_comments = [r for r in records if isinstance(r, CommentRecord)]
    originals = [c for _, comments in SAMPLE for c in comments]
    assert [c.source_id for c in read_comments] == [str(n) for n in range(1, len(originals) + 1)]
    new_id = {o.source_id: r.source_id for o, r in zip(originals, read_comments, strict=True)}
    for original, read in zip(originals, read_comments, strict=True):
        assert (read.text, read.kind, read.status, read.created_at, read.text_format) == (
            original.text,
            original.kind,
            original.status,
            original.created_at,
            "html",
        )
        assert (read.author, read.email, read.website, read.ip) == (
            original.author,
            original.email,
            original.website,
            original.ip,
        )
        assert read.parent_id == (new_id[original.parent_id] if original.parent_id else None)
        assert read.linkback_source == original.linkback_source
    assert read_comments[0].parent_id == "3"  # the parent that comes later keeps its link


def test_written_wxr_is_what_wordpress_imports() -> None:
    text = _written(SAMPLE)
    assert "]]]]><![CDATA[>" in text  # "]]>" in a text is split across two CDATA sections
    root = ElementTree.fromstring(text)
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "My &lt;Site&gt; &amp; more"
    assert channel.findtext(f"{WP}wxr_version") == "1.2"
    assert channel.findtext(f"{WP}base_site_url") == "https://site.example"
    assert channel.findtext(f"{WP}base_blog_url") == "https://site.example"
    items = channel.findall("item")
    assert [i.findtext(f"{WP}post_id") for i in items] == ["1", "2"]
    assert {i.findtext(f"{WP}post_type") for i in items} == {"post"}
    assert {i.findtext(f"{WP}status") for i in items} == {"publish"}
    assert [i.findtext(f"{WP}comment_status") for i in items] == ["open", "closed"]
    assert [i.findtext(f"{WP}post_date_gmt") for i in items] == [
        "2024-05-01 12:00:00",
        "0000-00-00 00:00:00",
    ]
    comments = [c for i in items for c in i.findall(f"{WP}comment")]
    assert [
        (
            c.findtext(f"{WP}comment_id"),
            c.findtext(f"{WP}comment_parent"),
            c.findtext(f"{WP}comment_approved"),
            c.findtext(f"{WP}comment_type"),
        )
        for c in comments
    ] == [
        ("1", "3", "1", "comment"),
        ("2", "0", "1", "comment"),
        ("3", "0", "1", "comment"),
        ("4", "2", "0", "comment"),
        ("5", "0", "spam", "comment"),
        ("6", "0", "trash", "comment"),
        ("7", "0", "1", "trackback"),
        ("8", "0", "1", "pingback"),
    ]
    assert comments[2].findtext(f"{WP}comment_author") == "Tom &amp; Jerry &lt;3"
    assert comments[0].findtext(f"{WP}comment_date_gmt") == "2024-05-01 12:10:00"
    assert comments[4].findtext(f"{WP}comment_author_IP") == ""


def test_writer_maps_webmentions_to_pingbacks_and_drops_what_xml_cannot_carry(
    tmp_path: Path,
) -> None:
    thread = ThreadRecord(key="k", url="https://site.example/p/")
    comments = [
        _comment(
            "1", "k", "a mention", kind=CommentKind.webmention, linkback_source="https://m.example/"
        ),
        _comment("2", "k", "bell\x07 and nul\x00 gone", parent="99"),  # parent not in the thread
    ]
    path = tmp_path / "export.xml"
    path.write_text(_written([(thread, comments)]), encoding="utf-8")
    read = comments_by_id(list(read_wxr(path)))
    assert read["1"].kind == CommentKind.pingback
    assert read["1"].linkback_source == "https://a1.example.org/"  # a pingback's source is its URL
    assert read["2"].text == "bell and nul gone"
    assert read["2"].parent_id is None


# --- memory -------------------------------------------------------------------------------------

MEMORY_COMMENTS = 20_000
MEMORY_BOUND = (
    20 * 1024 * 1024
)  # bytes: the tracemalloc peak while reading, whatever the file's size


def _big_export() -> Iterator[tuple[ThreadRecord, list[CommentRecord]]]:
    body = "Lorem ipsum dolor sit amet, <em>consectetur</em> adipiscing elit & more. " * 20
    per_thread = 1_000
    for t in range(MEMORY_COMMENTS // per_thread):
        key = f"/post/{t}/"
        thread = ThreadRecord(
            key=key, url=f"https://site.example{key}", title=f"Post {t}", created_at=T0
        )
        yield (
            thread,
            [
                _comment(str(n), key, f"{n} {body}", parent=str(n - 1) if n % 10 != 1 else None)
                for n in range(t * per_thread + 1, (t + 1) * per_thread + 1)
            ],
        )


def test_reading_a_large_export_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    with path.open("w", encoding="utf-8") as out:
        write_wxr(out, "https://site.example", "Big", _big_export())
    assert path.stat().st_size > MEMORY_BOUND  # the file is larger than the bound
    tracemalloc.start()
    try:
        count = replies = 0
        last: CommentRecord | None = None
        for record in read_wxr(path):
            if isinstance(record, CommentRecord):
                count += 1
                replies += record.parent_id is not None
                last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == MEMORY_COMMENTS
    assert last is not None
    assert last.source_id == str(MEMORY_COMMENTS)
    assert replies == MEMORY_COMMENTS * 9 // 10
    assert peak < MEMORY_BOUND, f"peak {peak / 1e6:.1f} MB"
