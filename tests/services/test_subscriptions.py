"""Readers' reply notifications and page subscriptions through a real SMTP server on loopback:
double opt-in, nothing for held, spam or own comments, one mail per comment and address, batching
under ``[notify] min_interval_minutes``, one-click unsubscribe, and privacy erasure."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from moderation.domain.states import Action, CommentStatus
from moderation.errors import TokenExpired
from moderation.models import Comment, Delivery, Subscription
from moderation.runtime.jobs import Jobs
from moderation.services import build_context, comments, privacy, subscriptions
from moderation.services.moderation import Actor, apply_action
from moderation.services.notify import LinkUsed
from tests.conftest import make_settings
from tests.services import helpers

URI = "/2026/12/notifications/"
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
CONFIRM = re.compile(r"https://comments\.example\.org/subscriptions/confirm/([A-Za-z0-9_.\-]+)")
MODERATOR = Actor("moderator:mod@example.org")


class Live:
    """The production context with mail pointed at the fake server; jobs run inline."""

    def __init__(self, tmp_path, clock, database, smtp, **overrides):
        values = {
            **smtp.settings(),
            "mail.moderators": [],
            "sites.blog.moderation": "none",
            "spam.classifier": False,
            "notify.min_interval_minutes": 0,
            **overrides,
        }
        settings = make_settings(tmp_path, **values)
        self.jobs = Jobs(settings, database, build_context(settings, clock=clock))
        self.ctx, self.database, self.clock, self.smtp = self.jobs.ctx, database, clock, smtp

    def post(self, author: str, email: str, notify: str = "none", **kw) -> int:
        self.clock.advance(60)
        new = comments.NewComment(
            site="blog",
            uri=URI,
            text=kw.pop("text", f"{author} has a thought about this."),
            title="Notifications",
            author=author,
            email=email,
            notify=notify,
            **kw,
        )
        return helpers.submit(self.database, self.ctx, new, BROWSER).id

    def act(self, comment_id: int, action: Action) -> None:
        with self.database.write() as tx:
            comment = tx.get(Comment, comment_id)
            apply_action(tx, self.ctx, comment, action, MODERATOR)

    def confirm_from_mail(self, to: str) -> None:
        mail = self.mails_to(to)[-1]
        token = CONFIRM.search(mail.text).group(1)
        with self.database.write() as tx:
            subscriptions.confirm(tx, self.ctx, token)

    def mails_to(self, address: str):
        return [m for m in self.smtp.messages if m.rcpt_tos == [address]]


@pytest.fixture
def live(tmp_path, clock, database, smtp):
    def make(**overrides):
        return Live(tmp_path, clock, database, smtp, **overrides)

    return make


def test_double_opt_in_then_a_reply_is_mailed_with_threading_and_unsubscribe_headers(live):
    app = live()
    ann = app.post("Ann", "ann@example.org", notify="replies")
    (confirmation,) = app.mails_to("ann@example.org")
    assert "Please confirm" in confirmation.message["Subject"]
    assert CONFIRM.search(confirmation.html)
    app.post("Bob", "bob@example.org", parent=ann)
    assert len(app.mails_to("ann@example.org")) == 1  # unconfirmed: nothing yet

    app.confirm_from_mail("ann@example.org")
    carl = app.post("Carl", "carl@example.org", parent=ann, text="Carl *agrees*, mostly.")
    mail = app.mails_to("ann@example.org")[-1]
    msg = mail.message
    assert msg["Subject"] == "[blog] A reply to your comment on Notifications"
    assert f"https://blog.example.org{URI}#comment-{carl}" in mail.text
    assert "Carl <em>agrees</em>, mostly." in mail.html
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://comments.example.org/subscriptions/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["In-Reply-To"] == msg["References"]
    assert msg["In-Reply-To"].startswith("<thread.")
    assert msg["Message-ID"].startswith("<notify.")

    app.post("Dora", "dora@example.org", notify="replies")  # another page-level comment
    assert len(app.mails_to("ann@example.org")) == 2  # a reply to someone else is not Ann's


def test_the_confirmation_link_works_once_and_expires(live, monkeypatch):
    app = live()
    app.post("Ann", "ann@example.org", notify="thread")
    token = CONFIRM.search(app.mails_to("ann@example.org")[0].text).group(1)
    with app.database.write() as tx:
        assert subscriptions.confirm(tx, app.ctx, token).confirmed_at is not None
    with pytest.raises(LinkUsed), app.database.write() as tx:
        subscriptions.confirm(tx, app.ctx, token)

    app.post("Eve", "eve@example.org", notify="thread")
    late = CONFIRM.search(app.mails_to("eve@example.org")[0].text).group(1)
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    later = type("T", (), {"time": staticmethod(lambda: real() + 8 * 86400)})
    monkeypatch.setattr(itsdangerous.timed, "time", later)
    with pytest.raises(TokenExpired), app.database.write() as tx:
        subscriptions.confirm(tx, app.ctx, late)


def test_held_and_spam_comments_mail_no_one_until_approved(live, session):
    app = live(**{"sites.blog.moderation": "all"})
    victim = app.post("Mallory", "victim@example.org", notify="thread")
    assert app.smtp.messages == []  # held: its confirmation waits for approval
    app.act(victim, Action.spam)
    assert app.smtp.messages == []  # and spam never mails the address it names

    ann = app.post("Ann", "ann@example.org", notify="thread")
    assert app.smtp.messages == []
    app.act(ann, Action.approve)
    assert len(app.mails_to("ann@example.org")) == 1  # now the confirmation
    app.confirm_from_mail("ann@example.org")

    held = app.post("Bob", "bob@example.org")
    assert len(app.mails_to("ann@example.org")) == 1  # held: not yet
    app.act(held, Action.approve)
    assert len(app.mails_to("ann@example.org")) == 2  # approved: now
    assert f"#comment-{held}" in app.mails_to("ann@example.org")[-1].text

    app.act(held, Action.hold)
    app.act(held, Action.approve)
    assert len(app.mails_to("ann@example.org")) == 2  # never twice for one comment

    spam = app.post("Spammer", "spam@example.org")
    app.act(spam, Action.spam)
    assert len(app.mails_to("ann@example.org")) == 2


def test_own_comments_are_not_mailed_and_an_address_is_mailed_once_per_comment(live):
    app = live()
    ann = app.post("Ann", "ann@example.org", notify="replies")
    app.confirm_from_mail("ann@example.org")
    app.post(
        "Ann", "ann@example.org", notify="thread", text="And the page."
    )  # confirmed on the site: no new mail
    assert len(app.mails_to("ann@example.org")) == 1
    app.post("Ann", "ANN@example.org", parent=ann)  # her own reply
    assert len(app.mails_to("ann@example.org")) == 1
    bob = app.post("Bob", "bob@example.org", parent=ann)  # a reply AND a new page comment
    mails = app.mails_to("ann@example.org")
    assert len(mails) == 2
    assert mails[-1].text.count(f"#comment-{bob}") == 1


def test_a_busy_page_is_batched_into_one_mail_per_interval(live, clock, session):
    app = live(**{"notify.min_interval_minutes": 15})
    app.post("Ann", "ann@example.org", notify="thread")
    app.confirm_from_mail("ann@example.org")
    first = app.post("Bob", "bob@example.org")
    assert len(app.mails_to("ann@example.org")) == 2
    second = app.post("Carl", "carl@example.org")
    third = app.post("Dora", "dora@example.org")
    assert len(app.mails_to("ann@example.org")) == 2  # within the interval: waiting
    waiting = session.scalar(select(func.count()).where(Delivery.sent_at.is_(None)))
    assert waiting == 2

    clock.advance(15 * 60)
    app.jobs.sweep()
    mails = app.mails_to("ann@example.org")
    assert len(mails) == 3
    assert mails[-1].message["Subject"] == "[blog] 2 new comments on Notifications"
    assert f"#comment-{second}" in mails[-1].text
    assert f"#comment-{third}" in mails[-1].text
    assert f"#comment-{first}" not in mails[-1].text


def test_a_comment_deleted_before_its_mail_is_not_sent(live, clock):
    app = live(**{"notify.min_interval_minutes": 15})
    app.post("Ann", "ann@example.org", notify="thread")
    app.confirm_from_mail("ann@example.org")
    app.post("Bob", "bob@example.org")
    regret = app.post("Carl", "carl@example.org")
    app.act(regret, Action.delete)
    clock.advance(15 * 60)
    app.jobs.sweep()
    assert len(app.mails_to("ann@example.org")) == 2  # nothing left to say


def test_unsubscribe_and_unsubscribe_all(live, session):
    app = live()
    ann = app.post("Ann", "ann@example.org", notify="replies")
    app.confirm_from_mail("ann@example.org")
    app.post("Ann", "ann@example.org", notify="thread", text="And the page.")
    app.post("Bob", "bob@example.org", parent=ann)
    header = app.mails_to("ann@example.org")[-1].message["List-Unsubscribe"]
    token = header.strip("<>").rsplit("/", 1)[1]
    with app.database.write() as tx:
        assert subscriptions.unsubscribe(tx, app.ctx, token) is True
    with app.database.write() as tx:
        assert subscriptions.unsubscribe(tx, app.ctx, token) is False
    with app.database.read() as reading:
        found = subscriptions.check_unsubscribe(reading, app.ctx, token)
        left = subscriptions.subscriptions_of(reading, found.email, found.site)
    assert [s.mode.value for s in left] == ["thread"]
    with app.database.write() as tx:
        assert subscriptions.unsubscribe_all(tx, app.ctx, token) == 1
    count = len(app.mails_to("ann@example.org"))
    app.post("Carl", "carl@example.org", parent=ann)
    assert len(app.mails_to("ann@example.org")) == count


def test_subscribing_without_commenting(live, session):
    app = live()
    with app.database.write() as tx:
        assert subscriptions.request_subscription(tx, app.ctx, "blog", URI, "Reader@Example.org")
    (mail,) = app.mails_to("reader@example.org")
    app.confirm_from_mail("reader@example.org")
    app.post("Bob", "bob@example.org")
    assert len(app.mails_to("reader@example.org")) == 2
    with app.database.write() as tx:  # already confirmed: nothing more to mail
        assert not subscriptions.request_subscription(
            tx, app.ctx, "blog", URI, "reader@example.org"
        )
    assert "new comments" in mail.text


def test_privacy_export_lists_and_erasure_removes_subscriptions(live, session):
    app = live()
    app.post("Ann", "ann@example.org", notify="thread")
    with app.database.read() as reading:
        data = privacy.export_personal_data(reading, "ann@example.org")
    assert [(s["uri"], s["mode"]) for s in data["subscriptions"]] == [(URI, "thread")]
    with app.database.write() as tx:
        privacy.erase_personal_data(tx, app.ctx, "ann@example.org")
    assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_notify_needs_an_address_and_a_known_mode():
    from moderation.errors import InvalidInput
    from moderation.web import schemas

    settings = make_settings_for_schema()
    body = {"site": "blog", "uri": URI, "text": "Hello", "notify": "replies"}
    with pytest.raises(InvalidInput) as raised:
        schemas.parse_new_comment(body, dict(settings.sites), settings.comments)
    assert raised.value.fields == {"email": "required to be notified"}
    with pytest.raises(InvalidInput) as raised:
        schemas.parse_new_comment(
            {**body, "notify": "all"}, dict(settings.sites), settings.comments
        )
    assert "notify" in raised.value.fields
    ok = schemas.parse_new_comment(
        {**body, "email": "a@example.org"}, dict(settings.sites), settings.comments
    )
    assert ok.notify == "replies"


def make_settings_for_schema():
    import tempfile
    from pathlib import Path

    return make_settings(Path(tempfile.mkdtemp()))


def test_status_stays_pending_for_held_subscription_comment(live, session):
    app = live(**{"sites.blog.moderation": "all"})
    held = app.post("Ann", "ann@example.org", notify="replies")
    assert session.get(Comment, held).status is CommentStatus.pending
    sub = session.scalars(select(Subscription)).one()
    assert sub.confirm_sent_at is None
    assert sub.confirmed_at is None


def test_a_subscriber_without_comments_can_ask_for_their_data(live, session):
    app = live()
    with app.database.write() as tx:
        subscriptions.request_subscription(tx, app.ctx, "blog", URI, "only@example.org")
    with app.database.write() as tx:
        assert privacy.queue_request_mail(tx, app.ctx, "only@example.org", "anonymise", "blog")
    with app.database.write() as tx:
        assert not privacy.queue_request_mail(tx, app.ctx, "nobody@example.org", "export", "blog")
