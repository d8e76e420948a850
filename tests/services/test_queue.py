"""The moderation queue's listing services on SQLite and PostgreSQL: filters, search, keyset pages,
counts and the indexes they walk; the actions are in test_queue_actions.py."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind
from moderation.errors import InvalidInput
from moderation.models import SpamCheck
from moderation.services import queue as q
from moderation.services import queue_filters as qf
from tests.factories import make_comment, make_thread
from tests.services.queue_helpers import S, ids, pending

SITES = {"blog", "other"}


def add_check(session, comment, verdict=Verdict.unsure, score=1.5, signals=None):
    check = SpamCheck(
        comment_id=comment.id,
        verdict=verdict,
        score=score,
        submitted={},
        signals=signals
        if signals is not None
        else [{"name": "rules.links", "score": score, "reason": "3 links"}],
    )
    session.add(check)
    session.flush()
    return check


# --- parsing ---------------------------------------------------------------------------------------


def test_parse_filter_defaults_to_the_pending_tab():
    f = qf.parse_filter({}, SITES)
    assert f == qf.QueueFilter(status=S.pending)
    assert f.args() == {"status": "pending"}


def test_parse_filter_reads_every_field():
    args = {
        "status": "spam",
        "site": "blog",
        "uri": "/p/",
        "kind": "pingback",
        "q": " Ann ",
        "discarded": "1",
    }
    f = qf.parse_filter(args, SITES)
    assert f == qf.QueueFilter(S.spam, "blog", "/p/", CommentKind.pingback, "Ann", True)
    assert qf.parse_filter(f.args(), SITES) == f


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"site": "nope"}, "site"),
        ({"kind": "x"}, "kind"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_parse_filter_bad_input_names_the_field(args, field):
    with pytest.raises(InvalidInput) as err:
        qf.parse_filter(args, SITES)
    assert field in err.value.fields


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "-1"}, "cursor"),
        ({"cursor": "1.5"}, "cursor"),
        ({"limit": "٣"}, "limit"),
    ],
)
def test_parse_page_bad_input_names_the_field(args, field):
    with pytest.raises(InvalidInput) as err:
        qf.parse_page(args)
    assert field in err.value.fields


def test_parse_page_defaults_and_values():
    assert qf.parse_page({}) == (50, None)
    assert qf.parse_page({"limit": "10", "cursor": "99"}) == (10, 99)


def test_escape_like_escapes_wildcards_and_the_escape():
    assert qf.escape_like(r"50%_a\b") == r"50\%\_a\\b"


# --- listing ---------------------------------------------------------------------------------------


def test_list_queue_is_newest_first_and_keyset_pages_cover_everything_once(session):
    thread = make_thread(session)
    made = [pending(session, thread, text=f"c{i}").id for i in range(7)]
    make_comment(session, thread)  # approved: another tab
    seen, cursor, pages = [], None, 0
    while True:
        page = q.list_queue(session, qf.QueueFilter(), limit=3, cursor=cursor)
        seen += ids(page)
        pages += 1
        if page.next is None:
            break
        assert page.next == ids(page)[-1]
        cursor = page.next
    assert seen == sorted(made, reverse=True)
    assert pages == 3


def test_list_queue_loads_threads_and_latest_checks(session):
    thread = make_thread(session, uri="/a/")
    comment = pending(session, thread)
    add_check(session, comment, Verdict.ham, 0.0)
    newest = add_check(session, comment, Verdict.spam, 6.0)
    other = pending(session, thread)
    page = q.list_queue(session, qf.QueueFilter())
    by_id = {item.comment.id: item for item in page.items}
    assert by_id[comment.id].check.id == newest.id
    assert by_id[other.id].check is None
    assert by_id[comment.id].comment.thread.uri == "/a/"


def test_list_rows_are_list_queue_as_rows_with_thread_and_latest_check(session):
    thread = make_thread(session, uri="/a/", title="A post")
    made = [pending(session, thread, text=f"c{i}") for i in range(5)]
    add_check(session, made[4], Verdict.ham, 0.0)
    newest = add_check(
        session, made[4], Verdict.spam, 6.0, signals=[{"name": "x", "score": 6.0, "reason": "r"}]
    )
    f = qf.QueueFilter(q="c")
    first = q.list_rows(session, f, limit=3)
    second = q.list_rows(session, f, limit=3, cursor=first.next)
    assert [r.id for r in first.rows] == ids(q.list_queue(session, f, limit=3))
    assert first.next == first.rows[-1].id
    assert [r.id for r in first.rows + second.rows] == [c.id for c in reversed(made)]
    assert second.next is None
    top = first.rows[0]
    assert (top.site, top.uri, top.title, top.status) == ("blog", "/a/", "A post", S.pending)
    check = first.checks[top.id]
    assert (check.verdict, check.score, check.signals) == (Verdict.spam, 6.0, newest.signals)
    assert set(first.checks) == {top.id}


def test_filters_by_site_thread_and_kind(session):
    blog_a = make_thread(session, uri="/a/")
    blog_b = make_thread(session, uri="/b/")
    other = make_thread(session, site="other", uri="/a/")
    a = pending(session, blog_a)
    b = pending(session, blog_b, kind=CommentKind.pingback, source="https://x.example/")
    o = pending(session, other)

    def shown(**kw):
        return set(ids(q.list_queue(session, qf.QueueFilter(**kw))))

    assert shown() == {a.id, b.id, o.id}
    assert shown(site="blog") == {a.id, b.id}
    assert shown(site="blog", uri="/a/") == {a.id}
    assert shown(uri="/a/") == {a.id, o.id}
    assert shown(kind=CommentKind.pingback) == {b.id}
    assert shown(status=S.approved) == set()


def test_spam_tab_hides_discards_unless_asked(session):
    thread = make_thread(session)
    spam = make_comment(session, thread, status=S.spam)
    discarded = make_comment(session, thread, status=S.spam, discarded=True)
    assert ids(q.list_queue(session, qf.QueueFilter(S.spam))) == [spam.id]
    shown = ids(q.list_queue(session, qf.QueueFilter(S.spam, discarded=True)))
    assert shown == [discarded.id, spam.id]
    counts = q.status_counts(session, qf.QueueFilter(S.spam))
    assert (counts["spam"], counts["discarded"]) == (1, 1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("HELLO", "text"),
        ("bob smith", "author"),
        ("BOB@EXAMPLE", "email"),
        ("spam-site.example", "website"),
        ("198.51.100", "ip"),
    ],
)
def test_search_is_case_insensitive_over_every_field(session, query, expected):
    thread = make_thread(session)
    made = {
        "text": pending(session, thread, text="Hello world"),
        "author": pending(session, thread, author="Bob Smith", email="x@example.org"),
        "email": pending(session, thread, email="bob@example.com"),
        "website": pending(session, thread, website="https://SPAM-site.example/"),
        "ip": pending(session, thread, ip="198.51.100.7"),
    }
    page = q.list_queue(session, qf.QueueFilter(q=query))
    assert ids(page) == [made[expected].id]


def test_search_treats_percent_and_underscore_literally(session):
    thread = make_thread(session)
    percent = pending(session, thread, text="save 50% today")
    pending(session, thread, text="save 500 today")
    under = pending(session, thread, text="snake_case")
    pending(session, thread, text="snakeXcase")
    backslash = pending(session, thread, text=r"C:\temp")
    assert ids(q.list_queue(session, qf.QueueFilter(q="50%"))) == [percent.id]
    assert ids(q.list_queue(session, qf.QueueFilter(q="e_c"))) == [under.id]
    assert ids(q.list_queue(session, qf.QueueFilter(q="\\t"))) == [backslash.id]


def test_search_and_keyset_combine(session):
    thread = make_thread(session)
    hits = [pending(session, thread, text=f"needle {i}").id for i in range(5)]
    pending(session, thread, text="hay")
    first = q.list_queue(session, qf.QueueFilter(q="needle"), limit=2)
    second = q.list_queue(session, qf.QueueFilter(q="needle"), limit=2, cursor=first.next)
    assert ids(first) + ids(second) == sorted(hits, reverse=True)[:4]


def test_status_counts_follow_site_but_not_search_and_stop_at_the_cap(session):
    blog = make_thread(session)
    other = make_thread(session, site="other")
    for _ in range(4):
        pending(session, blog)
    pending(session, other)
    make_comment(session, blog)
    counts = q.status_counts(session, qf.QueueFilter(q="nothing matches"))
    assert counts == {"pending": 5, "approved": 1, "spam": 0, "deleted": 0, "discarded": 0}
    assert q.status_counts(session, qf.QueueFilter(site="other"))["pending"] == 1
    assert q.status_counts(session, qf.QueueFilter(), cap=2)["pending"] == 3  # "2+"


def plan_of(session, query):
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    if session.get_bind().dialect.name == "sqlite":
        return " ".join(str(r) for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return " ".join(str(r) for r in session.execute(text(f"EXPLAIN {sql}")))


def test_queue_page_uses_the_status_index(session):
    """The page query walks the status index on both engines (the benchmark shows it at 1M)."""
    plan = plan_of(session, q.queue_query(qf.QueueFilter(S.spam), limit=51, cursor=1000))
    assert "ix_comments_status_id_discarded" in plan
    assert "TEMP B-TREE" not in plan
    assert "Sort" not in plan


def test_tab_counts_read_only_the_status_index(database):
    """One statement; every tab's count, the spam tab's and its hidden discards' too, is a walk of
    the status index that never reads the table (`discarded` is in the index)."""
    with database.read() as session:  # one connection, as a request's reads
        conn, sent = session.connection(), []

        def record(_conn, _cursor, statement, parameters, _context, _many):
            sent.append((statement, parameters))

        event.listen(conn.engine, "before_cursor_execute", record)
        try:
            q.status_counts(session, qf.QueueFilter(S.spam))
        finally:
            event.remove(conn.engine, "before_cursor_execute", record)
        assert len(sent) == 1
        sql, params = sent[0]
        if conn.dialect.name == "sqlite":
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            walks = [line for line in plan if "comments" in line]
            assert (
                walks
                == [
                    "SEARCH comments USING COVERING INDEX ix_comments_status_id_discarded "
                    "(status=?)"
                ]
                * 5
            )
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
            assert plan.count("Index Only Scan using ix_comments_status_id_discarded") == 5
            assert "Index Scan" not in plan


def test_status_counts_on_the_spam_tab_count_the_hidden_discards_up_to_the_cap(session):
    thread = make_thread(session)
    for _ in range(3):
        make_comment(session, thread, status=S.spam, discarded=True)
    make_comment(session, thread, status=S.spam)
    make_comment(session, thread, status=S.deleted, discarded=True)
    counts = q.status_counts(session, qf.QueueFilter(S.spam), cap=2)
    assert counts == {"pending": 0, "approved": 0, "spam": 1, "deleted": 1, "discarded": 3}
    assert q.status_counts(session, qf.QueueFilter(S.spam, discarded=True))["spam"] == 4
