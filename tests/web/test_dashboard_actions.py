"""The dashboard's actions through Flask's test client, on SQLite and PostgreSQL: single, bulk and
select-all actions, spam-and-block, undo, edit, the audit log, the lists, moderators."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from moderation.app import create_app
from moderation.models import ClassifierCount, Comment, ListEntry, ListKind, Thread
from moderation.services import accounts, build_context, comments
from moderation.web import current
from tests.conftest import make_settings
from tests.factories import make_comment
from tests.web.dashboard_helpers import PASSWORD, Dashboard, S, audit, pending, status_of, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


# --- actions -----------------------------------------------------------------------------------------


def test_single_action_moves_the_comment_and_is_audited(as_admin, session, thread):
    comment = pending(session, thread)
    response = as_admin.post(
        f"/moderate/comments/{comment.id}/approve", {"next": "/moderate/?status=pending"}
    )
    assert response.status_code == 303
    assert response.location == "/moderate/?status=pending"
    assert status_of(session, comment) is S.approved
    event = audit(session, comment)[-1]
    assert (event.action, event.actor, event.from_status) == (
        "approve",
        "moderator:admin@example.org",
        S.pending,
    )
    assert "1 comment approved." in text(as_admin.get("/moderate/"))


def test_an_action_that_does_not_apply_says_so(as_admin, session, thread):
    comment = make_comment(session, thread)
    response = as_admin.post(f"/moderate/comments/{comment.id}/approve", follow=True)
    assert "Cannot approve a comment that is approved." in text(response)
    assert status_of(session, comment) is S.approved
    assert len(audit(session, comment)) == 0


def test_not_spam_approves_a_spam_comment(as_admin, session, thread):
    comment = make_comment(session, thread, status=S.spam)
    as_admin.post(f"/moderate/comments/{comment.id}/ham")
    assert status_of(session, comment) is S.approved
    assert audit(session, comment)[-1].action == "ham"


def test_bulk_action_on_ticked_comments_counts_the_skipped(as_admin, session, thread):
    a, b = pending(session, thread), pending(session, thread)
    done = make_comment(session, thread, status=S.deleted)
    response = as_admin.post(
        "/moderate/bulk", {"action": "spam", "ids": [a.id, b.id, done.id]}, follow=True
    )
    assert "2 comments marked as spam. 1 comment skipped" in text(response)
    assert (status_of(session, a), status_of(session, b)) == (S.spam, S.spam)
    assert status_of(session, done) is S.deleted


def test_bulk_needs_a_selection(as_admin):
    response = as_admin.post("/moderate/bulk", {"action": "approve"}, follow=True)
    assert "Select some comments first." in text(response)


def test_select_all_matching_applies_to_every_match_up_to_the_shown_newest(
    as_admin, session, thread
):
    hits = [pending(session, thread, text=f"casino {i}") for i in range(4)]
    miss = pending(session, thread, text="a real comment")
    newest = max(c.id for c in [*hits, miss])
    late = pending(session, thread, text="casino late")
    data = {
        "action": "delete",
        "all_matching": "1",
        "status": "pending",
        "q": "casino",
        "max_id": str(newest),
        "ids": [hits[0].id],
    }
    response = as_admin.post("/moderate/bulk", data, follow=True)
    assert "4 comments deleted." in text(response)
    assert all(status_of(session, c) is S.deleted for c in hits)
    assert status_of(session, miss) is S.pending
    assert status_of(session, late) is S.pending


def test_spam_and_block_adds_the_entry_and_undo_takes_it_back(as_admin, session, thread):
    comment = pending(session, thread, ip="203.0.113.66")
    response = as_admin.post(
        f"/moderate/comments/{comment.id}/spam-and-block", {"block": "ip"}, follow=True
    )
    assert "1 comment marked as spam and its IP blocked." in text(response)
    entry = session.scalars(select(ListEntry)).one()
    assert (entry.kind, entry.value, entry.site) == (ListKind.blocked_ip, "203.0.113.66", None)
    assert status_of(session, comment) is S.spam
    as_admin.post("/moderate/undo")
    assert status_of(session, comment) is S.pending
    session.expire_all()
    assert session.scalars(select(ListEntry)).all() == []


def test_spam_and_block_without_an_ip_says_so(as_admin, session, thread):
    comment = pending(session, thread, ip="")
    response = as_admin.post(
        f"/moderate/comments/{comment.id}/spam-and-block", {"block": "ip"}, follow=True
    )
    assert "This comment has no IP address to block." in text(response)
    assert status_of(session, comment) is S.pending


def test_approve_and_trust(as_admin, session, thread):
    comment = pending(session, thread, author="Zoe", email="zoe@example.org")
    response = as_admin.post(f"/moderate/comments/{comment.id}/approve-and-trust", follow=True)
    assert "Its author is trusted now" in text(response)
    assert status_of(session, comment) is S.approved


def test_undo_reverses_the_last_batch_and_is_audited(as_admin, session, thread):
    a, b = pending(session, thread), make_comment(session, thread)
    as_admin.post("/moderate/bulk", {"action": "delete", "ids": [a.id, b.id]})
    page = text(as_admin.get("/moderate/"))
    # one banner: the message and its Undo button together
    assert re.search(
        r'<div class="banner[^"]*">\s*<p class="notice notice-success">2 comments deleted\.</p>\s*<form[^>]*id="undo-form"',
        page,
    )
    response = as_admin.post("/moderate/undo", {"next": "/moderate/?status=deleted"})
    assert response.location == "/moderate/?status=deleted"
    assert (status_of(session, a), status_of(session, b)) == (S.pending, S.approved)
    assert [(e.action, e.reason) for e in audit(session, b)] == [
        ("delete", ""),
        ("restore", "undo"),
        ("approve", "undo"),
    ]
    as_admin.post("/moderate/undo")  # undoing the undo deletes them again
    assert (status_of(session, a), status_of(session, b)) == (S.deleted, S.deleted)


def test_undo_with_nothing_to_undo(as_admin):
    response = as_admin.post("/moderate/undo", follow=True)
    assert "There is nothing to undo." in text(response)


def test_edit_rerenders_and_is_audited(as_admin, session, thread):
    comment = make_comment(session, thread, text="tpyo")
    version = thread.version
    response = as_admin.post(
        f"/moderate/comments/{comment.id}/edit", {"text": "*typo*"}, follow=True
    )
    assert "The comment was saved." in text(response)
    session.expire_all()
    edited = session.get(Comment, comment.id)
    assert (edited.text, edited.html) == ("*typo*", "<p><em>typo</em></p>")
    assert session.get(Thread, thread.id).version == version + 1
    assert audit(session, comment)[-1].action == "edit"
    empty = as_admin.post(f"/moderate/comments/{comment.id}/edit", {"text": " "}, follow=True)
    assert "The text is empty." in text(empty)


# --- audit log, lists, moderators --------------------------------------------------------------------


def test_audit_page_lists_filters_and_pages(as_admin, session, thread, moderator):
    a, b = pending(session, thread), pending(session, thread)
    as_admin.post(f"/moderate/comments/{a.id}/approve")
    as_admin.post(f"/moderate/comments/{b.id}/spam")
    html = text(as_admin.get("/moderate/audit"))
    assert html.index(f"#{b.id}") < html.index(f"#{a.id}")  # newest first
    assert "pending → spam" in html
    assert "moderator:admin@example.org" in html
    only_a = text(as_admin.get(f"/moderate/audit?comment={a.id}"))
    assert f"#{a.id}" in only_a
    assert f"#{b.id}<" not in only_a
    none = text(as_admin.get(f"/moderate/audit?moderator={moderator.id}"))
    assert "No events." in none
    first = text(as_admin.get("/moderate/audit?limit=1"))
    assert 'rel="next"' in first
    assert as_admin.get("/moderate/audit?comment=x").status_code == 400


def test_admin_adds_and_removes_list_entries(as_admin, session):
    response = as_admin.post(
        "/moderate/lists",
        {"kind": "blocked_domain", "value": "*.Spam.Example", "site": "blog", "note": "casino"},
        follow=True,
    )
    assert "Added to blocked domains." in text(response)
    entry = session.scalars(select(ListEntry)).one()
    assert (entry.value, entry.site, entry.created_by) == (
        "spam.example",
        "blog",
        "moderator:admin@example.org",
    )
    assert "spam.example" in text(as_admin.get("/moderate/lists"))
    as_admin.post(f"/moderate/lists/{entry.id}/delete")
    session.expire_all()
    assert session.scalars(select(ListEntry)).all() == []


def test_a_bad_list_entry_shows_the_message_in_the_page(as_admin, session):
    response = as_admin.post("/moderate/lists", {"kind": "blocked_ip", "value": "10.0.0.300"})
    assert response.status_code == 400
    html = text(response)
    assert "not an IP or CIDR: &#39;10.0.0.300&#39;" in html
    assert 'value="10.0.0.300"' in html  # kept in the form
    assert session.scalars(select(ListEntry)).all() == []
    assert as_admin.post("/moderate/lists", {"kind": "nope", "value": "x"}).status_code == 400


def test_admin_adds_and_deactivates_moderators(as_admin, session):
    response = as_admin.post(
        "/moderate/moderators",
        {"email": "New@Example.org", "role": "moderator", "password": PASSWORD},
        follow=True,
    )
    assert "new@example.org can sign in now (moderator)." in text(response)
    new = accounts.authenticate(session, "new@example.org", PASSWORD)
    assert new is not None
    response = as_admin.post(f"/moderate/moderators/{new.id}/deactivate", follow=True)
    assert "new@example.org is deactivated." in text(response)
    short = as_admin.post(
        "/moderate/moderators",
        {"email": "x@example.org", "role": "moderator", "password": "short"},
        follow=True,
    )
    assert "A password needs at least 10 characters." in text(short)


def test_admin_cannot_deactivate_themselves(as_admin, admin):
    response = as_admin.post(f"/moderate/moderators/{admin.id}/deactivate", follow=True)
    assert "You cannot deactivate yourself." in text(response)


def test_huge_ids_are_not_found_rather_than_errors(as_admin, session, thread):
    huge = 2**70
    assert as_admin.get(f"/moderate/comments/{huge}").status_code == 404
    # (beyond the database's integer no route matches: tests/web/test_route_ids.py)
    assert as_admin.post(f"/moderate/comments/{huge}/approve").status_code == 404
    response = as_admin.post(f"/moderate/comments/{2**31 - 1}/approve", follow=True)
    assert f"No comment {2**31 - 1}." in text(response)
    assert as_admin.get(f"/moderate/?cursor={huge}").status_code == 400
    response = as_admin.post(
        "/moderate/bulk", {"action": "approve", "ids": [str(huge)]}, follow=True
    )
    assert "1 comment skipped" in text(response)


def test_actions_with_the_production_hooks_teach_the_classifier(tmp_path, database, clock):
    """The real context: rules, learning from decisions, the outbox and notifications."""
    settings = make_settings(
        tmp_path,
        **{"sites.blog.moderation": "all", "guard.flood_seconds": 0, "spam.classifier": False},
    )
    app = create_app(settings, database=database, context=build_context(settings, clock=clock))
    ctx = current.parts(app).context
    app.config["TESTING"] = True
    with database.write() as tx:
        accounts.add_moderator(tx, ctx, "admin@example.org", "admin", PASSWORD)
    for i in range(3):
        new = comments.NewComment(
            site="blog",
            uri="/p/",
            text=f"Buy cheap pills {i}",
            author=f"Spammer {i}",
            email=f"s{i}@example.org",
        )
        with database.read() as session:
            draft = comments.prepare_comment(session, ctx, new, comments.ClientInfo(ip="192.0.2.1"))
        with database.write() as tx:
            comments.store_comment(tx, ctx, draft)
    dash = Dashboard(app.test_client())
    assert dash.login("admin@example.org").status_code == 303
    data = {
        "action": "spam",
        "all_matching": "1",
        "status": "pending",
        "q": "pills",
        "max_id": "999",
    }
    assert "3 comments marked as spam." in text(dash.post("/moderate/bulk", data, follow=True))
    with database.read() as session:
        learned = session.scalars(select(Comment.learned)).all()
        assert learned == ["spam"] * 3
        assert session.scalar(select(func.count()).select_from(ClassifierCount)) > 1
    assert "3 comments restored" in text(dash.post("/moderate/undo", follow=True))
    with database.read() as session:
        assert set(session.scalars(select(Comment.status))) == {S.pending}
