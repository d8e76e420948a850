"""Mail delivery against a real SMTP server on loopback: a permanent refusal (5xx) suppresses the
address and is not retried, a suppressed address is not mailed, temporary failures (4xx, a server
that is down) are retried with back-off, an entry that failed `[mail] max_attempts` times is a dead
letter until an admin retries it, and a handler's `outbox.Later` waits without counting a failure."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from moderation.models import OutboxEntry, SuppressedAddress
from moderation.runtime.jobs import Jobs
from moderation.services import build_context, comments, mailing, outbox, privacy
from tests.conftest import make_settings
from tests.fakes.smtp_server import FakeSMTP, _Handler
from tests.services import helpers

MOD = "mod@example.org"
OWNER = "owner@example.org"
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")


class _PickyHandler(_Handler):
    """Answers RCPT for the addresses in `fake.refuse` with the configured reply."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        answer = self.fake.refuse.get(address.lower())  # type: ignore[attr-defined]
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"


class PickySMTP(FakeSMTP):
    """The fake SMTP server, able to refuse chosen recipients (``refuse[address] = "550 ..."``)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, str] = {}

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(
                _PickyHandler(self), hostname=self.host, port=self.port, ready_timeout=5.0
            )
            self._controller.start()


@pytest.fixture
def smtp():
    with PickySMTP() as server:
        yield server


@pytest.fixture
def live_ctx(tmp_path, clock, database, smtp):
    """The production context with mail pointed at the fake server; jobs run inline."""

    def make(**overrides):
        values = {
            **smtp.settings(),
            "mail.moderators": [MOD, OWNER],
            "sites.blog.moderation": "all",
            "spam.classifier": False,
            **overrides,
        }
        settings = make_settings(tmp_path, **values)
        return Jobs(settings, database, build_context(settings, clock=clock)).ctx

    return make


def submit(database, ctx, clock):
    clock.advance(60)
    new = comments.NewComment(
        site="blog", uri="/p/", text="A comment to moderate.", author="Ann", email="ann@x.org"
    )
    return helpers.submit(database, ctx, new, BROWSER).id


def entry_to(session, address, kind="mail"):
    session.expire_all()
    found = [
        e
        for e in session.scalars(select(OutboxEntry).where(OutboxEntry.kind == kind))
        if e.payload["to"] == address
    ]
    assert len(found) == 1, found
    return found[0]


def received_by(smtp, address):
    return [m for m in smtp.messages if address in m.rcpt_tos]


def test_a_permanent_refusal_suppresses_the_address_and_is_not_retried(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx()
    smtp.refuse[MOD] = "550 5.1.1 <mod@example.org>: Recipient address rejected"
    submit(database, ctx, clock)

    assert received_by(smtp, MOD) == []
    assert len(received_by(smtp, OWNER)) == 1  # the other moderator's mail is unaffected
    row = session.get(SuppressedAddress, MOD)
    assert row is not None
    assert row.reason.startswith("550 ")
    assert "Recipient address rejected" in row.reason
    entry = entry_to(session, MOD)
    assert entry.done_at is not None  # done: a permanent refusal is never tried again
    clock.advance(86400)
    assert entry.id not in outbox.due_entries(database, ctx)


def test_a_suppressed_address_is_not_mailed(database, session, live_ctx, clock, smtp):
    ctx = live_ctx()
    with database.write() as tx:
        assert mailing.suppress(tx, ctx, "Mod@Example.org", "550 gone")
        assert not mailing.suppress(tx, ctx, MOD, "again")
    submit(database, ctx, clock)
    assert received_by(smtp, MOD) == []
    assert len(received_by(smtp, OWNER)) == 1
    assert entry_to(session, MOD).done_at is not None

    # The readers' privacy-request mail goes through the same door.
    with database.write() as tx:
        mailing.suppress(tx, ctx, "ann@x.org", "550 no such user")
        assert privacy.queue_request_mail(tx, ctx, "ann@x.org", privacy.EXPORT, "blog")
    assert received_by(smtp, "ann@x.org") == []
    assert entry_to(session, "ann@x.org", privacy.REQUEST_MAIL).done_at is not None

    with database.write() as tx:
        assert mailing.unsuppress(tx, "ann@X.org")
        assert not mailing.unsuppress(tx, "ann@x.org")
    with database.read() as read:
        assert [s.email for s in mailing.suppressed(read)] == [MOD]


def test_a_temporary_refusal_is_retried_with_back_off_and_suppresses_nothing(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.moderators": [MOD]})
    smtp.refuse[MOD] = "450 4.2.1 Mailbox busy, try later"
    submit(database, ctx, clock)
    entry = entry_to(session, MOD)
    assert entry.done_at is None
    assert entry.attempts == 1
    assert "450" in entry.last_error
    assert entry.next_attempt_at == clock() + timedelta(seconds=60)
    assert session.get(SuppressedAddress, MOD) is None

    del smtp.refuse[MOD]
    clock.advance(61)
    assert outbox.run_entry(database, ctx, entry.id) is None
    assert len(received_by(smtp, MOD)) == 1
    assert entry_to(session, MOD).done_at is not None


@pytest.mark.expect_errors
def test_after_max_attempts_the_entry_is_dead_until_an_admin_retries_it(
    database, session, live_ctx, clock, smtp
):
    ctx = live_ctx(**{"mail.moderators": [MOD], "mail.max_attempts": 3})
    jobs = Jobs(ctx.settings, database, ctx)
    smtp.stop()
    comment_id = submit(database, ctx, clock)  # try 1 fails: next in 60 s
    entry = entry_to(session, MOD)
    assert (entry.attempts, entry.dead_at) == (1, None)
    clock.advance(61)
    assert outbox.run_entry(database, ctx, entry.id) == 120.0  # try 2: the back-off doubles
    clock.advance(121)
    assert outbox.run_entry(database, ctx, entry.id) is None  # try 3: given up
    entry = entry_to(session, MOD)
    assert entry.attempts == 3
    assert entry.dead_at is not None
    assert entry.done_at is None
    assert "Connection refused" in entry.last_error or "Errno" in entry.last_error

    smtp.start()
    clock.advance(7 * 86400)
    assert outbox.due_entries(database, ctx) == []
    assert jobs.sweep() == 0
    assert outbox.kind_of(database, entry.id) is None
    assert outbox.run_entry(database, ctx, entry.id) is None
    assert smtp.messages == []

    with database.read() as read:
        (dead,) = outbox.dead_letters(read)
    assert (dead.id, dead.kind, dead.attempts) == (entry.id, "mail", 3)
    assert dead.summary == f"to={MOD} comment_id={comment_id} event=new status=pending"
    assert entry.payload["nonce"] not in dead.summary

    with database.write() as tx:
        assert outbox.retry_dead(tx, ctx, entry.id)  # dispatched after the commit: sent inline
    assert len(received_by(smtp, MOD)) == 1
    entry = entry_to(session, MOD)
    assert entry.done_at is not None
    assert entry.dead_at is None
    assert entry.attempts == 1
    with database.write() as tx:
        assert not outbox.retry_dead(tx, ctx, entry.id)  # nothing dead to retry any more
    with database.read() as read:
        assert outbox.dead_letters(read) == []


@pytest.mark.expect_errors  # the entry dies at the end
def test_later_reschedules_without_counting_a_failure(
    database, session, ctx, clock, monkeypatch, caplog
):
    ctx = replace(
        ctx, settings=replace(ctx.settings, mail=replace(ctx.settings.mail, max_attempts=2))
    )
    plan: list[str] = ["later", "later", "later", "fail", "fail"]
    ran: list[str] = []

    def handle(database, ctx, payload):
        step = plan.pop(0)
        ran.append(step)
        if step == "later":
            raise outbox.Later(clock() + timedelta(minutes=15))
        raise RuntimeError("the server is down")

    monkeypatch.setitem(outbox.HANDLERS, "test_later", handle)
    monkeypatch.setattr(outbox, "MAIL_KINDS", {"test_later"})  # a mail kind: it can die
    with database.write() as tx:
        entry_id = outbox.enqueue(tx, ctx, "test_later", {"to": "reader@example.org"})

    caplog.set_level(logging.WARNING, logger="moderation.services.outbox")
    for _ in range(3):
        assert outbox.run_entry(database, ctx, entry_id) == 900.0
        session.expire_all()
        entry = session.get(OutboxEntry, entry_id)
        assert entry.attempts == 0
        assert entry.next_attempt_at == clock() + timedelta(minutes=15)
        assert entry.last_error is None
        assert entry.dead_at is None
        assert outbox.run_entry(database, ctx, entry_id) is None  # not due before then
        clock.advance(15 * 60)
    assert caplog.records == []  # waiting is not a failure: nothing to warn about

    assert outbox.run_entry(database, ctx, entry_id) == 60.0  # the first failure: try 1 of 2
    session.expire_all()
    assert session.get(OutboxEntry, entry_id).dead_at is None
    clock.advance(61)
    assert outbox.run_entry(database, ctx, entry_id) is None  # the second: dead
    session.expire_all()
    assert session.get(OutboxEntry, entry_id).dead_at is not None
    assert ran == ["later", "later", "later", "fail", "fail"]


def test_only_permanent_refusals_of_the_address_count_as_permanent():
    import smtplib

    refused = smtplib.SMTPRecipientsRefused({"Mod@Example.org": (550, b"5.1.1 unknown user")})
    assert mailing.permanent_refusal(refused, MOD) == "550 5.1.1 unknown user"
    busy = smtplib.SMTPRecipientsRefused({MOD: (452, b"4.2.2 mailbox full")})
    assert mailing.permanent_refusal(busy, MOD) is None
    assert mailing.permanent_refusal(smtplib.SMTPDataError(554, b"rejected"), MOD) == "554 rejected"
    assert mailing.permanent_refusal(smtplib.SMTPDataError(451, b"later"), MOD) is None
    # Our own sender or login refused says nothing about the reader's address.
    assert mailing.permanent_refusal(smtplib.SMTPSenderRefused(550, b"no", "x@y"), MOD) is None
    assert mailing.permanent_refusal(smtplib.SMTPAuthenticationError(535, b"bad"), MOD) is None


def test_entries_that_send_no_mail_are_retried_for_as_long_as_it_takes(
    database, session, ctx, monkeypatch
):
    """Akismet feedback, re-checks and verification never become dead letters."""
    ctx = replace(
        ctx, settings=replace(ctx.settings, mail=replace(ctx.settings.mail, max_attempts=1))
    )

    def handle(database, ctx, payload):
        raise RuntimeError("Akismet is down")

    monkeypatch.setitem(outbox.HANDLERS, "test_not_mail", handle)
    with database.write() as tx:
        entry_id = outbox.enqueue(tx, ctx, "test_not_mail", {})
    for _ in range(3):
        assert outbox.run_entry(database, ctx, entry_id) is not None
        with database.write() as tx:  # due again at once
            tx.get(OutboxEntry, entry_id).next_attempt_at = ctx.clock()
    session.expire_all()
    entry = session.get(OutboxEntry, entry_id)
    assert entry.dead_at is None
    assert entry.attempts == 3
    assert "mail" in outbox.MAIL_KINDS
    assert "akismet_feedback" not in outbox.MAIL_KINDS
