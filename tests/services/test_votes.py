"""Votes on comments and likes of pages on the test's database (SQLite and PostgreSQL): one vote
per reader, changeable, counted for many readers, bounded per IP, never for unpublished comments,
and the thread's version bumped so cached answers change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from moderation.domain.states import CommentStatus
from moderation.errors import Forbidden, InvalidInput, NotFound, RateLimited
from moderation.models import Comment, Thread, Vote
from moderation.services import votes
from tests.factories import make_comment, make_thread


def cast_vote(database, ctx, comment_id, reader, value, ip="203.0.113.1"):
    with database.write() as tx:
        return votes.vote(tx, ctx, comment_id, reader, value, ip)


@pytest.fixture
def comment(session):
    return make_comment(session, make_thread(session))


def test_one_vote_per_reader_changeable_and_counted_across_readers(database, ctx, session, comment):
    version = session.get(Thread, comment.thread_id).version
    assert cast_vote(database, ctx, comment.id, "reader-aaaa", 1) == {"likes": 1, "mine": 1}
    assert cast_vote(database, ctx, comment.id, "reader-aaaa", 1) == {"likes": 1, "mine": 1}
    for n in range(5):
        cast_vote(database, ctx, comment.id, f"reader-{n:04d}", 1, ip=f"198.51.100.{n}")
    assert cast_vote(database, ctx, comment.id, "reader-aaaa", 0) == {"likes": 5, "mine": 0}
    session.expire_all()
    stored = session.get(Comment, comment.id)
    assert (stored.likes, stored.dislikes) == (5, 0)
    assert session.scalar(select(func.count()).select_from(Vote)) == 5
    assert session.get(Thread, comment.thread_id).version > version
    # the stored reader is a keyed hash, not the id the widget sent
    assert "reader-0001" not in session.scalars(select(Vote.reader)).all()


def test_dislikes_only_where_the_site_counts_them(database, ctx, comment):
    with pytest.raises(InvalidInput):
        cast_vote(database, ctx, comment.id, "reader-aaaa", -1)


@pytest.mark.parametrize("settings", [{"sites.blog.votes": "up-down"}], indirect=True)
def test_up_down_votes_move_between_the_counts(database, ctx, comment):
    assert cast_vote(database, ctx, comment.id, "reader-aaaa", -1) == {
        "likes": 0,
        "dislikes": 1,
        "mine": -1,
    }
    assert cast_vote(database, ctx, comment.id, "reader-aaaa", 1) == {
        "likes": 1,
        "dislikes": 0,
        "mine": 1,
    }


@pytest.mark.parametrize("settings", [{"guard.votes_per_ip_per_day": 3}], indirect=True)
def test_ballot_stuffing_from_one_ip_is_bounded(database, ctx, comment, clock):
    for n in range(3):
        cast_vote(database, ctx, comment.id, f"stuffer-{n:04d}", 1)
    with pytest.raises(RateLimited):
        cast_vote(database, ctx, comment.id, "stuffer-9999", 1)
    cast_vote(database, ctx, comment.id, "stuffer-0000", 0)  # taking one back is always allowed
    clock.advance(86400 + 1)
    assert cast_vote(database, ctx, comment.id, "stuffer-9999", 1)["likes"] == 3


def test_unpublished_comments_and_bad_readers_are_refused(database, ctx, session):
    held = make_comment(session, make_thread(session), status=CommentStatus.pending)
    with pytest.raises(NotFound):
        cast_vote(database, ctx, held.id, "reader-aaaa", 1)
    with pytest.raises(InvalidInput):
        cast_vote(database, ctx, held.id, "short", 1)


@pytest.mark.parametrize("settings", [{"sites.blog.votes": "off"}], indirect=True)
def test_votes_off(database, ctx, comment):
    with pytest.raises(Forbidden):
        cast_vote(database, ctx, comment.id, "reader-aaaa", 1)


@pytest.mark.parametrize("settings", [{"sites.blog.page_likes": True}], indirect=True)
def test_page_likes(database, ctx, session):
    def like(reader, liked=True):
        with database.write() as tx:
            return votes.like_page(tx, ctx, "blog", "/liked/", reader, liked, "203.0.113.1")

    assert like("reader-aaaa") == {"likes": 1, "mine": True}
    assert like("reader-aaaa") == {"likes": 1, "mine": True}
    assert like("reader-bbbb") == {"likes": 2, "mine": True}
    assert like("reader-aaaa", False) == {"likes": 1, "mine": False}
    thread = session.scalars(select(Thread).where(Thread.uri == "/liked/")).one()
    assert thread.likes == 1


def test_page_likes_off_by_default(database, ctx):
    with pytest.raises(Forbidden), database.write() as tx:
        votes.like_page(tx, ctx, "blog", "/p/", "reader-aaaa", True, "")
