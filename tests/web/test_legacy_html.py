"""Stored HTML is cleaned again wherever a moderator sees it (the queue, a comment's page, the
mail): a row stored under older rules, with a protocol-relative or script link, shows by today's."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage

import pytest

from moderation.domain.states import CommentStatus
from moderation.models import Comment
from moderation.services import notify
from tests.conftest import make_settings
from tests.factories import make_comment

pytestmark = pytest.mark.usefixtures("fast_hashes")

LEGACY = (
    '<p>See <a href="//evil.example/x">this</a>, <a href="javascript:alert(1)">that</a> and '
    '<a href="https://fine.example/">a good one</a>.</p>'
)
MOD = "mod@example.org"


@pytest.fixture
def legacy(session, thread):
    comment = make_comment(session, thread, status=CommentStatus.pending)
    comment.html = LEGACY  # as an older release stored it
    session.flush()
    return comment


def assert_clean(html: str) -> None:
    assert "evil.example" not in html
    assert "javascript:" not in html
    assert 'href="https://fine.example/"' in html


def test_the_queue_shows_stored_html_cleaned_again(as_admin, legacy):
    assert_clean(as_admin.get("/moderate/").get_data(as_text=True))


def test_a_comment_page_shows_stored_html_cleaned_again(as_admin, legacy):
    assert_clean(as_admin.get(f"/moderate/comments/{legacy.id}").get_data(as_text=True))


def test_the_mail_shows_stored_html_cleaned_again(session, ctx, tmp_path, legacy):
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"mail.moderators": [MOD]}))
    payload = {"to": MOD, "event": notify.NEW, "status": "pending", "nonce": "n0nce"}
    message: EmailMessage = notify.build_message(ctx, session.get(Comment, legacy.id), payload)
    assert_clean(message.get_body(("html",)).get_content())
