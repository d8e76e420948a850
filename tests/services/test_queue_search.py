"""The queue's search across tabs and its index (migration 0012), on SQLite and PostgreSQL: a search
finds its matches in every status with per-status counts; the index follows every write path
(posts, moderator and author edits, purges, privacy erasure); the tab counts follow every
transition and imports."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from moderation.domain.states import Action
from moderation.models import Moderator, Role
from moderation.services import comments, imports, privacy, spam
from moderation.services import queue as q
from moderation.services import queue_filters as qf
from moderation.services.moderation import Actor
from tests.factories import make_comment, make_thread
from tests.services import helpers
from tests.services.queue_helpers import S

ISSO = Path(__file__).parent.parent / "fixtures" / "imports" / "isso" / "comments.db"
CLIENT = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0", referrer="https://x/")


@pytest.fixture
def actor(session):
    moderator = Moderator(email="mod@example.org", password_hash="x", role=Role.moderator)
    session.add(moderator)
    session.flush()
    return Actor.moderator(moderator.id, moderator.email)


def found(session, query, status=S.pending, **kw):
    """The ids a search from the tab `status` lists (both listings agree)."""
    f = qf.QueueFilter(status, q=query, **kw)
    rows = [row.id for row in q.list_rows(session, f).rows]
    assert [item.comment.id for item in q.list_queue(session, f).items] == rows
    return rows


def indexed_ids(session, query):
    """SQLite: the rowids the FTS5 table itself holds for `query` (no exact check after it), so a
    stale index shows; PostgreSQL keeps its GIN index itself: the search's own answer."""
    if session.get_bind().dialect.name != "sqlite":
        return {i for status in S for i in found(session, query, status, discarded=True)}
    sql = text("SELECT rowid FROM comments_fts WHERE comments_fts MATCH :m")
    return set(session.scalars(sql, {"m": qf.fts_query(query)}))


# --- across the queue ------------------------------------------------------------------------------


def test_a_search_from_one_tab_counts_its_matches_in_every_tab(session):
    thread = make_thread(session)
    other_site = make_thread(session, site="other")
    held = make_comment(session, thread, status=S.pending, text="Off to Zanzibar soon")
    approved = [
        make_comment(session, thread, text="zanzibar is lovely"),
        make_comment(session, thread, text="Went to ZANZIBAR."),
    ]
    spam = make_comment(session, thread, status=S.spam, text="cheap zanzibar flights")
    discarded = make_comment(
        session, thread, status=S.spam, discarded=True, text="zanzibar pills zanzibar"
    )
    make_comment(session, thread, status=S.deleted, text="zanzibar, again")
    make_comment(session, thread, status=S.spam, text="nothing to see")
    make_comment(session, other_site, status=S.spam, text="zanzibar elsewhere")

    assert found(session, "zanzibar") == [held.id]
    assert found(session, "anziba", S.approved) == [c.id for c in reversed(approved)]
    assert found(session, "zanzibar", S.spam, site="blog") == [spam.id]
    shown = found(session, "zanzibar", S.spam, site="blog", discarded=True)
    assert shown == [discarded.id, spam.id]  # the discards too

    counts = q.search_counts(session, qf.QueueFilter(S.pending, site="blog", q="Zanzibar"))
    assert counts.by_status == {
        "pending": 1,
        "approved": 2,
        "spam": 1,
        "deleted": 1,
        "discarded": 1,
    }
    assert not counts.more
    assert counts.total == 6
    here = qf.QueueFilter(S.pending, site="blog", q="Zanzibar")
    assert counts.elsewhere(here) == {"approved": 2, "spam": 1, "deleted": 1}
    everywhere = q.search_counts(session, qf.QueueFilter(S.spam, q="zanzibar", discarded=True))
    assert everywhere.by_status["spam"] == 3  # discards shown, and the other site's
    assert everywhere.by_status["discarded"] == 0
    assert q.search_counts(session, qf.QueueFilter(S.pending)).total == 0  # no search


def test_search_counts_stop_at_the_cap_and_say_there_are_more(session):
    thread = make_thread(session)
    for i in range(5):
        make_comment(session, thread, status=S.spam if i % 2 else S.approved, text=f"budget {i}")
    counts = q.search_counts(session, qf.QueueFilter(q="budget"), cap=3)
    assert counts.more
    assert counts.total == 4  # the newest four: lower bounds
    assert q.search_counts(session, qf.QueueFilter(q="budget"), cap=5).by_status["approved"] == 3


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("ann@exam", True),  # e-mail, by prefix
        ("EXAMPLE.ORG", True),  # ... any part, any case
        ("198.51.100.7", True),  # the IP exactly
        ("198.51.100.70", False),
        ("ann.example", True),  # the website
        ("Annabel", True),  # the author
        ("x%", False),  # LIKE's wildcards are literal
        ("7", True),  # one or two characters: no index, the same match
        ("t_o", False),
        ('"quoted" and', True),  # FTS5's syntax is literal too
    ],
)
def test_search_matches_a_substring_of_any_column_as_before(session, query, hit):
    thread = make_thread(session)
    comment = make_comment(
        session,
        thread,
        status=S.pending,
        author="Annabel",
        email="ann@example.org",
        website="https://ann.example",
        ip="198.51.100.7",
        text='She said "quoted" and left: two',
    )
    assert found(session, query) == ([comment.id] if hit else [])


def test_keyset_pages_of_a_search_walk_every_match_once(session):
    thread = make_thread(session)
    made = [make_comment(session, thread, status=S.pending, text=f"pangolin {i}") for i in range(7)]
    make_comment(session, thread, status=S.pending, text="no match")
    seen, cursor = [], None
    f = qf.QueueFilter(q="pangolin")
    while True:
        page = q.list_rows(session, f, limit=3, cursor=cursor)
        seen += [row.id for row in page.rows]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [c.id for c in reversed(made)]


# --- the rarest trigrams ---------------------------------------------------------------------------


@pytest.fixture
def readers(session):
    """40 readers at one domain (their address's every trigram but a few in 40 rows) and the one
    searched for, whose digits are in no other row. The counts kept from other tests' rows (in a
    database at the same path) are forgotten first."""
    qf.clear_probes()
    thread = make_thread(session)
    for n in range(100, 140):
        make_comment(session, thread, author=f"Reader {n}", email=f"reader{n}@example.org")
    return make_comment(session, thread, author="Reader 4242", email="reader4242@example.org")


def statements(session):
    """The SQL statements run on `session`'s database from now on (a list that grows)."""
    seen: list[str] = []
    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_search_asks_the_index_for_its_rarest_trigrams(session, readers):
    address = "READER4242@example.org"  # any case: the trigram table folds it
    chosen = qf.rarest_fts_query(session, address)
    if session.get_bind().dialect.name != "sqlite":
        assert chosen == ""  # PostgreSQL's trigram index is asked as before
    else:
        grams = re.findall(r'"([^"]+)"', chosen)
        assert len(grams) == qf.RAREST
        only_its_row = {"er4", "r42", "424", "242", "42@", "2@e"}  # the others are in 41 rows
        assert {gram.lower() for gram in grams} <= only_its_row
        assert qf.with_rarest(session, qf.QueueFilter(S.approved, q=address)).fts == chosen
    f = qf.QueueFilter(S.approved, q=address)
    assert found(session, address, S.approved) == [readers.id]
    assert q.search_counts(session, f).by_status["approved"] == 1
    assert found(session, "reader13", S.approved) == [
        item.comment.id for item in q.list_queue(session, f.but(q="reader13")).items
    ]
    assert len(found(session, "reader13", S.approved)) == 10  # 130..139, as without the index


def test_a_common_trigram_is_never_asked_for_beside_a_rare_one(session, readers, monkeypatch):
    monkeypatch.setattr(qf, "PROBE_CAP", 30)  # "rea", "der", ... are in all 41 rows: common
    chosen = qf.rarest_fts_query(session, "reader4")
    expected = '"er4"' if session.get_bind().dialect.name == "sqlite" else ""
    assert chosen == expected  # its only trigram in fewer than 30 rows, alone
    assert found(session, "reader4", S.approved) == [readers.id]
    assert qf.rarest_fts_query(session, "example") == ""  # nothing rare: every third trigram


def test_a_trigram_in_no_row_finds_nothing_and_probes_are_kept(session, readers):
    seen = statements(session)
    assert found(session, "reader4243", S.approved) == []  # "243" is in no row
    probes = [sql for sql in seen if "LIMIT" in sql and "comments_fts MATCH" in sql]
    if session.get_bind().dialect.name == "sqlite":
        assert probes  # each trigram counted once ...
        seen.clear()
        assert found(session, "reader4243", S.approved) == []
        assert not [sql for sql in seen if "LIMIT ?)" in sql and "count(*)" in sql]  # ... then kept
    else:
        assert not probes


def test_another_search_forgets_the_trigrams_of_the_last(session, readers):
    f = qf.with_rarest(session, qf.QueueFilter(S.approved, q="reader4242"))
    assert f.but(status=S.spam).fts == f.fts
    assert f.but(q="reader101").fts == ""
    assert found(session, "reader101", S.approved) == [
        item.comment.id for item in q.list_queue(session, f.but(q="reader101")).items
    ]
    assert len(found(session, "reader101", S.approved)) == 1


def test_a_long_search_probes_at_most_sixteen_trigrams_spread_over_it():
    text = "the quick brown fox jumps over the lazy dog again and again"
    grams = qf.trigrams(text)
    assert len(grams) <= qf.PROBE_MAX
    every = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    assert len(every) > qf.PROBE_MAX
    assert grams[0] == every[0]
    assert grams[-1] == every[-1]
    assert set(grams) <= set(every)
    assert qf.trigrams("abcd") == ["abc", "bcd"]


# --- the index follows every write -----------------------------------------------------------------


def test_the_index_follows_posts_and_author_edits(session, database, ctx, clock):
    new = comments.NewComment(
        site="blog", uri="/post/", text="A wombat wandered by.", author="Ann", email="a@x.org"
    )
    posted = helpers.stored(session, helpers.submit(database, ctx, new, CLIENT))
    assert indexed_ids(session, "wombat") == {posted.id}
    clock.advance(60)
    token = comments.edit_token(ctx, posted)
    helpers.edit(database, ctx, posted.id, token, "A platypus, in fact.")
    assert indexed_ids(session, "wombat") == set()
    assert indexed_ids(session, "platypus") == {posted.id}


def test_the_index_follows_a_moderators_edit(session, ctx, actor):
    thread = make_thread(session)
    comment = make_comment(session, thread, status=S.pending, text="teh quokka")
    q.edit_comment(session, ctx, comment.id, "the echidna", actor)
    session.flush()
    assert indexed_ids(session, "quokka") == set()
    assert found(session, "echidna") == [comment.id]


def test_the_index_forgets_purged_comments(session, database, ctx, clock):
    thread = make_thread(session)
    old = make_comment(
        session,
        thread,
        status=S.spam,
        text="narwhal offers",
        created_at=clock.now - timedelta(days=60),
    )
    kept = make_comment(session, thread, status=S.spam, text="narwhal news")
    assert indexed_ids(session, "narwhal") == {old.id, kept.id}
    assert spam.purge(database, ctx) == 1
    assert indexed_ids(session, "narwhal") == {kept.id}
    assert q.search_counts(session, qf.QueueFilter(q="narwhal")).by_status["spam"] == 1


def test_the_index_forgets_erased_personal_data(session, ctx):
    thread = make_thread(session)
    comment = make_comment(
        session, thread, status=S.pending, author="Zebedee", email="zeb@example.org"
    )
    assert found(session, "zebedee") == [comment.id]
    privacy.erase_personal_data(session, ctx, "zeb@example.org")
    session.flush()
    assert indexed_ids(session, "zebedee") == set()
    assert found(session, "zeb@example") == []
    assert q.search_counts(session, qf.QueueFilter(q="zebedee")).total == 0


# --- tab counts through every transition -----------------------------------------------------------


def tabs(session, **kw):
    counts = q.status_counts(session, qf.QueueFilter(**kw))
    return {k: v for k, v in counts.items() if v}


def test_tab_counts_follow_every_transition_and_purge(session, database, ctx, clock, actor):
    thread = make_thread(session)
    a, b, c = (make_comment(session, thread, status=S.pending, text="ibis") for _ in range(3))
    assert tabs(session) == {"pending": 3}
    for comment_id, action in ((a.id, Action.approve), (b.id, Action.spam), (c.id, Action.delete)):
        q.act_on(session, ctx, comment_id, action, actor)
    session.flush()
    assert tabs(session) == {"approved": 1, "spam": 1, "deleted": 1}
    q.act_on(session, ctx, c.id, Action.restore, actor)
    q.act_on(session, ctx, b.id, Action.ham, actor)
    session.flush()
    assert tabs(session) == {"pending": 1, "approved": 2}
    assert q.search_counts(session, qf.QueueFilter(q="ibis")).by_status == {
        "pending": 1,
        "approved": 2,
        "spam": 0,
        "deleted": 0,
        "discarded": 0,
    }
    q.act_on(session, ctx, c.id, Action.spam, actor)
    session.flush()
    c.created_at = clock.now - timedelta(days=60)
    session.flush()
    assert spam.purge(database, ctx) == 1
    assert tabs(session) == {"approved": 2}


def test_tab_counts_include_imported_comments(session, database, ctx):
    imports.run_import(database, ctx, "blog", "isso", ISSO)
    assert tabs(session, site="blog") == {"pending": 3, "approved": 15, "deleted": 1}
    assert q.search_counts(session, qf.QueueFilter(q="e")).total >= 15
