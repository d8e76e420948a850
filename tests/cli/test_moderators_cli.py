"""Finding 7 from the command line: ``moderation moderators password`` changes a password and ends
the moderator's sessions (a signed-in browser is back at the sign-in form)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from moderation import passwords
from moderation.services import accounts
from tests.web.dashboard_helpers import PASSWORD, Dashboard


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    """Cheap argon2 parameters, as the dashboard's tests: what is tested is the flow."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def test_a_new_password_ends_the_sessions(cli, client, session, ctx):
    accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)
    browser = Dashboard(client)
    assert browser.login("mod@example.org").status_code == 303
    assert browser.get("/moderate/").status_code == 200
    result = cli(
        "moderators", "password", "MOD@example.org", "--password-stdin", stdin="new pass 1234\n"
    )
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert browser.get("/moderate/").status_code == 303
    assert Dashboard(client).login("mod@example.org", "new pass 1234").status_code == 303


def test_password_for_an_unknown_or_short(cli, session, ctx):
    unknown = cli(
        "moderators",
        "password",
        "x@example.org",
        "--password-stdin",
        stdin="long enough pw\n",
        ok=False,
    )
    assert unknown.exit_code != 0
    assert "no moderator x@example.org" in unknown.output
    accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)
    short = cli(
        "moderators", "password", "mod@example.org", "--password-stdin", stdin="short\n", ok=False
    )
    assert short.exit_code != 0
    assert "at least 10 characters" in short.output
