"""Finding 10 (part): one rule for changing the moderation lists, whichever way the change comes:
only an active admin. "Spam and block" used to let any moderator add block-list entries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.errors import Forbidden
from moderation.models import ListEntry, ListKind, Moderator, Role
from moderation.services import lists as list_service
from moderation.services.moderation import SYSTEM, Actor
from tests.factories import make_comment, make_thread


def make_actor(session, email: str, role: Role, active: bool = True) -> Actor:
    moderator = Moderator(email=email, password_hash="x", role=role, active=active)
    session.add(moderator)
    session.flush()
    return Actor.moderator(moderator.id, email)


def test_a_moderator_cannot_block_through_spam_and_block(session, ctx):
    actor = make_actor(session, "mod@example.org", Role.moderator)
    comment = make_comment(
        session, make_thread(session), status=CommentStatus.pending, ip="1.2.3.4"
    )
    with pytest.raises(Forbidden, match="only admins"):
        list_service.spam_and_block(session, ctx, comment.id, "ip", actor)
    session.expire_all()
    assert session.scalars(select(ListEntry)).all() == []
    assert session.get(type(comment), comment.id).status is CommentStatus.pending


@pytest.mark.parametrize(
    "who", ["moderator", "inactive admin", "system", "token", "deleted admin"], ids=str
)
def test_only_an_active_admin_may_change_the_lists(session, ctx, who):
    if who == "moderator":
        actor = make_actor(session, "m@example.org", Role.moderator)
    elif who == "inactive admin":
        actor = make_actor(session, "a@example.org", Role.admin, active=False)
    elif who == "system":
        actor = SYSTEM
    elif who == "token":
        actor = Actor("token:ci")
    else:
        actor = Actor.moderator(999999, "gone@example.org")
    with pytest.raises(Forbidden):
        list_service.require_list_editor(session, actor)
    with pytest.raises(Forbidden):
        list_service.add_entry_by(session, ctx, actor, ListKind.blocked_ip, "192.0.2.1")
    assert session.scalars(select(ListEntry)).all() == []


def test_an_admin_may_block_and_edit(session, ctx):
    actor = make_actor(session, "admin@example.org", Role.admin)
    comment = make_comment(
        session, make_thread(session), status=CommentStatus.pending, ip="1.2.3.4"
    )
    batch = list_service.spam_and_block(session, ctx, comment.id, "ip", actor)
    assert batch.entry_id is not None
    entry, created = list_service.add_entry_by(
        session, ctx, actor, ListKind.blocked_email, "x@spam.example"
    )
    assert created
    assert entry.created_by == actor.label
    assert list_service.remove_entry_by(session, actor, entry.id).value == "x@spam.example"
