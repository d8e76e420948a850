"""Moderator mails through a real SMTP server on loopback: who gets what, with which links, only
after the commit, and still delivered after an SMTP outage."""

import re
import smtplib

import pytest
from sqlalchemy import select

from moderation.domain.states import Action, CommentStatus
from moderation.errors import TokenExpired, TokenInvalid
from moderation.models import Comment, OutboxEntry, UsedToken
from moderation.runtime.jobs import Jobs
from moderation.services import build_context, comments, notify, outbox
from moderation.services.moderation import Actor, apply_action
from moderation.services.tokens import MODERATE_LINK, Tokens
from tests.conftest import make_settings
from tests.services import helpers

MODERATORS = ["mod@example.org", "owner@example.org"]
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
URI = "/2010/07/co-production/"
TEXT = "Thanks, this explanation of the migration finally made sense to me."
LINK = re.compile(r"https://comments\.example\.org/moderate/act/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def live_ctx(tmp_path, clock, database, smtp):
    """The production context with mail pointed at the fake server; jobs run inline."""

    def make(**overrides):
        values = {
            **smtp.settings(),
            "mail.moderators": MODERATORS,
            "sites.blog.moderation": "all",
            "spam.classifier": False,
            **overrides,
        }
        settings = make_settings(tmp_path, **values)
        return Jobs(settings, database, build_context(settings, clock=clock)).ctx

    return make


def submit(database, ctx, clock, **kw):
    """A reader's comment, prepared then stored in its own committed write; returns its id."""
    clock.advance(60)
    data = {
        "site": "blog",
        "uri": URI,
        "text": TEXT,
        "author": "Ann",
        "email": "ann@example.org",
        "website": "https://ann.example.org",
    }
    data.update(kw)
    return helpers.submit(database, ctx, comments.NewComment(**data), BROWSER).id


def mail_entries(session):
    return session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "mail")).all()


def test_held_comment_mails_every_moderator_once_with_details_and_links(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx()
    comment_id = submit(database, ctx, clock, author="Ann <b>Lee</b>")
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == MODERATORS
    mail = smtp.messages[0]
    msg = mail.message
    assert mail.mail_from == "comments@example.org"
    assert msg["Subject"] == f"[blog] New comment awaiting moderation on {URI}"
    assert msg["From"] == "comments@example.org"
    assert msg["To"] == mail.rcpt_tos[0]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"]
    assert smtp.messages[0].message["Message-ID"] != smtp.messages[1].message["Message-ID"]
    text = mail.text
    for expected in (
        "Ann <b>Lee</b>",
        "ann@example.org",
        "https://ann.example.org",
        "203.0.113.5",
        f"https://blog.example.org{URI}",
        f"> {TEXT}",
        "Spam check: ham",
        f"https://comments.example.org/moderate/comments/{comment_id}",
    ):
        assert expected in text
    assert "Ann &lt;b&gt;Lee&lt;/b&gt;" in mail.html
    assert "<b>Lee</b>" not in mail.html
    tokens = LINK.findall(text)
    assert len(tokens) == 3
    assert LINK.findall(mail.html) == tokens
    actions = []
    for token in tokens:
        link, comment = notify.check_link(session, ctx, token)
        assert comment.id == comment_id
        assert link.recipient == mail.rcpt_tos[0]
        actions.append(link.action)
    assert actions == [Action.approve, Action.spam, Action.delete]


def test_mail_shows_the_signals_that_weighed_most(database, live_ctx, clock, smtp):
    ctx = live_ctx(**{"spam.moderation_keys": ["casino"], "sites.blog.moderation": "none"})
    submit(database, ctx, clock, website="https://megacasinos.example")
    text = smtp.messages[0].text
    assert "Spam check: unsure" in text
    assert "casino" in text.split("Spam check:")[1]


def test_notify_none_sends_nothing(database, session, live_ctx, clock, smtp):
    submit(database, live_ctx(**{"mail.notify": "none"}), clock)
    assert smtp.messages == []
    assert mail_entries(session) == []


def test_notify_held_skips_published_comments(database, session, live_ctx, clock, smtp):
    submit(database, live_ctx(**{"sites.blog.moderation": "none"}), clock)
    assert smtp.messages == []
    assert mail_entries(session) == []


def test_notify_all_mails_published_comments_with_spam_and_delete_links(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.notify": "all", "sites.blog.moderation": "none"})
    submit(database, ctx, clock)
    assert len(smtp.messages) == 2
    mail = smtp.messages[0]
    assert mail.message["Subject"] == f"[blog] New comment on {URI}"
    actions = [notify.check_link(session, ctx, t)[0].action for t in LINK.findall(mail.text)]
    assert actions == [Action.spam, Action.delete]


def test_notify_all_skips_discarded_spam(database, session, live_ctx, clock, smtp):
    submit(database, live_ctx(**{"mail.notify": "all"}), clock, honeypot="http://spam.example")
    assert smtp.messages == []


def test_rolled_back_write_sends_nothing(database, session, live_ctx, clock, smtp):
    ctx = live_ctx()

    def fail_after_storing():
        new = comments.NewComment(site="blog", uri=URI, text=TEXT, author="Ann")
        with database.read() as read:
            draft = comments.prepare_comment(read, ctx, new, BROWSER)
        with database.write() as tx:
            comments.store_comment(tx, ctx, draft)
            raise RuntimeError("the request failed after storing the comment")

    with pytest.raises(RuntimeError):
        fail_after_storing()
    assert smtp.messages == []
    assert mail_entries(session) == []
    assert session.scalars(select(Comment)).all() == []


def test_edit_that_sends_a_comment_back_to_the_queue_mails_again(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"sites.blog.moderation": "none", "spam.moderation_keys": ["casino"]})
    clock.advance(60)
    new = comments.NewComment(site="blog", uri=URI, text=TEXT, author="Ann")
    submitted = helpers.submit(database, ctx, new, BROWSER)
    assert submitted.status is CommentStatus.approved
    assert smtp.messages == []
    helpers.edit(
        database, ctx, submitted.id, comments.edit_token(ctx, submitted), "Now visit my casino"
    )
    assert len(smtp.messages) == 2
    assert (
        smtp.messages[0].message["Subject"] == f"[blog] Edited comment awaiting moderation on {URI}"
    )
    assert "> Now visit my casino" in smtp.messages[0].text


def test_smtp_outage_keeps_the_mail_and_delivers_it_once_later(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.moderators": ["mod@example.org"]})
    smtp.stop()
    comment_id = submit(database, ctx, clock)
    assert session.get(Comment, comment_id).status is CommentStatus.pending
    (entry,) = mail_entries(session)
    assert entry.attempts == 1
    assert entry.done_at is None
    assert "Connection refused" in entry.last_error or "Errno" in entry.last_error
    assert outbox.run_entry(database, ctx, entry.id) is None  # not due yet: nothing happens
    clock.advance(61)
    assert outbox.run_entry(database, ctx, entry.id) == 120.0  # still down: the back-off doubles
    smtp.start()
    clock.advance(121)
    assert outbox.due_entries(database, ctx) == [entry.id]
    assert outbox.run_entry(database, ctx, entry.id) is None
    assert outbox.run_entry(database, ctx, entry.id) is None
    assert len(smtp.messages) == 1
    assert smtp.messages[0].message["Subject"].startswith("[blog] New comment awaiting")
    session.expire_all()
    entry = session.get(OutboxEntry, entry.id)
    assert (entry.attempts, entry.last_error) == (3, None)
    assert entry.done_at is not None


def test_mail_about_a_comment_moderated_during_the_outage_is_dropped_as_stale(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.moderators": ["mod@example.org"]})
    smtp.stop()
    comment_id = submit(database, ctx, clock)
    with database.write() as work:
        apply_action(
            work,
            ctx,
            work.get(Comment, comment_id),
            Action.approve,
            Actor("moderator:mod@example.org"),
        )
    smtp.start()
    clock.advance(61)
    (entry,) = mail_entries(session)
    assert outbox.run_entry(database, ctx, entry.id) is None
    assert smtp.messages == []
    session.expire_all()
    assert session.get(OutboxEntry, entry.id).done_at is not None


def test_starttls_required_but_not_offered_is_retried_never_sent_in_clear(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.moderators": ["mod@example.org"], "mail.starttls": True})
    submit(database, ctx, clock)
    assert smtp.messages == []
    (entry,) = mail_entries(session)
    assert "STARTTLS" in entry.last_error
    assert entry.done_at is None


def test_link_tokens_expire_after_the_configured_days(monkeypatch, live_ctx):
    ctx = live_ctx(**{"mail.link_max_age_days": 2})
    token = notify.sign_link(
        ctx, 1, Action.approve, {"nonce": "n", "status": "pending", "to": "mod@example.org"}
    )
    assert notify.read_link(ctx, token).comment_id == 1
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(
        itsdangerous.timed,
        "time",
        type("T", (), {"time": staticmethod(lambda: real() + 3 * 86400)}),
    )
    with pytest.raises(TokenExpired):
        notify.read_link(ctx, token)


def test_link_tokens_need_their_own_purpose_and_a_current_moderator(live_ctx):
    ctx = live_ctx()
    payload = {"c": 1, "a": "approve", "n": "n", "s": "pending", "r": "mod@example.org"}
    assert notify.read_link(ctx, ctx.tokens.sign(MODERATE_LINK, payload)).action is Action.approve
    with pytest.raises(TokenInvalid):
        notify.read_link(ctx, ctx.tokens.sign("author-edit", payload))
    with pytest.raises(TokenInvalid):
        notify.read_link(ctx, ctx.tokens.sign(MODERATE_LINK, {**payload, "r": "old@example.org"}))
    with pytest.raises(TokenInvalid):
        notify.read_link(ctx, ctx.tokens.sign(MODERATE_LINK, {**payload, "a": "restore"}))
    with pytest.raises(TokenInvalid):
        notify.read_link(ctx, ctx.tokens.sign(MODERATE_LINK, ["not", "a", "dict"]))


def test_spending_a_nonce_twice_is_refused_even_without_the_read_check(database, live_ctx):
    ctx = live_ctx()
    with database.write() as first:
        notify.spend(first, ctx, "the-nonce")
    with pytest.raises(notify.LinkUsed), database.write() as second:
        notify.spend(second, ctx, "the-nonce")


def test_tokens_take_the_link_age_from_the_settings(tmp_path):
    settings = make_settings(tmp_path, **{"mail.link_max_age_days": 3})
    assert Tokens.from_settings(settings)._max_ages[MODERATE_LINK] == 3 * 86400


def test_subject_never_carries_a_line_break():
    assert notify._one_line("/a\r\nBcc: x@example.org", 120) == "/a  Bcc: x@example.org"
    assert len(notify._one_line("/" + "x" * 500, 120)) == 120


def test_spent_nonces_are_forgotten_once_their_links_have_expired(database, live_ctx, clock):
    ctx = live_ctx(**{"mail.link_max_age_days": 3, "notify.confirm_max_age_days": 3})
    with database.write() as session:
        notify.spend(session, ctx, "old")
    clock.advance(3 * 86400)
    with database.write() as session:
        notify.spend(session, ctx, "recent")
    clock.advance(86400 + 60)  # "old" was spent 4 days ago: more than 3 days plus a day's slack

    assert notify.purge_used_tokens(database, ctx) == 1
    with database.read() as session:
        assert session.scalars(select(UsedToken.nonce)).all() == ["recent"]
    assert notify.purge_used_tokens(database, ctx) == 0


def test_spent_nonces_are_kept_while_a_subscription_confirmation_could_still_work(
    database, live_ctx, clock
):
    ctx = live_ctx(**{"mail.link_max_age_days": 3, "notify.confirm_max_age_days": 7})
    with database.write() as session:
        notify.spend(session, ctx, "confirmation")
    clock.advance(5 * 86400)
    assert notify.purge_used_tokens(database, ctx) == 0
    clock.advance(3 * 86400 + 60)
    assert notify.purge_used_tokens(database, ctx) == 1


def test_a_hanging_smtp_server_fails_the_send_after_the_mail_timeout(tmp_path):
    """`[mail] timeout` bounds each SMTP wait: the send raises (the outbox retries it later)."""
    from email.message import EmailMessage

    from tests.fakes.black_hole import BlackHole

    with BlackHole() as hole:
        settings = make_settings(
            tmp_path,
            **{"mail.smtp_host": "127.0.0.1", "mail.smtp_port": hole.port, "mail.timeout": 0.2},
        )
        message = EmailMessage()
        message["Subject"] = "held"
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            notify.send(settings.mail, message, "mod@example.org")
        assert hole.accepted == 1
