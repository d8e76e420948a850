"""Moderators per site, on SQLite and PostgreSQL: a moderator listed for ``blog`` sees and acts on
``blog``'s comments only (every tab, search, tab counts); another site's comment answers 404 on
its page and to every action (a bulk holding one is refused whole); admins, and moderators with no
listed site, see every site; ``moderation moderators add --site``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.errors import InvalidInput
from moderation.models import Moderator, ModeratorSite
from moderation.services import accounts
from tests.cli.conftest import cli  # noqa: F401  (the CLI's fixture, for the --site test)
from tests.factories import make_comment, make_thread
from tests.web.dashboard_helpers import PASSWORD, Dashboard, S, audit, status_of, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)

STATUSES = (S.pending, S.approved, S.spam, S.deleted)


@pytest.fixture
def blog_only(session, ctx, moderator, settings):
    accounts.set_sites(session, moderator.id, ["blog"], settings.sites)
    session.commit()
    return moderator


@pytest.fixture
def comments(session):
    """Per status, a comment on ``blog`` and one on ``other``, all saying "marmalade"."""
    blog = make_thread(session, site="blog", uri="/post/")
    other = make_thread(session, site="other", uri="/post/")
    out = {}
    for status in STATUSES:
        out[status] = (
            make_comment(session, blog, status=status, text=f"blog marmalade {status.value}"),
            make_comment(session, other, status=status, text=f"other marmalade {status.value}"),
        )
    session.commit()
    return out


def test_sites_of(session, ctx, admin, moderator, settings):
    assert accounts.sites_of(session, moderator) is None  # no rows: every site, as before
    assert accounts.sites_of(session, admin) is None
    accounts.set_sites(session, moderator.id, ["other", "blog"], settings.sites)
    assert accounts.sites_of(session, moderator) == frozenset({"blog", "other"})
    with pytest.raises(InvalidInput):
        accounts.set_sites(session, moderator.id, ["nope"], settings.sites)
    assert accounts.listed_sites(session, moderator.id) == ["blog", "other"]


def test_a_site_moderator_sees_only_their_site_in_every_tab_and_search(dash, blog_only, comments):
    assert dash.login(blog_only.email).status_code == 303
    for status, (mine, _theirs) in comments.items():
        assert dash.rows(f"/moderate/?status={status.value}") == [mine.id]
        found = dash.rows(f"/moderate/?status={status.value}&q=marmalade")
        assert found == [mine.id]
        # asking for the other site by name shows nothing either
        assert dash.rows(f"/moderate/?status={status.value}&site=other") == []
    page = text(dash.get("/moderate/?status=pending&q=marmalade"))
    assert "other marmalade" not in page


def test_tab_counts_are_scoped(dash, blog_only, session, comments):
    other = make_thread(session, site="other", uri="/more/")
    for _ in range(3):
        make_comment(session, other, status=S.pending)
    session.commit()
    assert dash.login(blog_only.email).status_code == 303
    page = text(dash.get("/moderate/?status=approved"))
    # one comment per tab on blog; the other site's four pending are not counted
    for status in STATUSES:
        assert f'data-count="{status.value}">1</span>' in page, status


def test_another_sites_comment_is_404_everywhere(dash, blog_only, session, comments):
    """Its page is 404; an action on it is answered exactly as one on a comment that does not
    exist (the dashboard's refused POSTs go back with a message): nothing says it exists."""
    assert dash.login(blog_only.email).status_code == 303
    mine, theirs = comments[S.pending]
    assert dash.get(f"/moderate/comments/{theirs.id}").status_code == 404
    assert dash.get(f"/moderate/comments/{mine.id}").status_code == 200
    missing = 999_999
    for path in ("approve", "spam", "delete", "approve-and-trust", "block-identity", "edit"):
        data = {"text": "rewritten", "next": "/moderate/"}
        answer = dash.post(f"/moderate/comments/{theirs.id}/{path}", data)
        assert answer.status_code == 303, path
        assert answer.location == "/moderate/"
        assert f"No comment {theirs.id}." in text(dash.get("/moderate/")), path
        gone = dash.post(f"/moderate/comments/{missing}/{path}", data)
        assert (gone.status_code, gone.location) == (answer.status_code, answer.location)
        assert f"No comment {missing}." in text(dash.get("/moderate/"))
    assert status_of(session, theirs) is S.pending
    assert "rewritten" not in session.get(type(theirs), theirs.id).text
    assert audit(session, theirs) == []
    # a bulk holding the other site's comment acts on none of them
    data = {"action": "approve", "ids": [mine.id, theirs.id], "next": "/moderate/"}
    assert dash.post("/moderate/bulk", data).status_code == 303
    assert "not there" in text(dash.get("/moderate/"))
    assert status_of(session, mine) is S.pending
    assert status_of(session, theirs) is S.pending
    # their own site's comment: acted on
    assert dash.post(f"/moderate/comments/{mine.id}/approve").status_code == 303
    assert status_of(session, mine) is S.approved


def test_select_all_matching_acts_on_their_site_only(dash, blog_only, session, comments):
    assert dash.login(blog_only.email).status_code == 303
    mine, theirs = comments[S.pending]
    data = {"action": "approve", "all_matching": "1", "status": "pending", "max_id": "999999"}
    assert dash.post("/moderate/bulk", data).status_code == 303
    assert status_of(session, mine) is S.approved
    assert status_of(session, theirs) is S.pending


@pytest.mark.parametrize("who", ["admin", "unlisted"])
def test_admins_and_unlisted_moderators_see_every_site(dash, admin, moderator, comments, who):
    email = admin.email if who == "admin" else moderator.email
    assert dash.login(email).status_code == 303
    for status, (mine, theirs) in comments.items():
        assert dash.rows(f"/moderate/?status={status.value}") == [theirs.id, mine.id]
    assert dash.get(f"/moderate/comments/{comments[S.pending][1].id}").status_code == 200
    page = text(dash.get("/moderate/?status=approved"))
    for status in STATUSES:
        assert f'data-count="{status.value}">2</span>' in page, status


def test_cli_add_with_sites(cli, session):  # noqa: F811
    out = cli(
        "moderators",
        "add",
        "a@example.org",
        "--site",
        "demo",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "for the sites demo" in out.output
    bad = cli(
        "moderators",
        "add",
        "b@example.org",
        "--site",
        "nope",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        ok=False,
    )
    assert bad.exit_code != 0
    assert "unknown site nope" in bad.output
    session.expire_all()
    found = session.scalar(select(Moderator).where(Moderator.email == "a@example.org"))
    assert found is not None
    rows = session.scalars(select(ModeratorSite.site).where(ModeratorSite.moderator_id == found.id))
    assert list(rows) == ["demo"]
    assert session.scalar(select(Moderator).where(Moderator.email == "b@example.org")) is None


# --- the moderation API ----------------------------------------------------------------------------


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_moderators_api_token_sees_their_sites_only(client, session, ctx, blog_only, comments):
    _, token = accounts.create_api_token(session, ctx, "blog-script", moderator_id=blog_only.id)
    _, everything = accounts.create_api_token(session, ctx, "ci")
    session.commit()
    mine, theirs = comments[S.pending]
    listed = client.get("/api/v1/moderation/comments?status=pending", headers=_bearer(token))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.get_json()["comments"]] == [mine.id]
    answer = client.post(f"/api/v1/moderation/comments/{theirs.id}/approve", headers=_bearer(token))
    assert answer.status_code == 404
    assert status_of(session, theirs) is S.pending
    answer = client.post(f"/api/v1/moderation/comments/{mine.id}/approve", headers=_bearer(token))
    assert answer.status_code == 200
    # a token of no moderator sees every site, as before
    listed = client.get("/api/v1/moderation/comments?status=pending", headers=_bearer(everything))
    assert [c["id"] for c in listed.get_json()["comments"]] == [theirs.id]


def test_a_deactivated_moderators_token_is_refused(
    client, session, ctx, admin, blog_only, comments
):
    _, token = accounts.create_api_token(session, ctx, "blog-script", moderator_id=blog_only.id)
    accounts.set_active(session, blog_only.id, False, by=admin.id)
    session.commit()
    listed = client.get("/api/v1/moderation/comments?status=pending", headers=_bearer(token))
    assert listed.status_code == 401
    mine = comments[S.pending][0]
    answer = client.post(f"/api/v1/moderation/comments/{mine.id}/approve", headers=_bearer(token))
    assert answer.status_code == 401
    assert status_of(session, mine) is S.pending


def test_a_site_moderator_is_offered_only_their_sites_and_only_themself(
    app, dash, blog_only, admin, comments
):
    """The queue's site filter lists their sites, the audit log's moderator filter only them:
    which other sites exist, and who moderates them, is an admin's business."""
    assert dash.login(blog_only.email).status_code == 303
    queue = dash.get("/moderate/").get_data(as_text=True)
    assert '<option value="blog"' in queue
    assert '<option value="other"' not in queue
    log = dash.get("/moderate/audit").get_data(as_text=True)
    assert blog_only.email in log
    assert admin.email not in log
    admins = Dashboard(app.test_client())
    assert admins.login(admin.email).status_code == 303
    assert '<option value="other"' in admins.get("/moderate/").get_data(as_text=True)
    assert blog_only.email in admins.get("/moderate/audit").get_data(as_text=True)
