"""Finding 10 (part): ``moderation tokens list`` and ``moderation tokens revoke``; a revoked token is
refused by the moderation API at once (401). The commands run in process (click's runner) on the
test's database, SQLite and PostgreSQL, against the app on the same database."""

from __future__ import annotations

import re

from sqlalchemy import select

from moderation.models import ApiToken
from moderation.services import accounts


def api(client, token: str):
    return client.get("/api/v1/moderation/comments", headers={"Authorization": f"Bearer {token}"})


def test_a_revoked_token_is_refused_at_once(cli, client, session):
    token = cli("tokens", "create", "ci-bot").output.strip()
    assert api(client, token).status_code == 200
    out = cli("tokens", "revoke", "ci-bot").output
    assert "revoked" in out
    response = api(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    row = session.scalars(select(ApiToken)).one()
    assert row.revoked_at is not None


def test_tokens_list_shows_names_dates_and_state_never_hashes(cli, client, session):
    token = cli("tokens", "create", "ci-bot").output.strip()
    cli("tokens", "create", "backup")
    api(client, token)  # last used
    cli("tokens", "revoke", "backup")
    out = cli("tokens", "list").output
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED", "LAST", "USED", "STATE", "MODERATOR"]
    assert re.search(
        r"ci-bot\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+active", out
    )
    assert re.search(r"backup\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+never\s+revoked \d{4}", out)
    hashes = session.scalars(select(ApiToken.token_hash)).all()
    assert not any(h in out for h in hashes)
    assert token not in out


def test_tokens_list_when_there_are_none(cli):
    assert "no API tokens" in cli("tokens", "list").output


def test_revoke_by_id_and_unknown_or_twice(cli, session):
    cli("tokens", "create", "ci-bot")
    token_id = session.scalars(select(ApiToken.id)).one()
    assert "revoked" in cli("tokens", "revoke", "--id", str(token_id)).output
    again = cli("tokens", "revoke", "ci-bot", ok=False)
    assert again.exit_code != 0
    assert "revoked already" in again.output
    unknown = cli("tokens", "revoke", "nobody", ok=False)
    assert unknown.exit_code != 0
    assert "no token named nobody" in unknown.output
    neither = cli("tokens", "revoke", ok=False)
    assert neither.exit_code != 0


def test_created_tokens_are_found_by_the_service(cli, session):
    token = cli("tokens", "create", "ci-bot").output.strip()
    found = accounts.find_api_token(session, token)
    assert found is not None
    assert found.created_at is not None
    duplicate = cli("tokens", "create", "ci-bot", ok=False)
    assert "exists already" in duplicate.output
