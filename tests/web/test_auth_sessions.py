"""Finding 7: a session ends on the server. A cookie saved before a logout, a password change or a
deactivation opens nothing afterwards (the remember-me cookie neither), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask_login.utils import encode_cookie

from moderation.models import Moderator
from moderation.services import accounts
from tests.web.dashboard_helpers import PASSWORD, Dashboard

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)

COOKIE = "moderation_session"


def saved_cookie(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def replay(app, value: str, path: str = "/moderate/"):
    """A second browser that only has the saved cookie (an attacker who copied it)."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other.get(path)


def test_a_cookie_saved_before_logout_no_longer_opens_the_queue(app, as_admin):
    saved = saved_cookie(as_admin.client)
    assert replay(app, saved).status_code == 200  # the copy works while signed in
    as_admin.token = as_admin.csrf("/moderate/")
    assert as_admin.post("/moderate/logout").status_code == 303
    response = replay(app, saved)
    assert response.status_code == 303
    assert response.location.startswith("/moderate/login")


def test_logout_ends_the_moderators_other_sessions_too(app, admin):
    first, second = Dashboard(app.test_client()), Dashboard(app.test_client())
    assert first.login(admin.email).status_code == 303
    assert second.login(admin.email).status_code == 303
    first.post("/moderate/logout")
    assert second.get("/moderate/").status_code == 303
    assert second.login(admin.email).status_code == 303  # and signing in again works
    assert second.get("/moderate/").status_code == 200


def test_a_password_change_ends_the_sessions(app, as_moderator, moderator, session, ctx):
    saved = saved_cookie(as_moderator.client)
    accounts.set_password(session, moderator.id, "a brand new password")
    assert as_moderator.get("/moderate/").status_code == 303
    assert replay(app, saved).status_code == 303
    assert as_moderator.login(moderator.email).status_code == 401  # the old password is gone
    assert as_moderator.login(moderator.email, "a brand new password").status_code == 303


def test_a_password_change_needs_a_long_enough_password(session, moderator):
    with pytest.raises(accounts.InvalidInput):
        accounts.set_password(session, moderator.id, "short")


def test_deactivation_ends_the_sessions_even_after_reactivation(
    app, as_moderator, moderator, admin, session
):
    saved = saved_cookie(as_moderator.client)
    accounts.set_active(session, moderator.id, False, by=admin.id)
    accounts.set_active(session, moderator.id, True, by=admin.id)
    assert replay(app, saved).status_code == 303


def test_a_remember_cookie_from_before_logout_is_refused(app, as_admin, admin, session):
    """Flask-Login reads a remember-me cookie when the session has no user; it names the same id
    as the session, so it ends with it."""
    session.expire_all()
    with app.test_request_context():
        remember = encode_cookie(accounts.session_id(session.get(Moderator, admin.id)))
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)
    assert fresh.get("/moderate/").status_code == 200  # Flask-Login honours it while valid
    as_admin.token = as_admin.csrf("/moderate/")
    as_admin.post("/moderate/logout")
    stale = app.test_client()
    stale.set_cookie("remember_token", remember)
    assert stale.get("/moderate/").status_code == 303


def test_a_session_id_without_its_generation_is_refused(app, admin):
    """Cookies signed before the upgrade carried the bare id: they open nothing now."""
    client = app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = str(admin.id)
        cookie_session["_fresh"] = True
    assert client.get("/moderate/").status_code == 303


def test_password_is_unchanged_for_a_wrong_id(session):
    with pytest.raises(accounts.NotFound):
        accounts.set_password(session, 999999, PASSWORD)
