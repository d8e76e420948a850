"""The production pipeline: rules, lists, the shared classifier, Akismet, learning and feedback."""

import json

import pytest
from sqlalchemy import delete, func, select, update

from moderation.domain.scoring import Verdict
from moderation.domain.states import Action, CommentStatus
from moderation.models import (
    ClassifierCount,
    ClassifierDecision,
    Comment,
    ListEntry,
    ListKind,
    OutboxEntry,
    SpamCheck,
)
from moderation.scorers.classifier.model import DECISION_WEIGHT
from moderation.services import build_context, comments, outbox, privacy, spam
from moderation.services.moderation import Actor, apply_action
from tests.conftest import make_settings
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet
from tests.services import helpers

BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
MODERATOR = Actor("moderator:mod@example.org")
# "Thanks ... to me" is no longer plain: on YouTube, "thanks" and "to me" mostly close spam, so the
# base model holds it until a site's own decisions have taught it otherwise.
HAM_TEXT = "I disagree with the second point, but the explanation of the migration made sense."
SPAM_TEXT = "CHECK OUT MY CHANNEL!!! subscribe http://bit.ly/x free money http://bit.ly/y"


@pytest.fixture
def live_ctx(tmp_path, clock, database):
    """The production context (rules + shared classifier), on the test clock and database."""

    def make(**overrides):
        settings = make_settings(tmp_path, **overrides)
        from moderation.runtime.jobs import Jobs

        return Jobs(settings, database, build_context(settings, clock=clock)).ctx

    return make


def submit(session, database, ctx, clock, client=BROWSER, **kw):
    """A reader's comment a minute after the last, prepared then stored in one write on the
    context's database; the stored row, in `session`."""
    clock.advance(60)
    data = {
        "site": "blog",
        "uri": "/post/",
        "text": HAM_TEXT,
        "author": "Ann",
        "email": "ann@example.org",
    }
    data.update(kw)
    session.flush()  # what the test changed through `session` is committed first
    comment = helpers.submit(database, ctx, comments.NewComment(**data), client)
    return helpers.stored(session, comment)


def signals(session, comment):
    check = session.scalars(select(SpamCheck).where(SpamCheck.comment_id == comment.id)).all()[-1]
    return {s["name"]: s for s in check.signals}


def test_pipeline_ordinary_comment_is_published_with_every_signal_stored(
    database, session, live_ctx, clock
):
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock)
    assert comment.status is CommentStatus.approved
    found = signals(session, comment)
    assert "classifier" in found
    assert found["classifier"]["reason"].startswith("classifier: ")


def test_pipeline_honeypot_is_discarded_as_spam(database, session, live_ctx, clock):
    comment = submit(session, database, live_ctx(), clock, honeypot="http://spam.example")
    assert comment.status is CommentStatus.spam
    assert comment.discarded


def test_pipeline_obvious_spam_is_never_published(database, session, live_ctx, clock):
    comment = submit(session, database, live_ctx(), clock, text=SPAM_TEXT, author="Free Money")
    assert comment.status in (CommentStatus.spam, CommentStatus.pending)
    assert comment.status is not CommentStatus.approved


def test_pipeline_disallowed_key_from_the_database_is_spam(database, session, live_ctx, clock):
    session.add(ListEntry(kind=ListKind.disallowed_key, value="198.51.100."))
    session.flush()
    client = comments.ClientInfo(ip="198.51.100.7", user_agent="Mozilla/5.0")
    comment = submit(session, database, live_ctx(), clock, client=client)
    assert comment.status is CommentStatus.spam
    assert "rules.disallowed" in " ".join(signals(session, comment))


def test_pipeline_moderation_key_from_config_holds(database, session, live_ctx, clock):
    ctx = live_ctx(**{"spam.moderation_keys": ["casino"]})
    comment = submit(session, database, ctx, clock, website="https://megacasinos.example")
    assert comment.status is CommentStatus.pending


def test_pipeline_site_specific_list_entry_applies_to_that_site_only(
    database, session, live_ctx, clock
):
    session.add(ListEntry(kind=ListKind.blocked_email, value="ann@example.org", site="other"))
    session.flush()
    ctx = live_ctx()
    assert submit(session, database, ctx, clock).status is CommentStatus.approved
    other = submit(
        session, database, ctx, clock, site="other", uri="/x/", text="Hello there friends."
    )
    assert other.status is CommentStatus.spam


def test_pipeline_a_list_entry_added_between_two_posts_applies_to_the_second(
    database, session, live_ctx, clock
):
    # The merged lists are kept per content (`spam._merged_lists`): an edit is never hidden.
    ctx = live_ctx()
    assert submit(session, database, ctx, clock).status is CommentStatus.approved
    session.add(ListEntry(kind=ListKind.blocked_email, value="ANN@example.org"))
    session.flush()
    assert submit(session, database, ctx, clock, text="Said again.").status is CommentStatus.spam
    session.execute(delete(ListEntry))
    assert (
        submit(session, database, ctx, clock, text="And once more.").status
        is CommentStatus.approved
    )


def probability(session, comment):
    feats = spam.features(spam.submission_from_record(comment.checks[-1].submitted))
    return spam.model_for(session, feats).score(feats)


def test_learning_moderator_spam_teaches_the_shared_classifier(database, session, live_ctx, clock):
    ctx = live_ctx()
    comment = submit(
        session, database, ctx, clock, text="Great deals on cheap watches at shop dot example"
    )
    before = probability(session, comment)
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    totals = session.get(ClassifierCount, spam.TOTALS)
    assert (totals.spam, totals.ham) == (DECISION_WEIGHT, 0.0)  # one decision
    assert comment.learned == "spam"
    assert probability(session, comment) > before


def test_learning_takes_the_shared_logistic_step(database, session, live_ctx, clock):
    ctx = live_ctx()
    comment = submit(
        session, database, ctx, clock, text="Great deals on cheap watches at shop dot example"
    )
    feats = spam.features(spam.submission_from_record(comment.checks[-1].submitted))
    before = spam.model_for(session, feats).weights.get("watches", (0.0, 0.0))[0]
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    stored = set(
        session.scalars(
            select(ClassifierCount.feature).where(
                ClassifierCount.feature.startswith(spam.WEIGHT_PREFIX)
            )
        )
    )
    assert {"lr:", "lr:watches", "lr:cheap"} <= stored  # the intercept and the words
    assert spam.model_for(session, feats).weights["watches"][0] > before


def test_learning_skips_a_feature_too_long_to_store(database, session, live_ctx, clock):
    ctx = live_ctx()
    host = ".".join(["a" * 60] * 4) + ".example"  # a 250-character host: "lr:wh:" + it is too long
    comment = submit(session, database, ctx, clock, website=f"https://{host}/")
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    session.flush()
    assert session.get(ClassifierCount, "wh:" + host) is not None
    assert session.get(ClassifierCount, "lr:wh:" + host) is None


def test_learning_reversal_replaces_the_earlier_lesson(database, session, live_ctx, clock):
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    apply_action(session, ctx, comment, Action.ham, MODERATOR)
    totals = session.get(ClassifierCount, spam.TOTALS)
    assert (totals.spam, totals.ham) == (0.0, DECISION_WEIGHT)
    assert comment.learned == "ham"


def lr_weights(session) -> dict[str, float]:
    rows = session.execute(
        select(ClassifierCount.feature, ClassifierCount.spam).where(
            ClassifierCount.feature.startswith(spam.WEIGHT_PREFIX)
        )
    ).all()
    return {feature: value for feature, value in rows}


def test_learning_reversal_takes_back_the_earlier_step(database, session, live_ctx, clock):
    """A moderator's slip (spam, then not spam) leaves the weights as if only "not spam" had been
    taught: the spam step is subtracted, then the ham step is taken (and kept for its own undo)."""
    ctx = live_ctx()
    comment = submit(
        session, database, ctx, clock, text="Great deals on cheap watches at shop dot example"
    )
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    spam_step = json.loads(session.scalar(select(ClassifierDecision.step)))
    assert spam_step["watches"] > 0  # a spam step moves a word towards spam
    after_spam = lr_weights(session)
    apply_action(session, ctx, comment, Action.ham, MODERATOR)
    ham_step = json.loads(session.scalar(select(ClassifierDecision.step)))
    assert ham_step["watches"] < 0
    after_ham = lr_weights(session)
    for feat, change in spam_step.items():
        net = after_ham["lr:" + feat] - after_spam["lr:" + feat] + change
        assert net == pytest.approx(ham_step[feat], abs=1e-12), feat
    for feat in spam_step:  # what is left is the ham step alone
        assert after_ham["lr:" + feat] == pytest.approx(ham_step[feat], abs=1e-12), feat


def test_learning_reversal_of_a_decision_without_a_kept_step_takes_back_the_counts(
    database, session, live_ctx, clock
):
    """A decision kept before the step was (or trimmed from the reserve): counts only, as before."""
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    session.execute(update(ClassifierDecision).values(step=None))
    assert spam.take_back_step(session, comment.id) is False
    apply_action(session, ctx, comment, Action.ham, MODERATOR)
    totals = session.get(ClassifierCount, spam.TOTALS)
    assert (totals.spam, totals.ham) == (0.0, DECISION_WEIGHT)
    assert comment.learned == "ham"


def test_erasing_an_author_drops_the_step_kept_with_their_decision(
    database, session, live_ctx, clock
):
    """A kept step's features name the author's words, e-mail domain and website."""
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    assert "a:ann" in json.loads(session.scalar(select(ClassifierDecision.step)))
    privacy.erase_personal_data(session, ctx, comment.email)
    assert session.scalar(select(ClassifierDecision.step)) is None
    assert session.scalar(select(func.count()).select_from(ClassifierDecision)) == 1  # the reserve


def test_learning_ignores_system_transitions(database, session, live_ctx, clock):
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock)
    apply_action(session, ctx, comment, Action.spam, Actor("system"))
    assert session.scalar(select(func.count()).select_from(ClassifierCount)) == 0


def test_learning_repeated_spam_moves_a_lookalike_towards_spam(database, session, live_ctx, clock):
    ctx = live_ctx(**{"sites.blog.moderation": "none"})
    first = None
    for i in range(6):
        c = submit(
            session,
            database,
            ctx,
            clock,
            text=f"Visit quickloans{i} dot example for instant payday cash",
            author=f"Loans {i}",
            email=f"l{i}@loans.example",
        )
        first = first or signals(session, c)["classifier"]["score"]
        if c.status is not CommentStatus.spam:
            apply_action(session, ctx, c, Action.spam, MODERATOR)
    later = submit(
        session,
        database,
        ctx,
        clock,
        text="Visit quickloans9 dot example for instant payday cash",
        author="Loans 9",
        email="l9@loans.example",
    )
    assert signals(session, later)["classifier"]["score"] > first


@pytest.fixture
def akismet():
    with FakeAkismet() as fake:
        yield fake


def akismet_ctx(live_ctx, fake, **more):
    return live_ctx(
        **{"akismet.key": FAKE_KEY, "akismet.endpoint": fake.url, "akismet.timeout": 0.5, **more}
    )


def test_akismet_spam_verdict_is_spam_with_its_signal(database, session, live_ctx, clock, akismet):
    ctx = akismet_ctx(live_ctx, akismet)
    comment = submit(session, database, ctx, clock, author="viagra-test-123")
    assert comment.status is CommentStatus.spam
    assert signals(session, comment)["akismet"]["reason"] == "Akismet: spam"
    (check,) = akismet.requests_to("comment-check")
    assert check.form["user_ip"] == "203.0.113.5"
    assert check.form["comment_type"] == "comment"
    assert check.form["permalink"] == "https://blog.example.org/post/"


def test_akismet_discard_is_stored_as_discarded_spam(database, session, live_ctx, clock, akismet):
    akismet.mode = "discard"
    comment = submit(
        session, database, akismet_ctx(live_ctx, akismet), clock, author="viagra-test-123"
    )
    assert (comment.status, comment.discarded) == (CommentStatus.spam, True)


@pytest.mark.parametrize("mode", ["error500", "nonsense", "hang"])
def test_akismet_down_holds_then_recheck_settles(database, session, live_ctx, clock, akismet, mode):
    akismet.mode = mode
    ctx = akismet_ctx(live_ctx, akismet, **{"jobs.immediate": False})
    comment = submit(session, database, ctx, clock)
    assert comment.status is CommentStatus.pending
    assert comment.recheck_reason.startswith("akismet: ")
    (entry,) = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "recheck")).all()
    assert outbox.run_entry(database, ctx, entry.id) == 60.0  # still down: retried in a minute
    akismet.mode = "normal"
    clock.advance(61)
    assert outbox.run_entry(database, ctx, entry.id) is None
    session.expire_all()
    assert comment.status is CommentStatus.approved
    assert comment.recheck_reason is None
    assert session.get(OutboxEntry, entry.id).done_at is not None


def test_akismet_unreachable_port_still_accepts_the_comment(database, session, live_ctx, clock):
    ctx = live_ctx(
        **{
            "akismet.key": FAKE_KEY,
            "akismet.endpoint": "http://127.0.0.1:9/1.1/",
            "akismet.timeout": 0.5,
        }
    )
    assert submit(session, database, ctx, clock).status is CommentStatus.pending


def test_akismet_feedback_only_after_commit(database, session, live_ctx, clock, akismet):
    ctx = akismet_ctx(live_ctx, akismet)
    comment_id = submit(session, database, ctx, clock).id

    def fail_after_the_action():
        with database.write() as session:
            apply_action(session, ctx, session.get(Comment, comment_id), Action.spam, MODERATOR)
            raise RuntimeError("the request failed after the action")

    with pytest.raises(RuntimeError):
        fail_after_the_action()
    assert akismet.requests_to("submit-spam") == []
    with database.write() as session:
        apply_action(session, ctx, session.get(Comment, comment_id), Action.spam, MODERATOR)
    (sent,) = akismet.requests_to("submit-spam")
    assert sent.form["comment_author"] == "Ann"
    assert sent.form["user_ip"] == "203.0.113.5"
    with database.write() as session:
        apply_action(session, ctx, session.get(Comment, comment_id), Action.ham, MODERATOR)
    assert len(akismet.requests_to("submit-ham")) == 1


def test_akismet_feedback_is_skipped_once_the_ip_is_no_longer_kept(
    database, session, live_ctx, clock, akismet
):
    ctx = akismet_ctx(live_ctx, akismet, **{"privacy.ip_retention_days": 30})
    comment_id = submit(session, database, ctx, clock).id
    clock.advance(31 * 86400)
    assert privacy.blank_old_client_data(database, ctx) == 1
    with database.write() as tx:
        apply_action(tx, ctx, tx.get(Comment, comment_id), Action.spam, MODERATOR)
    assert akismet.requests_to("submit-spam") == []  # Akismet needs the IP: nothing is sent
    (entry,) = session.scalars(
        select(OutboxEntry).where(OutboxEntry.kind == "akismet_feedback")
    ).all()
    assert entry.done_at is not None  # done, not retried forever


def test_outbox_purge_removes_only_entries_done_a_week_ago(database, live_ctx, clock):
    ctx = live_ctx(**{"jobs.immediate": False})
    with database.write() as session:
        kept_failing = outbox.enqueue(session, ctx, "no-such-kind", {})
        done_long_ago = outbox.enqueue(session, ctx, "recheck", {"comment_id": 0})
    assert outbox.run_entry(database, ctx, done_long_ago) is None  # no such comment: done at once
    clock.advance(outbox.DONE_KEPT.total_seconds() + 60)
    with database.write() as session:
        done_lately = outbox.enqueue(session, ctx, "recheck", {"comment_id": 0})
    assert outbox.run_entry(database, ctx, done_lately) is None

    assert outbox.purge_done(database, ctx) == 1
    with database.read() as session:
        left = set(session.scalars(select(OutboxEntry.id)))
    assert left == {kept_failing, done_lately}


def test_outbox_backoff_doubles_up_to_the_cap(live_ctx):
    ctx = live_ctx(**{"spam.retry_base_seconds": 10, "spam.retry_max_seconds": 35})
    assert [outbox.backoff(ctx, n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_purge_removes_old_spam_keeps_recent_and_parents(session, live_ctx, clock, database):
    ctx = live_ctx()
    old_spam = submit(session, database, ctx, clock, text="old spam", honeypot="x").id
    parent = submit(session, database, ctx, clock, text="parent")
    submit(
        session, database, ctx, clock, text="reply", parent=parent.id, author="Bob", email="b@e.org"
    )
    apply_action(session, ctx, parent, Action.delete, MODERATOR)
    clock.advance(31 * 86400)
    gone = submit(session, database, ctx, clock, text="deleted alone", author="Cy", email="c@e.org")
    apply_action(session, ctx, gone, Action.delete, MODERATOR)
    recent = submit(
        session,
        database,
        ctx,
        clock,
        text="recent spam",
        honeypot="x",
        author="Di",
        email="d@e.org",
    )
    session.commit()
    assert spam.purge(database, ctx) == 1  # only the old discarded spam
    remaining = set(session.scalars(select(Comment.id)))
    assert old_spam not in remaining
    assert {parent.id, gone.id, recent.id} <= remaining
    assert session.scalars(select(SpamCheck).where(SpamCheck.comment_id == old_spam)).all() == []


def test_purge_keeps_the_decision_in_the_reserve_without_its_step(
    session, live_ctx, clock, database
):
    ctx = live_ctx()
    comment = submit(session, database, ctx, clock, text="Buy cheap watches at shop dot example")
    apply_action(session, ctx, comment, Action.spam, MODERATOR)
    assert session.scalar(select(ClassifierDecision.step)) is not None
    clock.advance((ctx.settings.spam.purge_spam_days + 1) * 86400)
    session.commit()
    assert spam.purge(database, ctx) == 1
    kept = session.execute(select(ClassifierDecision.comment_id, ClassifierDecision.step)).all()
    assert kept == [(None, None)]  # still calibrates the site; names nobody


def test_verdict_enum_round_trips_through_storage(database, session, live_ctx, clock):
    comment = submit(session, database, live_ctx(), clock, honeypot="bot")
    check = session.scalars(select(SpamCheck).where(SpamCheck.comment_id == comment.id)).one()
    assert check.verdict is Verdict.discard


@pytest.mark.parametrize(("counted", "held"), [(True, True), (False, False)])
def test_the_website_is_one_of_max_links_unless_configured_otherwise(
    database, session, live_ctx, clock, counted, held
):
    ctx = live_ctx(**{"spam.count_website_as_link": counted})
    text = f"{HAM_TEXT} The release notes: https://docs.example.com/release-notes"
    comment = submit(session, database, ctx, clock, text=text, website="https://ann.example.net")
    found = signals(session, comment)
    assert ("rules.links" in found) is held
    if held:
        assert found["rules.links"]["reason"] == "2 links counting the website (2 or more are held)"
        assert comment.status is CommentStatus.pending
