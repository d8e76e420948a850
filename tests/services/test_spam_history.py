"""`learn_history`: a site's imported history teaches the classifier and fills its reserve once,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import (
    ClassifierCount,
    ClassifierCutoff,
    ClassifierDecision,
    Comment,
    SpamCheck,
)
from moderation.scorers.classifier.features import features
from moderation.scorers.classifier.model import DECISION_WEIGHT
from moderation.services import build_context, spam
from moderation.services.spam import submission_of
from moderation.services.spam_history import UnknownSite, learn_history
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread

PLAIN = [
    "I tried the second approach on my laptop and it worked after a restart.",
    "Could you say more about how the cache is invalidated when a post changes?",
    "Thanks, this explanation of the migration finally made sense to me.",
    "We ran into the same problem last spring; pinning the version fixed it.",
    "Nice write-up. The diagrams helped a lot with the part about indexes.",
]
SPAM = "CHECK OUT MY CHANNEL!!! subscribe http://bit.ly/x free money http://bit.ly/y"
START = datetime(2019, 1, 1, tzinfo=UTC)


@pytest.fixture
def hctx(tmp_path, clock):
    """The production context; the reserve's size and the share are the test's."""

    def make(**overrides):
        settings = make_settings(tmp_path, **{"spam.max_false_positive_share": 0.05, **overrides})
        return build_context(settings, clock=clock)

    return make


def imported(session, thread, n_ham, n_spam, start=START, **kw):
    """Comments as an import leaves them: approved or spam, no spam check, nothing learned;
    one an hour, the ham first."""
    made = []
    for i in range(n_ham + n_spam):
        is_spam = i >= n_ham
        made.append(
            make_comment(
                session,
                thread,
                status=CommentStatus.spam if is_spam else CommentStatus.approved,
                text=f"{SPAM} {i}" if is_spam else f"{PLAIN[i % 5]} ({i})",
                author=f"Bot {i}" if is_spam else f"Reader {i}",
                created_at=start + timedelta(hours=i),
                import_source="disqus",
                import_id=f"{start.isoformat()}/{i}",
                **kw,
            )
        )
    return made


def learned(session, comments):
    session.expire_all()
    return [session.get(Comment, c.id).learned for c in comments]


def reserve(session, site="blog"):
    rows = session.execute(
        select(ClassifierDecision.comment_id, ClassifierDecision.is_spam).where(
            ClassifierDecision.site == site
        )
    ).all()
    return sorted(rows, key=lambda row: (row[0] or 0, row[1]))


def totals(session):
    session.expire_all()
    row = session.get(ClassifierCount, "")
    return (row.spam, row.ham) if row else (0.0, 0.0)


def test_an_imported_history_is_learned_once_and_calibrates_the_site(database, session, hctx):
    ctx = hctx()
    thread = make_thread(session)
    ham_rows = imported(session, thread, n_ham=25, n_spam=0)
    spam_rows = imported(session, thread, 0, 25, start=START + timedelta(days=5))
    shipped = spam.base_model().cutoffs

    report = learn_history(database, ctx, "blog", batch=7)  # several writes

    assert (report.learned_ham, report.learned_spam, report.reserve_only_ham) == (25, 25, 0)
    assert learned(session, ham_rows) == ["ham"] * 25
    assert learned(session, spam_rows) == ["spam"] * 25
    assert totals(session) == (25 * DECISION_WEIGHT, 25 * DECISION_WEIGHT)
    assert reserve(session) == sorted(
        [(c.id, False) for c in ham_rows] + [(c.id, True) for c in spam_rows]
    )
    row = session.get(ClassifierCutoff, "blog")
    assert (row.ham_decisions, row.spam_decisions) == (25, 25)
    assert report.before == shipped
    assert spam.site_cutoffs(session, "blog") == report.after != shipped

    again = learn_history(database, ctx, "blog")
    assert (again.learned_ham, again.learned_spam, again.reserve_added) == (0, 0, 0)
    assert totals(session) == (25 * DECISION_WEIGHT, 25 * DECISION_WEIGHT)
    assert len(reserve(session)) == 50


def test_each_row_is_scored_before_it_is_learned(database, session, hctx):
    """The reserve holds what the model said before learning the row (as a moderator's decision)."""
    ctx = hctx()
    thread = make_thread(session)
    first, second = (
        make_comment(
            session,
            thread,
            status=CommentStatus.spam,
            text=PLAIN[4],  # plain, so the first scores far from 1.0
            created_at=START + timedelta(hours=i),
        )
        for i in range(2)
    )
    imported(session, thread, n_ham=2, n_spam=0, start=START + timedelta(days=1))  # to balance
    expected_first = spam.base_model().score(
        features(submission_of(first, thread, ctx.settings.sites["blog"]))
    )
    learn_history(database, ctx, "blog")
    probs = dict(
        session.execute(select(ClassifierDecision.comment_id, ClassifierDecision.probability)).all()
    )
    assert probs[first.id] == pytest.approx(expected_first)
    assert probs[second.id] > probs[first.id]  # the same text, after learning the first as spam


def test_a_ham_only_history_fills_the_reserve_and_leaves_the_model_alone(database, session, hctx):
    ctx = hctx()
    thread = make_thread(session)
    rows = imported(session, thread, n_ham=30, n_spam=0)
    report = learn_history(database, ctx, "blog")
    assert (report.learned_ham, report.learned_spam, report.reserve_only_ham) == (0, 0, 30)
    assert totals(session) == (0.0, 0.0)
    assert session.scalar(select(func.count()).select_from(ClassifierCount)) == 0
    assert learned(session, rows) == [None] * 30  # never taught: spam may still balance it later
    assert reserve(session) == sorted((c.id, False) for c in rows)
    assert session.get(ClassifierCutoff, "blog").ham_decisions == 30

    assert learn_history(database, ctx, "blog").reserve_added == 0  # already in the reserve

    spam_rows = imported(session, thread, 0, 10, start=START + timedelta(days=9))
    later = learn_history(database, ctx, "blog")
    assert (later.learned_ham, later.learned_spam) == (10, 10)
    assert learned(session, rows) == [None] * 20 + ["ham"] * 10  # the newest ham
    assert learned(session, spam_rows) == ["spam"] * 10
    assert totals(session) == (10 * DECISION_WEIGHT, 10 * DECISION_WEIGHT)


def test_history_only_fills_the_room_left_in_the_reserve(database, session, hctx):
    ctx = hctx(**{"spam.decision_reserve": 10})
    thread = make_thread(session)
    for i in range(4):  # the moderators' own decisions, kept
        spam.record_decision(session, ctx, "blog", None, False, 0.1 + i / 100, False)
    rows = imported(session, thread, n_ham=12, n_spam=0)
    report = learn_history(database, ctx, "blog")
    assert (report.reserve_only_ham, report.skipped_ham) == (6, 6)
    kept = [cid for cid, _ in reserve(session) if cid is not None]
    assert sorted(kept) == sorted(c.id for c in rows[-6:])  # the newest
    assert session.scalar(select(func.count()).select_from(ClassifierDecision)) == 10


def test_limit_takes_the_newest_and_teaches_them_oldest_first(database, session, hctx):
    ctx = hctx()
    thread = make_thread(session)
    rows = imported(session, thread, n_ham=5, n_spam=5)
    report = learn_history(database, ctx, "blog", limit=6)  # the newest ham and the five spam
    assert (report.learned_ham, report.learned_spam, report.waiting_spam) == (1, 1, 4)
    assert learned(session, rows) == [None] * 4 + ["ham"] + [None] * 4 + ["spam"]
    ids = session.scalars(select(ClassifierDecision.comment_id).order_by(ClassifierDecision.id))
    assert list(ids) == [rows[4].id, rows[9].id]


def test_a_spam_only_history_waits_for_ham_to_balance_it(database, session, hctx):
    ctx = hctx()
    thread = make_thread(session)
    rows = imported(session, thread, n_ham=0, n_spam=10)
    report = learn_history(database, ctx, "blog")
    assert (report.learned_spam, report.waiting_spam, report.reserve_added) == (0, 10, 0)
    assert learned(session, rows) == [None] * 10
    for table in (ClassifierCount, ClassifierDecision, ClassifierCutoff):
        assert session.scalar(select(func.count()).select_from(table)) == 0
    assert report.after == report.before == spam.base_model().cutoffs


def test_deleted_pending_discarded_linkback_checked_and_learned_rows_are_skipped(
    database, session, hctx
):
    ctx = hctx()
    thread = make_thread(session)
    kept = imported(session, thread, 1, 1)
    others = [
        make_comment(session, thread, status=CommentStatus.deleted, text=SPAM),
        make_comment(session, thread, status=CommentStatus.pending, text=SPAM),
        make_comment(session, thread, status=CommentStatus.spam, text=SPAM, discarded=True),
        make_comment(
            session,
            thread,
            kind=CommentKind.pingback,
            status=CommentStatus.approved,
            text=PLAIN[0],
            source="https://elsewhere.example/post",
        ),
        make_comment(session, thread, status=CommentStatus.approved, text=PLAIN[1], learned="ham"),
    ]
    checked = make_comment(session, thread, status=CommentStatus.spam, text=SPAM)
    session.add(
        SpamCheck(comment=checked, verdict=Verdict.spam, score=9.0, signals=[], submitted={})
    )
    session.flush()
    report = learn_history(database, ctx, "blog")
    assert (report.learned_ham, report.learned_spam) == (1, 1)
    assert learned(session, kept) == ["ham", "spam"]
    assert learned(session, [*others, checked]) == [None, None, None, None, "ham", None]
    assert {cid for cid, _ in reserve(session)} == {c.id for c in kept}


def test_dry_run_writes_nothing_and_says_what_it_would_do(database, session, hctx):
    ctx = hctx()
    thread = make_thread(session)
    rows = imported(session, thread, n_ham=25, n_spam=25)
    dry = learn_history(database, ctx, "blog", dry_run=True, batch=10)
    assert (dry.learned_ham, dry.learned_spam, dry.reserve_added) == (25, 25, 50)
    assert learned(session, rows) == [None] * 50
    for table in (ClassifierCount, ClassifierDecision, ClassifierCutoff):
        assert session.scalar(select(func.count()).select_from(table)) == 0
    assert "would learn 25 ham and 25 spam" in "\n".join(dry.lines())

    real = learn_history(database, ctx, "blog", batch=10)
    assert real.after == pytest.approx(dry.after)  # the dry run scored as the real one does


def test_another_site_s_history_is_untouched(database, session, hctx):
    ctx = hctx()
    mine = imported(session, make_thread(session), 2, 2)
    theirs = imported(session, make_thread(session, site="other", uri="/a/"), 2, 2)
    learn_history(database, ctx, "blog")
    assert learned(session, mine) == ["ham", "ham", "spam", "spam"]
    assert learned(session, theirs) == [None] * 4
    assert reserve(session, "other") == []
    assert session.get(ClassifierCutoff, "other") is None


def test_an_unknown_site_is_refused(database, hctx):
    with pytest.raises(UnknownSite):
        learn_history(database, hctx(), "nowhere")


def test_a_batch_of_long_comments_reads_its_tens_of_thousands_of_features(database, session, hctx):
    """One batch's features outnumber what one statement may bind (PostgreSQL: 65,535
    parameters; SQLite 32,766 on some builds): the model is read in parts."""
    ctx = hctx()
    thread = make_thread(session)
    rows = []
    for i in range(120):
        words = " ".join(f"w{i}x{j}" for j in range(150))
        rows.append(
            make_comment(
                session,
                thread,
                status=CommentStatus.spam if i % 2 else CommentStatus.approved,
                text=f"{PLAIN[i % 5]} {words}",
                created_at=START + timedelta(hours=i),
            )
        )
    report = learn_history(database, ctx, "blog")
    assert (report.learned_ham, report.learned_spam) == (60, 60)
    assert learned(session, rows) == ["ham", "spam"] * 60
    assert (
        session.get(ClassifierCount, "w119x149").spam == DECISION_WEIGHT
    )  # the last row's last word


def test_a_moderators_decision_on_an_imported_comment_teaches_and_replaces_its_lesson(
    database, session, hctx
):
    """An imported comment has no spam check; a moderator's decision on it is learned from the
    row itself, and replaces what `learn_history` taught from it (the same features: exact)."""
    from moderation.domain.states import Action
    from moderation.services.moderation import Actor, apply_action

    ctx = spam.install(hctx())  # the production hooks: a decision teaches
    thread = make_thread(session)
    ham, bot = imported(session, thread, 1, 1)
    learn_history(database, ctx, "blog")
    assert learned(session, [ham, bot]) == ["ham", "spam"]
    comment = session.get(Comment, ham.id)
    apply_action(session, ctx, comment, Action.spam, Actor("moderator:mod@example.org"))
    session.flush()
    assert learned(session, [ham]) == ["spam"]
    totals = session.get(ClassifierCount, spam.TOTALS)
    assert (totals.spam, totals.ham) == (
        2 * DECISION_WEIGHT,
        0.0,
    )  # the ham lesson taken back, spam taught
    word = features(submission_of(comment, thread, ctx.settings.sites["blog"]))[0]
    counted = session.get(ClassifierCount, word)
    assert (counted.spam, counted.ham) == (DECISION_WEIGHT, 0.0)
    assert sorted(reserve(session)) == sorted([(ham.id, True), (bot.id, True)])
