"""Sessions in `moderation.services.accounts`: what a signed session names, and what ends it."""

from __future__ import annotations

import pytest

from moderation.models import Moderator
from moderation.services import accounts

PASSWORD = "correct horse battery"


@pytest.fixture
def moderator(session, ctx):
    return accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)


def fresh(session, moderator):
    session.expire_all()
    return session.get(Moderator, moderator.id)


def test_a_session_names_the_id_and_the_generation(session, moderator):
    signed = accounts.session_id(moderator)
    assert signed == f"{moderator.id}:0"
    assert accounts.moderator_of_session(session, signed).id == moderator.id


@pytest.mark.parametrize(
    "signed", ["", "7", "x:0", "1:", ":0", "1:0:0", "99999999999999999999:0", "١:0", "-1:0"]
)
def test_garbage_names_nobody(session, moderator, signed):
    assert accounts.moderator_of_session(session, signed) is None


def test_end_sessions_makes_the_old_name_stale(session, moderator):
    old = accounts.session_id(moderator)
    accounts.end_sessions(session, moderator.id)
    current = fresh(session, moderator)
    assert accounts.moderator_of_session(session, old) is None
    assert accounts.moderator_of_session(session, accounts.session_id(current)) is not None


def test_a_deactivated_moderators_current_session_names_nobody(session, moderator, ctx):
    admin = accounts.add_moderator(session, ctx, "a@example.org", "admin", PASSWORD)
    accounts.set_active(session, moderator.id, False, by=admin.id)
    current = fresh(session, moderator)
    assert accounts.moderator_of_session(session, accounts.session_id(current)) is None


def test_set_password_replaces_the_hash_and_ends_sessions(session, moderator):
    old = accounts.session_id(moderator)
    accounts.set_password(session, moderator.id, "another long password")
    assert accounts.moderator_of_session(session, old) is None
    assert accounts.authenticate(session, moderator.email, PASSWORD) is None
    assert accounts.authenticate(session, moderator.email, "another long password") is not None
