"""Moderator accounts and API tokens on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from moderation.errors import Duplicate, InvalidInput, NotFound
from moderation.models import Moderator, Role
from moderation.passwords import hash_password, needs_rehash, verify_password
from moderation.services import accounts
from tests.services.helpers import write

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(session, ctx):
    return accounts.add_moderator(session, ctx, "Admin@Example.org", "admin", PASSWORD)


def test_add_moderator_stores_a_lowercase_email_and_an_argon2_hash(admin, clock):
    assert admin.email == "admin@example.org"
    assert admin.role is Role.admin
    assert admin.active
    assert admin.password_hash.startswith("$argon2id$")
    assert verify_password(admin.password_hash, PASSWORD)
    assert admin.created_at == clock.now


@pytest.mark.parametrize(
    ("email", "role", "password", "field"),
    [
        ("not-an-email", "moderator", PASSWORD, "email"),
        ("a@example.org", "boss", PASSWORD, "role"),
        ("a@example.org", "moderator", "short", "password"),
    ],
)
def test_add_moderator_rejects_bad_input(session, ctx, email, role, password, field):
    with pytest.raises(InvalidInput) as err:
        accounts.add_moderator(session, ctx, email, role, password)
    assert field in err.value.fields


def test_add_moderator_rejects_a_taken_email(session, ctx, admin):
    with pytest.raises(Duplicate):
        accounts.add_moderator(session, ctx, "ADMIN@example.org", "moderator", PASSWORD)


def sign_in(session, database, ctx, email, password):
    """A sign-in as the web layer makes it: `authenticate` reads, `record_sign_in` writes."""
    moderator = accounts.authenticate(session, email, password)
    if moderator is not None:
        write(database, accounts.record_sign_in, ctx, moderator, password)
        session.refresh(moderator)
    return moderator


def test_authenticate_right_password_records_the_sign_in(session, database, ctx, admin, clock):
    assert accounts.authenticate(session, " ADMIN@example.org ", PASSWORD) is admin
    assert admin.last_login_at is None  # reads only
    assert sign_in(session, database, ctx, " ADMIN@example.org ", PASSWORD) is admin
    assert admin.last_login_at == clock.now


@pytest.mark.parametrize(
    ("email", "password"), [("admin@example.org", "wrong password"), ("who@example.org", PASSWORD)]
)
def test_authenticate_wrong_password_or_unknown_email_is_none(
    session, database, ctx, admin, email, password
):
    assert sign_in(session, database, ctx, email, password) is None
    session.refresh(admin)
    assert admin.last_login_at is None


def test_authenticate_refuses_a_deactivated_moderator(session, ctx, admin):
    other = accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)
    accounts.set_active(session, other.id, False, by=admin.id)
    assert accounts.authenticate(session, "mod@example.org", PASSWORD) is None


def test_authenticate_rehashes_a_weak_hash(session, database, ctx):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak)
    moderator = Moderator(email="old@example.org", password_hash=weak, role=Role.moderator)
    session.add(moderator)
    session.flush()
    assert sign_in(session, database, ctx, "old@example.org", PASSWORD) is moderator
    assert moderator.password_hash != weak
    assert not needs_rehash(moderator.password_hash)
    assert verify_password(moderator.password_hash, PASSWORD)


def test_a_current_hash_is_kept(session, database, ctx, admin):
    before = admin.password_hash
    assert sign_in(session, database, ctx, "admin@example.org", PASSWORD) is admin
    assert admin.password_hash == before


def test_set_active_deactivates_and_reactivates(session, ctx, admin):
    other = accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)
    assert accounts.set_active(session, other.id, False, by=admin.id).active is False
    assert accounts.set_active(session, other.id, True, by=admin.id).active is True
    assert [m.email for m in accounts.list_moderators(session)] == [
        "admin@example.org",
        "mod@example.org",
    ]


def test_set_active_refuses_self_and_the_last_admin(session, ctx, admin):
    with pytest.raises(InvalidInput, match="yourself"):
        accounts.set_active(session, admin.id, False, by=admin.id)
    other = accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)
    with pytest.raises(InvalidInput, match="last active admin"):
        accounts.set_active(session, admin.id, False, by=other.id)
    second = accounts.add_moderator(session, ctx, "boss@example.org", "admin", PASSWORD)
    assert accounts.set_active(session, admin.id, False, by=second.id).active is False
    with pytest.raises(NotFound):
        accounts.set_active(session, 999_999, False, by=admin.id)


def use_token(session, database, ctx, token):
    """A request bearing `token`, as the API takes it: the lookup reads, and the use is recorded
    in the request's write when it is due."""
    row = accounts.find_api_token(session, token)
    if row is not None and accounts.token_use_due(ctx, row):
        write(database, accounts.record_token_use, ctx, row.id)
        session.refresh(row)
    return row


def test_api_tokens_are_found_by_hash_and_record_their_use(session, database, ctx, clock):
    row, token = accounts.create_api_token(session, ctx, "ci")
    assert token.startswith("mod_")
    assert token not in row.token_hash
    assert row.token_hash == accounts.token_hash(token)
    assert accounts.find_api_token(session, token) is row
    assert row.last_used_at is None  # the lookup reads only
    assert use_token(session, database, ctx, token) is row
    assert row.last_used_at == clock.now
    first_use = clock.now
    clock.advance(30)
    assert not accounts.token_use_due(ctx, row)
    assert use_token(session, database, ctx, token) is row
    assert row.last_used_at == first_use  # at most one write a minute
    clock.advance(60)
    assert accounts.token_use_due(ctx, row)
    assert use_token(session, database, ctx, token) is row
    assert row.last_used_at == clock.now
    with pytest.raises(Duplicate):
        accounts.create_api_token(session, ctx, "ci")


@pytest.mark.parametrize("token", ["", "mod_wrong", "x" * 300])
def test_unknown_tokens_are_none(session, ctx, token):
    accounts.create_api_token(session, ctx, "ci")
    assert accounts.find_api_token(session, token) is None


def test_a_revoked_token_is_refused(session, ctx, clock):
    row, token = accounts.create_api_token(session, ctx, "ci")
    row.revoked_at = clock.now - timedelta(seconds=1)
    session.flush()
    assert accounts.find_api_token(session, token) is None


def test_the_cli_token_hash_matches(session, ctx):
    """`moderation tokens create` stores the same SHA-256 the API looks up."""
    import hashlib

    assert accounts.token_hash("mod_abc") == hashlib.sha256(b"mod_abc").hexdigest()
    assert hash_password("x") != hash_password("x")  # salted
