"""Per-site cut-offs: moderators' decisions calibrate them, shared through the database."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from moderation.domain.states import Action
from moderation.models import ClassifierCutoff, ClassifierDecision
from moderation.scorers.classifier.calibration import CEILING, Bounds, flagged_share
from moderation.services import spam
from moderation.services.moderation import apply_action
from tests.conftest import make_settings
from tests.services.test_spam import MODERATOR, submit

PLAIN = [
    "I tried the second approach on my laptop and it worked after a restart.",
    "Could you say more about how the cache is invalidated when a post changes?",
    "Thanks, this explanation of the migration finally made sense to me.",
    "We ran into the same problem last spring; pinning the version fixed it.",
    "Nice write-up. The diagrams helped a lot with the part about indexes.",
]


@pytest.fixture
def site_ctx(tmp_path, clock, database):
    """The production context where every comment waits for a moderator."""

    def make(**overrides):
        from moderation.runtime.jobs import Jobs
        from moderation.services import build_context

        settings = make_settings(tmp_path, **{"sites.blog.moderation": "all", **overrides})
        return Jobs(settings, database, build_context(settings, clock=clock)).ctx

    return make


def reserve_ham(session, site):
    return list(
        session.scalars(
            select(ClassifierDecision.probability).where(
                ClassifierDecision.site == site, ClassifierDecision.is_spam.is_(False)
            )
        )
    )


def test_moderators_decisions_move_their_site_cut_offs_within_bounds(
    database, session, site_ctx, clock
):
    ctx = site_ctx(**{"spam.max_false_positive_share": 0.05})  # 20 ham measure the share
    shipped = spam.base_model().cutoffs
    for i in range(20):
        comment = submit(
            session, database, ctx, clock, text=f"{PLAIN[i % 5]} ({i})", author=f"Reader {i}"
        )
        apply_action(session, ctx, comment, Action.approve, MODERATOR)
    session.flush()
    row = session.get(ClassifierCutoff, "blog")
    assert (row.ham_decisions, row.spam_decisions) == (20, 0)
    cutoffs = spam.site_cutoffs(session, "blog")
    bounds = Bounds.around(shipped)
    assert cutoffs != shipped  # plain readers' comments: the site may flag more
    assert bounds.spam_floor <= cutoffs.spam < shipped.spam
    assert bounds.unsure_floor <= cutoffs.unsure <= min(bounds.unsure_ceiling, cutoffs.spam)
    assert flagged_share(reserve_ham(session, "blog"), cutoffs) <= 0.05
    assert spam.site_cutoffs(session, "other") == shipped  # another site keeps the cold start


def test_the_site_cut_offs_are_what_the_classifier_scores_with(database, session, site_ctx, clock):
    ctx = site_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.approve, MODERATOR)
    session.merge(
        ClassifierCutoff(
            site="blog", unsure=0.0, spam=0.0, ham_decisions=1, spam_decisions=0, updated_at=clock()
        )
    )
    session.flush()
    submission = spam.submission_from_record(comment.checks[-1].submitted)
    [signal] = spam.SharedClassifier(session, "blog").score(submission)
    [elsewhere] = spam.SharedClassifier(session, "other").score(submission)
    assert signal.score >= 5.0  # this site calls everything spam
    assert elsewhere.score < signal.score


def test_a_burst_of_one_sided_decisions_never_flags_more_than_the_share(
    database, session, site_ctx, clock
):
    share, kept = 0.05, 60
    ctx = site_ctx(**{"spam.max_false_positive_share": share, "spam.decision_reserve": kept})
    rng = random.Random(7)
    bursts = [
        (False, lambda: rng.uniform(0.0, 0.3), 40),  # plain readers: the cut falls to its floor
        (True, lambda: rng.uniform(0.5, 0.9), 200),  # spam scoring low cannot drag it anywhere
        (False, lambda: rng.uniform(0.9, 1.0), 100),  # spammy-looking readers push it up
        (True, lambda: 1.0, 100),
    ]
    for is_spam, prob, count in bursts:
        for _ in range(count):
            cutoffs = spam.record_decision(session, ctx, "blog", None, is_spam, prob())
            ham = reserve_ham(session, "blog")
            assert flagged_share(ham, cutoffs) <= share
            assert spam.site_cutoffs(session, "blog") == cutoffs
            assert Bounds.around(spam.base_model().cutoffs).spam_floor <= cutoffs.spam <= CEILING
    kinds = dict(
        session.execute(
            select(ClassifierDecision.is_spam, func.count()).group_by(ClassifierDecision.is_spam)
        ).all()
    )
    assert kinds == {False: kept, True: kept}  # only the newest of each kind are kept
    assert min(reserve_ham(session, "blog")) >= 0.9  # the plain ones were the oldest


def test_a_reversed_decision_replaces_its_reserve_entry(database, session, site_ctx, clock):
    ctx = site_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    apply_action(session, ctx, comment, Action.ham, MODERATOR)
    rows = session.execute(
        select(ClassifierDecision.comment_id, ClassifierDecision.is_spam, ClassifierDecision.site)
    ).all()
    assert rows == [(comment.id, False, "blog")]
    row = session.get(ClassifierCutoff, "blog")
    assert (row.ham_decisions, row.spam_decisions) == (1, 0)
