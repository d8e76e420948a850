"""Finding 10 (part): "spam and block" follows the lists' rule on the dashboard: a moderator who
is not an admin is told so, and neither the block nor the spam mark happens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.models import ListEntry
from tests.web.dashboard_helpers import S, pending, status_of, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


@pytest.mark.parametrize("block", ["ip", "email", "domain"])
def test_a_moderator_cannot_spam_and_block(as_moderator, session, thread, block):
    comment = pending(
        session, thread, ip="203.0.113.9", email="s@spam.example", website="https://spam.example/"
    )
    response = as_moderator.post(
        f"/moderate/comments/{comment.id}/spam-and-block", {"block": block}, follow=True
    )
    assert response.status_code == 200
    assert "Only admins may change the block and moderation lists" in text(response)
    assert session.scalars(select(ListEntry)).all() == []
    assert status_of(session, comment) is S.pending


def test_a_moderator_cannot_add_or_remove_list_entries(as_moderator, session, ctx):
    response = as_moderator.post("/moderate/lists", {"kind": "blocked_ip", "value": "192.0.2.1"})
    assert response.status_code == 403
    assert "Only admins may change the block and moderation lists" in text(response)
    assert session.scalars(select(ListEntry)).all() == []
    assert as_moderator.post("/moderate/lists/1/delete").status_code == 403


def test_an_admin_still_spams_and_blocks(as_admin, session, thread):
    comment = pending(session, thread, ip="203.0.113.9")
    response = as_admin.post(
        f"/moderate/comments/{comment.id}/spam-and-block", {"block": "ip"}, follow=True
    )
    assert "1 comment marked as spam and its IP blocked." in text(response)
    assert status_of(session, comment) is S.spam


def test_the_spam_and_block_menu_is_shown_to_admins_only(app, as_moderator, session, thread):
    pending(session, thread, ip="203.0.113.9")
    assert "Spam &amp; block" not in text(as_moderator.get("/moderate/"))


def test_admins_see_the_spam_and_block_menu(as_admin, session, thread):
    pending(session, thread, ip="203.0.113.9")
    assert "Spam &amp; block" in text(as_admin.get("/moderate/"))
