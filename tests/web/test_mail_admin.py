"""The dashboard's Mail page (admins only): suppressed addresses and dead letters, each with its
POST button (CSRF-checked); a retried dead letter goes out through the real SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import OutboxEntry, SuppressedAddress
from moderation.runtime.jobs import Jobs
from moderation.services import Context
from moderation.services.tokens import Tokens
from tests.conftest import make_settings
from tests.factories import make_comment
from tests.web.dashboard_helpers import text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)

MOD = "mod@example.org"


@pytest.fixture
def settings(tmp_path, smtp):
    return make_settings(tmp_path, **smtp.settings(), **{"mail.moderators": [MOD]})


@pytest.fixture
def ctx(settings, clock, database):
    """The app's context with the job queue's dispatch (jobs run inline)."""
    base = Context(settings=settings, tokens=Tokens.from_settings(settings), clock=clock)
    return Jobs(settings, database, base).ctx


@pytest.fixture
def suppressed(session, clock):
    row = SuppressedAddress(
        email="gone@example.net", reason="550 5.1.1 no such user", created_at=clock()
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def dead(session, clock, thread):
    comment = make_comment(session, thread, status=CommentStatus.pending)
    entry = OutboxEntry(
        kind="mail",
        payload={
            "comment_id": comment.id,
            "to": MOD,
            "event": "new",
            "status": "pending",
            "nonce": "a-secret-nonce",
        },
        created_at=clock(),
        next_attempt_at=clock(),
        attempts=12,
        last_error="ConnectionRefusedError: [Errno 111] Connection refused",
        dead_at=clock(),
    )
    session.add(entry)
    session.flush()
    return entry


def test_admin_sees_and_removes_a_suppressed_address(as_admin, session, suppressed):
    page = text(as_admin.get("/moderate/mail"))
    assert "gone@example.net" in page
    assert "550 5.1.1 no such user" in page
    assert 'href="/moderate/mail"' in page  # in the navigation
    response = as_admin.post(
        "/moderate/mail/suppressed/remove", {"email": "gone@example.net"}, follow=True
    )
    assert response.status_code == 200
    assert "Mail will be sent to gone@example.net again." in text(response)
    assert session.scalars(select(SuppressedAddress)).all() == []
    again = as_admin.post(
        "/moderate/mail/suppressed/remove", {"email": "gone@example.net"}, follow=True
    )
    assert "was not on the suppression list" in text(again)


def test_admin_retries_a_dead_letter_and_it_is_sent(as_admin, session, dead, smtp):
    page = text(as_admin.get("/moderate/mail"))
    assert "Connection refused" in page
    assert f"to={MOD}" in page
    assert "a-secret-nonce" not in page
    response = as_admin.post(f"/moderate/mail/dead/{dead.id}/retry", follow=True)
    assert "The mail is queued again" in text(response)
    assert [m.rcpt_tos for m in smtp.messages] == [[MOD]]
    session.expire_all()
    entry = session.get(OutboxEntry, dead.id)
    assert entry.done_at is not None
    assert entry.dead_at is None
    assert "No dead letters." in text(as_admin.get("/moderate/mail"))
    twice = as_admin.post(f"/moderate/mail/dead/{dead.id}/retry", follow=True)
    assert "no longer waiting to be retried" in text(twice)
    assert len(smtp.messages) == 1


def test_a_moderator_gets_403_and_no_link(as_moderator, session, suppressed, dead):
    assert as_moderator.get("/moderate/mail").status_code == 403
    assert 'href="/moderate/mail"' not in text(as_moderator.get("/moderate/audit"))
    response = as_moderator.post("/moderate/mail/suppressed/remove", {"email": "gone@example.net"})
    assert response.status_code == 403
    assert as_moderator.post(f"/moderate/mail/dead/{dead.id}/retry").status_code == 403
    session.expire_all()
    assert session.get(SuppressedAddress, "gone@example.net") is not None
    assert session.get(OutboxEntry, dead.id).dead_at is not None


def test_posts_without_a_csrf_token_are_refused(as_admin, session, suppressed, dead, smtp):
    client = as_admin.client
    response = client.post("/moderate/mail/suppressed/remove", data={"email": "gone@example.net"})
    assert response.status_code == 400
    assert client.post(f"/moderate/mail/dead/{dead.id}/retry").status_code == 400
    session.expire_all()
    assert session.get(SuppressedAddress, "gone@example.net") is not None
    assert session.get(OutboxEntry, dead.id).dead_at is not None
    assert smtp.messages == []
