"""Imported comments in the dashboard: every tab and detail page shows them (they have no spam
check of ours), the audit trail says where they came from, and moderators' actions and edits work
on them (an HTML comment stays HTML when edited)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment
from moderation.services import imports
from tests.web.dashboard_helpers import status_of

WXR = Path(__file__).parent.parent / "fixtures" / "imports" / "wordpress" / "threaded.xml"


def imported(session, status: CommentStatus) -> Comment:
    return session.scalars(
        select(Comment).where(Comment.import_source == "wordpress", Comment.status == status)
    ).first()


def test_tabs_and_detail_pages_show_imported_comments(database, ctx, session, as_moderator):
    imports.run_import(database, ctx, "blog", "wordpress", WXR)
    for status in CommentStatus:
        comment = imported(session, status)
        assert comment is not None, status
        tab = as_moderator.get(f"/moderate/?status={status.value}")
        assert tab.status_code == 200
        assert f"/moderate/comments/{comment.id}" in tab.get_data(as_text=True)
        detail = as_moderator.get(f"/moderate/comments/{comment.id}")
        assert detail.status_code == 200
        assert "imported (wordpress" in detail.get_data(as_text=True)


def test_moderators_act_on_and_edit_imported_comments(database, ctx, session, as_moderator):
    imports.run_import(database, ctx, "blog", "wordpress", WXR)
    held = imported(session, CommentStatus.pending)
    response = as_moderator.post(f"/moderate/comments/{held.id}/approve")
    assert response.status_code == 303
    assert status_of(session, held) is CommentStatus.approved
    spam = imported(session, CommentStatus.spam)
    as_moderator.post(f"/moderate/comments/{spam.id}/ham")
    assert status_of(session, spam) is CommentStatus.approved

    edited = as_moderator.post(
        f"/moderate/comments/{held.id}/edit",
        data={"text": "Fixed <strong>typo</strong>\n\nsecond <script>x</script>"},
    )
    assert edited.status_code == 303
    session.expire_all()
    row = session.get(Comment, held.id)
    assert row.text_format == "html"
    assert row.html == "<p>Fixed <strong>typo</strong></p>\n<p>second </p>"
