"""The same text on other pages (issue 22): the fingerprint a comment is stored with, the count of
its copies on other threads read before scoring, and the rule that gives points for it, on a real
database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from moderation.domain.scoring import Signal, Submission
from moderation.domain.states import Action
from moderation.models import Comment, SpamCheck
from moderation.scorers.rules import RuleScorer, weighted
from moderation.scorers.rules.text import text_fingerprint
from moderation.services import comments, imports
from moderation.services.moderation import SYSTEM, apply_action
from tests.services import helpers

CLIENT = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0", referrer="https://x/")
PITCH = "Great article, I learned so much. Visit my page for cheap watches: http://w.example/1"
DAY = 24 * 3600


class Recorder:
    """Keeps every submission it is shown; finds nothing."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[Submission] = []

    def score(self, submission: Submission) -> list[Signal]:
        self.seen.append(submission)
        return []


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rctx(ctx, recorder):
    return replace(ctx, scorers=(recorder,))


def post(session, database, ctx, clock, uri, text=PITCH, site="blog", author="Ann", ip=None):
    clock.advance(60)  # past the flood gap
    session.flush()
    new = comments.NewComment(
        site=site, uri=uri, text=text, author=author, email=f"{author.lower()}@example.org"
    )
    client = replace(CLIENT, ip=ip) if ip else CLIENT
    return helpers.stored(session, helpers.submit(database, ctx, new, client))


def counts(recorder):
    last = recorder.seen[-1]
    return last.repeat_pages, last.repeat_spam_pages


def test_a_comment_is_stored_with_its_fingerprint(session, database, rctx, clock):
    comment = post(session, database, rctx, clock, "/a/")
    assert comment.fingerprint == text_fingerprint(PITCH) != ""
    short = post(session, database, rctx, clock, "/a/", text="Nice post!", author="Bob")
    assert short.fingerprint == ""


def test_the_same_text_on_another_thread_is_counted(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    assert counts(recorder) == (0, 0)
    copy = PITCH.upper().replace("HTTP://W.EXAMPLE/1", "https://elsewhere.example/?x=9")
    other = post(session, database, rctx, clock, "/b/", text=copy, author="Cy")
    assert counts(recorder) == (1, 0)
    check = session.scalars(select(SpamCheck).where(SpamCheck.comment_id == other.id)).one()
    assert (check.submitted["repeat_pages"], check.submitted["repeat_spam_pages"]) == (1, 0)


def test_other_sites_count_too(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/", site="other")
    post(session, database, rctx, clock, "/a/")
    assert counts(recorder) == (1, 0)


def test_copies_on_the_same_thread_do_not_count(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    post(session, database, rctx, clock, "/a/", author="Bob")
    assert counts(recorder) == (0, 0)


def test_pages_are_counted_once_each(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    post(session, database, rctx, clock, "/a/", author="Bob")
    post(session, database, rctx, clock, "/b/")
    post(session, database, rctx, clock, "/c/")
    assert counts(recorder) == (2, 0)


def test_short_texts_are_never_counted(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/", text="Thanks, great post!")
    post(session, database, rctx, clock, "/b/", text="Thanks, great post!")
    assert counts(recorder) == (0, 0)


def test_copies_older_than_the_window_do_not_count(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    clock.advance(30 * DAY)
    post(session, database, rctx, clock, "/b/")
    assert counts(recorder) == (0, 0)
    clock.advance(29 * DAY)
    post(session, database, rctx, clock, "/c/")
    assert counts(recorder) == (1, 0)  # /b/'s copy is within 30 days, /a/'s is not


@pytest.mark.parametrize("settings", [{"spam.repeat_window_days": 0}], indirect=True)
def test_a_window_of_zero_turns_the_lookup_off(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    post(session, database, rctx, clock, "/b/")
    assert counts(recorder) == (0, 0)


def _act(database, ctx, comment_id, action):
    helpers.write(
        database, lambda tx: apply_action(tx, ctx, tx.get(Comment, comment_id), action, SYSTEM)
    )


def test_deleted_copies_do_not_count(session, database, rctx, clock, recorder):
    first = post(session, database, rctx, clock, "/a/")
    _act(database, rctx, first.id, Action.delete)
    post(session, database, rctx, clock, "/b/")
    assert counts(recorder) == (0, 0)


def test_copies_marked_spam_are_counted_apart(session, database, rctx, clock, recorder):
    first = post(session, database, rctx, clock, "/a/")
    post(session, database, rctx, clock, "/b/")
    _act(database, rctx, first.id, Action.spam)
    post(session, database, rctx, clock, "/c/")
    assert counts(recorder) == (2, 1)


def test_an_edit_is_counted_and_refingerprinted(session, database, rctx, clock, recorder):
    post(session, database, rctx, clock, "/a/")
    mine = post(session, database, rctx, clock, "/b/", text="A thoughtful reply about indexes.")
    assert counts(recorder) == (0, 0)
    token = comments.edit_token(rctx, mine)
    helpers.edit(database, rctx, mine.id, token, PITCH)
    assert counts(recorder) == (1, 0)
    assert helpers.stored(session, mine).fingerprint == text_fingerprint(PITCH)


def test_the_rule_gives_points_and_a_reason(session, database, ctx, clock, monkeypatch):
    monkeypatch.setattr(weighted, "REPEAT_POINTS", 0.4)  # none as shipped (weighted.py says why)
    ctx = replace(ctx, scorers=(RuleScorer(),))
    first = post(session, database, ctx, clock, "/a/")
    second = post(session, database, ctx, clock, "/b/", author="Bob", ip="198.51.100.9")
    names = [[s["name"] for s in c.checks[-1].signals] for c in (first, second)]
    assert "rules.repeated_text" not in names[0]
    (signal,) = [s for s in second.checks[-1].signals if s["name"] == "rules.repeated_text"]
    assert signal["score"] == 0.4
    assert signal["reason"] == "the same text was posted on 1 other page lately"
    # The rule's points are all that sets the copy apart from the first.
    assert second.checks[-1].score == pytest.approx(first.checks[-1].score + signal["score"])


def test_imported_comments_are_fingerprinted(session, database, ctx):
    isso = Path(__file__).parent.parent / "fixtures" / "imports" / "isso" / "comments.db"
    imports.run_import(database, ctx, "blog", "isso", isso)
    rows = session.execute(select(Comment.text, Comment.fingerprint)).all()
    assert rows
    assert all(fingerprint == text_fingerprint(text) for text, fingerprint in rows)
    assert any(fingerprint for _, fingerprint in rows)
