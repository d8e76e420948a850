"""Moderators per site, the admin's side, on SQLite and PostgreSQL: the Moderators page shows and
edits each moderator's sites (admins only, CSRF-protected, an unknown site or an admin's sites
refused with a message), adding a moderator with sites; the audit log shows a site moderator their
sites' rows only; a deactivated or deleted moderator's API token is 401;
``moderation tokens create --moderator`` and ``tokens list``'s MODERATOR column."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from moderation.errors import InvalidInput, NotFound
from moderation.models import ApiToken, ModerationEvent, Moderator
from moderation.services import accounts
from moderation.services import queue as queue_service
from tests.cli.conftest import cli  # noqa: F401  (the CLI's fixture, for the tokens tests)
from tests.factories import make_comment, make_thread
from tests.web.dashboard_helpers import PASSWORD, Dashboard, S, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


@pytest.fixture
def two_sites(session):
    """A pending comment on ``blog`` and one on ``other``."""
    blog = make_comment(session, make_thread(session, site="blog"), status=S.pending, text="jam")
    other = make_comment(session, make_thread(session, site="other"), status=S.pending, text="jam")
    session.commit()
    return blog, other


def _sites_cell(html: str, email: str) -> str:
    """The Sites cell of `email`'s row on the Moderators page."""
    row = re.search(rf"<tr[^>]*>\s*<td[^>]*>{re.escape(email)}.*?</tr>", html, re.S)
    assert row, email
    cell = re.search(r'data-label="Sites"[^>]*>(.*?)</td>', row.group(0), re.S)
    assert cell
    return cell.group(1)


def _ticked(cell: str) -> list[str]:
    return re.findall(r'value="([^"]+)" checked', cell)


def test_the_page_shows_every_moderators_sites(as_admin, session, ctx, admin, moderator, settings):
    listed = accounts.add_moderator(session, ctx, "blogger@example.org", "moderator", PASSWORD)
    accounts.set_sites(session, listed.id, ["blog"], settings.sites)
    session.commit()
    html = text(as_admin.get("/moderate/moderators"))
    assert "all sites" in _sites_cell(html, admin.email)
    assert "Save sites" not in _sites_cell(html, admin.email)  # an admin's are not edited
    unlisted = _sites_cell(html, moderator.email)
    assert '<span class="site-list">all sites</span>' in unlisted
    assert _ticked(unlisted) == []
    assert re.findall(r'name="site" value="([^"]+)"', unlisted) == ["blog", "other"]
    blogger = _sites_cell(html, listed.email)
    assert '<span class="site-list">blog</span>' in blogger
    assert _ticked(blogger) == ["blog"]


def test_an_admin_edits_a_moderators_sites_and_their_queue_follows(
    as_admin, app, session, moderator, two_sites
):
    blog, other = two_sites
    theirs = Dashboard(app.test_client())
    assert theirs.login(moderator.email).status_code == 303
    assert theirs.rows("/moderate/?status=pending") == [other.id, blog.id]
    answer = as_admin.post(f"/moderate/moderators/{moderator.id}/sites", {"site": ["blog"]})
    assert (answer.status_code, answer.location) == (303, "/moderate/moderators")
    assert "mod@example.org moderates the site blog now." in text(as_admin.get(answer.location))
    assert accounts.listed_sites(session, moderator.id) == ["blog"]
    # the same session, its next page: the other site's comment is gone
    assert theirs.rows("/moderate/?status=pending") == [blog.id]
    assert theirs.get(f"/moderate/comments/{other.id}").status_code == 404
    # none ticked: every site again
    as_admin.post(f"/moderate/moderators/{moderator.id}/sites", {})
    assert accounts.listed_sites(session, moderator.id) == []
    assert theirs.rows("/moderate/?status=pending") == [other.id, blog.id]


def test_bad_site_edits_are_refused_with_a_message(as_admin, session, admin, moderator, settings):
    accounts.set_sites(session, moderator.id, ["other"], settings.sites)
    session.commit()
    cases = [
        (moderator.id, {"site": ["blog", "nope"]}, "Unknown site nope; known: blog, other."),
        (admin.id, {"site": ["blog"]}, "An admin moderates every site: sites are for moderators."),
        (999_999, {"site": ["blog"]}, "No moderator 999999."),
    ]
    for moderator_id, data, message in cases:
        data = {**data, "next": "/moderate/moderators"}
        answer = as_admin.post(f"/moderate/moderators/{moderator_id}/sites", data)
        assert (answer.status_code, answer.location) == (303, "/moderate/moderators"), message
        assert message in text(as_admin.get("/moderate/moderators")), message
    assert accounts.listed_sites(session, moderator.id) == ["other"]  # unchanged
    assert accounts.listed_sites(session, admin.id) == []


def test_only_admins_edit_sites_and_only_with_the_csrf_token(
    as_moderator, app, admin, moderator, session
):
    path = f"/moderate/moderators/{moderator.id}/sites"
    assert as_moderator.post(path, {"site": ["blog"]}).status_code == 403
    anonymous = Dashboard(app.test_client())
    anonymous.token = anonymous.csrf()  # (the sign-in page's token: no one is signed in)
    answer = anonymous.post(path, {"site": ["blog"]})
    assert answer.status_code in (302, 303)
    assert "/moderate/login" in answer.location
    bare = Dashboard(app.test_client())
    assert bare.login(admin.email).status_code == 303
    no_token = bare.client.post(path, data={"site": ["blog"]})
    assert no_token.status_code == 400
    assert "The form had expired" in text(no_token)
    assert accounts.listed_sites(session, moderator.id) == []


def test_an_admin_adds_a_moderator_for_some_sites(as_admin, session):
    new = {"email": "Docs@Example.org", "role": "moderator", "password": PASSWORD, "site": ["blog"]}
    answer = as_admin.post("/moderate/moderators", new, follow=True)
    assert "docs@example.org can sign in now (moderator, the site blog)." in text(answer)
    found = accounts.find_moderator(session, "docs@example.org")
    assert found is not None
    assert accounts.listed_sites(session, found.id) == ["blog"]
    plain = {"email": "all@example.org", "role": "moderator", "password": PASSWORD}
    answer = as_admin.post("/moderate/moderators", plain, follow=True)
    assert "all@example.org can sign in now (moderator)." in text(answer)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"role": "moderator", "site": ["blog", "elsewhere"]}, "Unknown site elsewhere"),
        ({"role": "admin", "site": ["blog"]}, "An admin moderates every site"),
    ],
)
def test_adding_with_bad_sites_adds_nobody(as_admin, session, form, message):
    data = {"email": "x@example.org", "password": PASSWORD, "next": "/moderate/moderators", **form}
    answer = as_admin.post("/moderate/moderators", data)
    assert (answer.status_code, answer.location) == (303, "/moderate/moderators")
    assert message in text(as_admin.get("/moderate/moderators"))
    session.expire_all()
    assert accounts.find_moderator(session, "x@example.org") is None


# --- the audit log ---------------------------------------------------------------------------------


@pytest.fixture
def acted(as_admin, session, two_sites):
    """The admin approved both comments, then the ``other`` one's comment was purged (its audit
    rows stay, with no comment)."""
    blog, other = two_sites
    purged = make_comment(
        session, make_thread(session, site="blog", uri="/gone/"), status=S.pending
    )
    session.commit()
    for comment in (blog, other, purged):
        assert as_admin.post(f"/moderate/comments/{comment.id}/approve").status_code == 303
    session.execute(delete(type(purged)).where(type(purged).id == purged.id))
    session.commit()
    return blog, other


def _event_ids(session, comment):
    query = select(ModerationEvent.id).where(ModerationEvent.comment_id == comment.id)
    return list(session.scalars(query))


def test_audit_log_service_filters_by_site(session, acted):
    blog, other = acted
    everything = queue_service.audit_log(session).events
    assert {e.comment_id for e in everything} == {blog.id, other.id, None}
    mine = queue_service.audit_log(session, sites=frozenset({"blog"})).events
    assert [e.comment_id for e in mine] == [blog.id]
    assert queue_service.audit_log(session, sites=frozenset()).events == []
    both = queue_service.audit_log(session, sites=frozenset({"blog", "other"})).events
    assert [e.comment_id for e in both] == [other.id, blog.id]  # newest first
    # keyset pages keep the filter
    first = queue_service.audit_log(session, sites=frozenset({"blog", "other"}), limit=1)
    assert [e.comment_id for e in first.events] == [other.id]
    rest = queue_service.audit_log(
        session, sites=frozenset({"blog", "other"}), limit=1, cursor=first.next
    )
    assert [e.comment_id for e in rest.events] == [blog.id]


def test_a_site_moderator_sees_their_sites_audit_rows_only(
    app, as_admin, session, moderator, settings, acted
):
    blog, other = acted
    accounts.set_sites(session, moderator.id, ["blog"], settings.sites)
    session.commit()
    theirs = Dashboard(app.test_client())
    assert theirs.login(moderator.email).status_code == 303
    html = text(theirs.get("/moderate/audit"))
    assert f"#{blog.id}<" in html
    assert f"#{other.id}<" not in html
    assert html.count("pending → approved") == 1  # not the purged comment's row either
    asked = text(theirs.get(f"/moderate/audit?comment={other.id}"))
    assert f"#{other.id}<" not in asked
    assert "No events." in asked
    admins = text(as_admin.get("/moderate/audit"))
    assert f"#{blog.id}<" in admins
    assert f"#{other.id}<" in admins
    assert admins.count("pending → approved") == 3


# --- API tokens ------------------------------------------------------------------------------------


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _listing(client, token):
    return client.get("/api/v1/moderation/comments?status=pending", headers=_bearer(token))


def test_a_deactivated_or_deleted_moderators_token_is_401(
    client, session, ctx, admin, moderator, two_sites
):
    _, token = accounts.create_api_token(session, ctx, "script", moderator_id=moderator.id)
    session.commit()
    assert _listing(client, token).status_code == 200
    accounts.set_active(session, moderator.id, False, by=admin.id)
    session.commit()
    refused = _listing(client, token)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "unauthorized"
    answer = client.post(
        f"/api/v1/moderation/comments/{two_sites[0].id}/approve", headers=_bearer(token)
    )
    assert answer.status_code == 401
    accounts.set_active(session, moderator.id, True, by=admin.id)
    session.commit()
    assert _listing(client, token).status_code == 200  # back with the account
    session.execute(delete(Moderator).where(Moderator.id == moderator.id))
    session.commit()
    assert _listing(client, token).status_code == 401
    assert session.scalars(select(ApiToken)).all() == []  # (the account took its tokens along)


def test_a_token_is_not_made_for_a_deactivated_moderator(session, ctx, admin, moderator):
    accounts.set_active(session, moderator.id, False, by=admin.id)
    with pytest.raises(InvalidInput, match="deactivated"):
        accounts.create_api_token(session, ctx, "late", moderator_id=moderator.id)
    with pytest.raises(NotFound):
        accounts.create_api_token(session, ctx, "nobody", moderator_id=999_999)


def test_cli_tokens_create_for_a_moderator(
    cli,  # noqa: F811
    client,
    session,
    ctx,
    admin,
    moderator,
    settings,
    two_sites,
):
    blog, _other = two_sites
    accounts.set_sites(session, moderator.id, ["blog"], settings.sites)
    session.commit()
    token = cli("tokens", "create", "blog-bot", "--moderator", "Mod@Example.org").output.strip()
    assert token.startswith("mod_")
    cli("tokens", "create", "ci")
    listed = _listing(client, token)
    assert [c["id"] for c in listed.get_json()["comments"]] == [blog.id]
    out = cli("tokens", "list").output
    lines = out.strip().splitlines()
    assert lines[0].split()[-1] == "MODERATOR"
    assert re.search(r"blog-bot\s+.*\s+active\s+mod@example\.org$", out, re.M)
    assert re.search(r"\bci\s+.*\s+active\s+-$", out, re.M)
    unknown = cli("tokens", "create", "x", "--moderator", "nobody@example.org", ok=False)
    assert unknown.exit_code != 0
    assert "no moderator nobody@example.org" in unknown.output
    accounts.set_active(session, moderator.id, False, by=admin.id)
    session.commit()
    late = cli("tokens", "create", "y", "--moderator", "mod@example.org", ok=False)
    assert late.exit_code != 0
    assert "the moderator is deactivated" in late.output
    assert _listing(client, token).status_code == 401
    names = set(session.scalars(select(ApiToken.name)))
    assert names == {"blog-bot", "ci"}
