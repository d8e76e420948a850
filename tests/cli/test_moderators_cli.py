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


def test_add_takes_the_dashboards_path(cli, session):
    """``moderators add`` makes the row the dashboard's "Add a moderator" makes (a sign-in time
    stamp, a lower-cased address) and refuses what the dashboard refuses."""
    added = cli(
        "moderators",
        "add",
        "Mod@Example.org",
        "--site",
        "demo",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    assert "moderator mod@example.org added (moderator) for the sites demo" in added.output
    moderator = accounts.find_moderator(session, "mod@example.org")
    assert moderator is not None
    assert moderator.created_at is not None
    assert accounts.listed_sites(session, moderator.id) == ["demo"]
    for email, stdin, said in [
        ("not an address", f"{PASSWORD}\n", "not an e-mail address"),
        ("MOD@example.org", f"{PASSWORD}\n", "exists already"),
        ("other@example.org", "short\n", "at least 10 characters"),
    ]:
        refused = cli("moderators", "add", email, "--password-stdin", stdin=stdin, ok=False)
        assert refused.exit_code != 0
        assert said in refused.output
    assert accounts.find_moderator(session, "other@example.org") is None
