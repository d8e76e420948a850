"""Readers sign in (issue 20): the popup flow against a real OpenID Provider on loopback
(`oidc-provider-mock`, a real HTTP server in a thread), GitHub against a local fake of its three
endpoints over real HTTP, e-mail links through a real SMTP server, and what a reader token then
changes in the widget's API. The flow is driven as a browser would: our start answers a redirect,
an HTTP client fetches the provider's page and picks the user, the provider's redirect comes back
to our callback with the cookie our start set."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import itsdangerous
import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment, Reader, Subscription
from moderation.services import readers
from tests.conftest import SITE_URL, make_settings
from tests.fakes import github as fake_github

with warnings.catch_warnings():  # the mock imports Authlib's deprecated JOSE module
    warnings.simplefilter("ignore")
    from oidc_provider_mock import User, run_server_in_thread

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*")

PUBLIC = "https://comments.example.org"
MEMBERS_URL = "https://members.example.com"
ALICE = {"name": "Alice Verified", "email": "alice@example.net", "email_verified": True}
HANDOFF = re.compile(r'<script type="application/json" id="handoff">(.*?)</script>', re.S)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """Loopback traffic goes straight to the providers; the mock wants plain HTTP allowed."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    """A real OpenID Provider on loopback that requires a nonce; its issuer URL."""
    users = [User(sub="alice-sub", claims=ALICE), User(sub="bob-sub", claims={"name": "Bob"})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = run_server_in_thread(port=0, require_nonce=True, user_claims=users)
        with server as running:
            yield f"http://localhost:{running.server_port}"


@pytest.fixture
def github() -> Iterator[fake_github.FakeGitHub]:
    with fake_github.FakeGitHub() as fake:
        yield fake


@pytest.fixture
def settings(request, tmp_path, idp, smtp):
    providers = {
        "idp": {"kind": "oidc", "name": "Example ID", "issuer": idp, "client_id": "moderation"}
        | {"client_secret": "s3cret"},
        "mail": {"kind": "email", "name": "E-mail"},
    }
    extra = getattr(request, "param", {})
    return make_settings(
        tmp_path,
        **smtp.settings(),
        **{
            "auth.providers": providers,
            "sites.blog.identity": "optional",
            "sites.members": {
                "url": MEMBERS_URL,
                "origins": [MEMBERS_URL],
                "identity": "required",
                "moderation": "first-time",
            },
            **extra,
        },
    )


def start(client: Any, provider: str = "idp", site: str = "blog", origin: str = SITE_URL) -> Any:
    return client.get(
        f"{PUBLIC}/auth/{provider}/start", query_string={"site": site, "origin": origin}
    )


def at_provider(location: str, sub: str = "alice-sub") -> str:
    """What the reader does at the mock provider: open its page, pick the user. The callback URL."""
    with httpx.Client() as http:
        assert http.get(location).status_code == 200
        answer = http.post(location, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def handoff(page: Any) -> dict[str, str]:
    (data,) = HANDOFF.findall(page.get_data(as_text=True))
    return json.loads(data)


def sign_in(client: Any, site: str = "blog", origin: str = SITE_URL, sub: str = "alice-sub") -> str:
    """The whole popup flow; the reader token handed to the opener."""
    started = start(client, site=site, origin=origin)
    assert started.status_code == 302, started.get_data(as_text=True)
    page = client.get(at_provider(started.headers["Location"], sub))
    assert page.status_code == 200, page.get_data(as_text=True)
    return handoff(page)["token"]


def post(client: Any, token: str | None = None, site: str = "blog", **body: Any) -> Any:
    origin = MEMBERS_URL if site == "members" else SITE_URL
    headers = {"Origin": origin}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = {"site": site, "uri": "/post/", "text": "Signed words.", **body}
    return client.post("/api/v1/comments", json=data, headers=headers)


def me(client: Any, token: str, origin: str = SITE_URL) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}", "Origin": origin})


# --- the OpenID Connect flow ---------------------------------------------------------------------


def test_the_popup_signs_in_and_hands_the_token_to_exactly_the_opener_origin(client, session):
    started = start(client)
    assert started.status_code == 302
    location = started.headers["Location"]
    for part in ("state=", "nonce=", "code_challenge=", "code_challenge_method=S256"):
        assert part in location
    cookie = started.headers["Set-Cookie"]
    assert "Path=/auth/" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    page = client.get(at_provider(location))
    assert page.status_code == 200
    data = handoff(page)
    assert data["origin"] == SITE_URL
    assert data["name"] == "Alice Verified"
    csp = page.headers["Content-Security-Policy"]
    (script_nonce,) = re.findall(r"'nonce-([^']+)'", csp)
    assert f'<script nonce="{script_nonce}">' in page.get_data(as_text=True)
    assert "postMessage(msg, d.origin)" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    reader = session.scalars(select(Reader)).one()
    assert (reader.provider, reader.subject, reader.email) == ("idp", "alice-sub", ALICE["email"])
    assert reader.email_verified
    answer = me(client, data["token"])
    assert answer.status_code == 200
    assert answer.get_json() == {
        "provider": "idp",
        "name": "Alice Verified",
        "email_verified": True,
        "avatar": None,
        "profile": None,
    }


def test_a_foreign_origin_unknown_provider_or_anonymous_site_never_reaches_a_provider(client):
    foreign = start(client, origin="https://evil.example")
    assert foreign.status_code == 400
    assert "may not sign in here" in foreign.get_data(as_text=True)
    assert "Set-Cookie" not in foreign.headers
    assert start(client, provider="nope").status_code == 404
    assert start(client, site="other", origin="https://other.example.net").status_code == 400
    assert start(client, site="ghost").status_code == 400


def test_a_replayed_or_mismatched_state_is_refused(client):
    started = start(client)
    callback = at_provider(started.headers["Location"])
    assert client.get(callback).status_code == 200
    replay = client.get(callback)
    assert replay.status_code == 400
    assert "start again" in replay.get_data(as_text=True)
    started = start(client)  # a fresh flow, answered with another state
    callback = at_provider(started.headers["Location"])
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    refused = client.get(forged)
    assert refused.status_code == 400
    assert "does not match" in refused.get_data(as_text=True)


def test_a_callback_without_the_flow_cookie_is_refused(client, app):
    started = start(client)
    callback = at_provider(started.headers["Location"])
    other_browser = app.test_client()
    answer = other_browser.get(callback)
    assert answer.status_code == 400
    assert "another browser" in answer.get_data(as_text=True)


def test_an_id_token_with_another_nonce_is_refused(client, session):
    started = start(client)
    location = re.sub(r"nonce=[^&]+", "nonce=somebody-elses", started.headers["Location"])
    answer = client.get(at_provider(location))
    assert answer.status_code == 400
    assert "ID token is not valid" in answer.get_data(as_text=True)
    assert session.scalars(select(Reader)).first() is None


@pytest.mark.parametrize(
    "settings", [{"auth.providers.idp.issuer": "http://localhost:9"}], indirect=True
)
def test_a_provider_that_is_down_gets_a_clear_page_and_nothing_else_breaks(client):
    answer = start(client)
    assert answer.status_code == 502
    assert "could not be reached" in answer.get_data(as_text=True)
    assert post(client, author="Anon").status_code == 201  # anonymous posting goes on


# --- reader tokens ---------------------------------------------------------------------------------


def test_a_tampered_or_expired_token_is_401(client, monkeypatch, session, ctx):
    token = sign_in(client)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert me(client, tampered).status_code == 401
    assert post(client, tampered).status_code == 401
    real = itsdangerous.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.TimestampSigner,
        "get_timestamp",
        lambda self: int(time.time()) - 31 * 24 * 3600,
    )
    reader = session.scalars(select(Reader)).one()
    old = readers.reader_token(ctx, reader, "blog")  # minted 31 days ago
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", real)
    assert me(client, readers.reader_token(ctx, reader, "blog")).status_code == 200
    expired = me(client, old)
    assert expired.status_code == 401
    assert "expired" in expired.get_json()["error"]["message"]


def test_logout_revokes_every_token_of_the_reader(client):
    first, second = sign_in(client), sign_in(client)
    assert me(client, second).status_code == 200
    out = client.post(
        "/api/v1/me/logout", headers={"Authorization": f"Bearer {first}", "Origin": SITE_URL}
    )
    assert out.status_code == 204
    assert me(client, first).status_code == 401
    assert me(client, second).status_code == 401
    assert sign_in(client)
    assert me(client, sign_in(client)).status_code == 200


def test_a_token_of_one_site_is_refused_on_another(client):
    token = sign_in(client)  # for the blog
    answer = post(client, token, site="members")
    assert answer.status_code == 401
    assert "another site" in answer.get_json()["error"]["message"]
    assert me(client, token, origin=MEMBERS_URL).status_code == 403  # the origin check


def test_a_blocked_reader_cannot_post_and_its_token_is_refused(client, session):
    token = sign_in(client)
    reader = session.scalars(select(Reader)).one()
    readers.set_blocked(session, reader.id, True)
    session.commit()
    answer = post(client, token)
    assert answer.status_code == 403
    assert "blocked" in answer.get_json()["error"]["message"]
    assert me(client, token).status_code == 403
    blocked_again = client.get(
        at_provider(start(client).headers["Location"])
    )  # signing in again does not help
    assert blocked_again.status_code == 403


# --- what an identity changes -----------------------------------------------------------------------


def test_a_signed_in_comment_carries_the_identity_and_verified_true(client, session, ctx):
    token = sign_in(client)
    answer = post(client, token, author="Someone Else", email="typed@example.org", notify="replies")
    assert answer.status_code == 201
    body = answer.get_json()["comment"]
    assert body["author"] == "Alice Verified"
    assert body["verified"] is True
    comment = session.get(Comment, body["id"])
    assert comment.email == ALICE["email"]
    assert comment.reader_id is not None
    (sub,) = session.scalars(select(Subscription)).all()
    assert sub.email == ALICE["email"]
    assert sub.confirmed_at is not None
    ctx.clock.advance(60)  # (the flood rule)
    anonymous = post(client, author="Alice Verified", text="Another, typed.")
    thread = client.get(
        "/api/v1/threads/comments", query_string={"site": "blog", "uri": "/post/"}
    ).get_json()
    shown = {c["id"]: c for c in thread["comments"]}
    assert shown[body["id"]]["verified"] is True
    assert "verified" not in shown[anonymous.get_json()["comment"]["id"]]
    assert thread["thread"]["identity"] == "optional"
    assert {"id": "idp", "name": "Example ID", "kind": "oidc"} in thread["thread"]["providers"]


def test_required_identity_refuses_anonymous_posts_with_401(client):
    answer = post(client, site="members", author="Anon")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "sign_in_required"
    token = sign_in(client, site="members", origin=MEMBERS_URL)
    assert post(client, token, site="members").status_code == 202  # first-time: held


def test_first_time_policy_trusts_the_identity_not_a_typed_name(client, session, ctx):
    from moderation.domain.states import Action
    from moderation.services.moderation import SYSTEM, apply_action

    token = sign_in(client, site="members", origin=MEMBERS_URL)
    first = post(client, token, site="members")
    assert first.status_code == 202
    comment = session.get(Comment, first.get_json()["comment"]["id"])
    apply_action(session, ctx, comment, Action.approve, SYSTEM, "test")
    session.commit()
    ctx.clock.advance(60)
    again = post(client, token, site="members", text="Trusted now.")
    assert again.status_code == 201
    ctx.clock.advance(60)
    # someone typing Alice's name and address is not her: an anonymous post with them waits
    typed = client.post(
        "/api/v1/comments",
        json={"site": "other", "uri": "/ft/", "text": "Me too.", "author": "Alice Verified"}
        | {"email": ALICE["email"]},
        headers={"Origin": "https://other.example.net"},
    )
    assert typed.status_code == 202  # held: "other" is first-time, and this is no identity


def test_a_signed_in_reader_edits_and_deletes_beyond_the_anonymous_window(client, session, ctx):
    token = sign_in(client)
    other = sign_in(client, sub="bob-sub")
    posted = post(client, token).get_json()["comment"]["id"]
    ctx.clock.advance(3 * 24 * 3600)  # far beyond edit_window_seconds
    headers = {"Authorization": f"Bearer {token}", "Origin": SITE_URL}
    edited = client.patch(f"/api/v1/comments/{posted}", json={"text": "Edited."}, headers=headers)
    assert edited.status_code == 200
    assert "Edited." in edited.get_json()["html"]
    foreign = {"Authorization": f"Bearer {other}", "Origin": SITE_URL}
    assert client.delete(f"/api/v1/comments/{posted}", headers=foreign).status_code == 403
    ctx.clock.advance(31 * 24 * 3600)  # beyond signed_in_edit_days
    late = client.patch(f"/api/v1/comments/{posted}", json={"text": "Late."}, headers=headers)
    assert late.status_code == 403
    assert session.get(Comment, posted).status is CommentStatus.approved


def test_anonymous_posts_are_unchanged(client, session):
    answer = post(client, author="Anon", email="anon@example.org")
    assert answer.status_code == 201
    body = answer.get_json()
    assert "verified" not in body["comment"]
    assert body["edit_token"]
    assert session.get(Comment, body["comment"]["id"]).reader_id is None


# --- GitHub and e-mail --------------------------------------------------------------------------------


def test_github_flow_over_real_http(tmp_path, idp, smtp, database, ctx, github, session):
    from dataclasses import replace

    from moderation.app import create_app
    from moderation.services.tokens import Tokens

    settings = make_settings(
        tmp_path,
        **smtp.settings(),
        **{
            "sites.blog.identity": "optional",
            "auth.providers": {
                "gh": {
                    "kind": "github",
                    "name": "GitHub",
                    "client_id": fake_github.CLIENT_ID,
                    "client_secret": fake_github.CLIENT_SECRET,
                    "github_url": github.url,
                    "api_url": github.url,
                }
            },
        },
    )
    app = create_app(
        settings,
        database=database,
        context=replace(ctx, settings=settings, tokens=Tokens.from_settings(settings)),
    )
    client = app.test_client()
    started = start(client, provider="gh")
    assert started.status_code == 302
    with httpx.Client() as http:
        back = http.get(started.headers["Location"])
    assert back.status_code == 302
    page = client.get(back.headers["Location"])
    assert page.status_code == 200, page.get_data(as_text=True)
    token = handoff(page)["token"]
    assert github.requests == [
        "GET /login/oauth/authorize",
        "POST /login/oauth/access_token",
        "GET /user",
        "GET /user/emails",
    ]
    profile = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}", "Origin": SITE_URL}
    ).get_json()
    assert profile == {
        "provider": "gh",
        "name": "Octo Reader",
        "email_verified": True,
        "avatar": fake_github.USER["avatar_url"],
        "profile": fake_github.USER["html_url"],
    }
    reader = session.scalars(select(Reader)).one()
    assert (reader.subject, reader.email) == ("4242", "octo@example.net")
    posted = post(client, token).get_json()["comment"]
    assert posted["avatar"] == fake_github.USER["avatar_url"]
    assert posted["profile"] == fake_github.USER["html_url"]


def test_e_mail_sign_in_with_a_single_use_link(client, smtp, session):
    form = start(client, provider="mail")
    assert form.status_code == 200
    assert 'type="email"' in form.get_data(as_text=True)
    same_site = {"Sec-Fetch-Site": "same-origin"}
    waiting = client.post(
        f"{PUBLIC}/auth/mail/start",
        query_string={"site": "blog", "origin": SITE_URL},
        data={"email": "Carol@Example.net"},
        headers=same_site,
    )
    assert waiting.status_code == 200
    listen = handoff(waiting)
    assert listen["origin"] == SITE_URL
    assert listen["listen"]
    (mail,) = smtp.messages
    (path,) = re.findall(r"https://comments\.example\.org(/auth/mail/email/\S+)", mail.text)
    shown = client.get(f"{PUBLIC}{path}")
    assert shown.status_code == 200
    assert "carol@example.net" in shown.get_data(as_text=True)
    assert session.scalars(select(Reader)).first() is None  # a GET signs nobody in
    done = client.post(f"{PUBLIC}{path}", headers=same_site)
    assert done.status_code == 200
    data = handoff(done)
    assert data["wait"] == listen["listen"]
    assert data["origin"] == SITE_URL
    assert me(client, data["token"]).get_json()["email_verified"] is True
    assert client.post(f"{PUBLIC}{path}", headers=same_site).status_code == 410  # used
    cross = client.post(
        f"{PUBLIC}/auth/mail/start",
        query_string={"site": "blog", "origin": SITE_URL},
        data={"email": "x@example.net"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 400


@pytest.mark.usefixtures("fast_hashes")
def test_a_moderator_blocks_an_identity_from_the_comment_page(client, admin, dash, ctx):
    token = sign_in(client)
    posted = post(client, token).get_json()["comment"]["id"]
    assert dash.login("admin@example.org").status_code == 303
    page = dash.get(f"/moderate/comments/{posted}").get_data(as_text=True)
    assert "Block this identity" in page
    assert "via idp (alice-sub)" in page
    no_csrf = client.post(f"/moderate/comments/{posted}/block-identity")
    assert no_csrf.status_code == 400
    ctx.clock.advance(60)
    assert post(client, token, text="Still here.").status_code == 201
    done = dash.post(f"/moderate/comments/{posted}/block-identity", {"next": "/moderate/"})
    assert done.status_code == 303
    ctx.clock.advance(60)
    refused = post(client, token, text="Blocked now.")
    assert refused.status_code == 403
    assert "Unblock this identity" in dash.get(f"/moderate/comments/{posted}").get_data(
        as_text=True
    )
