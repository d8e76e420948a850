"""Readers sign in (issue 20) in real headless Chromium: the widget's button opens the popup, the
popup goes through a real OpenID Provider on loopback (`oidc-provider-mock`), hands the token back
with postMessage and closes; the reader posts under the verified name, reloads and stays signed
in, and signs out."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

with warnings.catch_warnings():  # the mock imports Authlib's deprecated JOSE module
    warnings.simplefilter("ignore")
    from oidc_provider_mock import User, run_server_in_thread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
]

CLAIMS = {"name": "Alice Verified", "email": "alice@example.net", "email_verified": True}


@pytest.fixture
def idp(monkeypatch) -> Iterator[str]:
    """A real OpenID Provider on loopback; its issuer URL."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        users = [User(sub="alice-sub", claims=CLAIMS)]
        with run_server_in_thread(port=0, require_nonce=True, user_claims=users) as server:
            yield f"http://localhost:{server.server_port}"


@pytest.fixture
def signin_site(live_server, idp) -> Iterator[None]:
    """The blog offers sign-in with the provider (optional), for this test only."""
    sites = copy.deepcopy(live_server.overrides["sites"])
    sites["blog"]["identity"] = "optional"
    provider = {"kind": "oidc", "name": "Example ID", "issuer": idp, "client_id": "moderation"}
    with live_server.settings_override(
        sites=sites, **{"auth.providers": {"idp": {**provider, "client_secret": "s3cret"}}}
    ):
        yield


@pytest.mark.usefixtures("signin_site")
def test_sign_in_through_the_popup_post_reload_and_sign_out(reader, unique_uri):
    page = reader.open(unique_uri)
    form = page.locator("#comments > form")
    expect(form.get_by_label("Name")).to_be_visible()
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Sign in with Example ID").click()
    popup = opened.value
    with popup.expect_event("close"):  # (registered first: the popup may close at once)
        popup.get_by_role("button", name="alice-sub").click()  # the provider's page: pick the user
    auth = page.locator(".mod-auth")
    expect(auth).to_contain_text("Signed in as Alice Verified")
    expect(form.get_by_label("Name")).to_be_hidden()
    token = page.evaluate("() => localStorage.getItem('moderation:signin:blog')")
    assert token
    assert "Alice Verified" in token

    form.get_by_label("Comment").fill("Hello, signed in.")
    form.get_by_role("button", name="Post comment").click()
    art = page.locator(".mod-c").first
    expect(art.locator(".mod-name")).to_have_text("Alice Verified")
    expect(art.locator(".mod-ver")).to_contain_text("verified")

    reader.reload()
    expect(page.locator(".mod-auth")).to_contain_text("Signed in as Alice Verified")
    expect(page.locator(".mod-c").first.locator(".mod-ver")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in with Example ID")).to_be_visible()
    expect(page.locator("#comments > form").get_by_label("Name")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('moderation:signin:blog')") is None


@pytest.mark.usefixtures("signin_site")
def test_a_signed_in_reader_picks_notifications_and_a_token_revoked_elsewhere_is_dropped(
    reader, unique_uri, live_server
):
    import json

    page = reader.open(unique_uri)
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Sign in with Example ID").click()
    with opened.value.expect_event("close"):
        opened.value.get_by_role("button", name="alice-sub").click()
    form = page.locator("#comments > form")
    expect(page.locator(".mod-auth")).to_contain_text("Signed in as Alice Verified")
    expect(form.get_by_label("Notify me")).to_be_enabled()  # no e-mail field, still a choice

    stored = json.loads(page.evaluate("() => localStorage.getItem('moderation:signin:blog')"))
    status, _, _ = live_server.api(
        "POST", "/api/v1/me/logout", headers={"Authorization": f"Bearer {stored['token']}"}
    )
    assert status == 204  # signed out from elsewhere: every token of the reader dies
    reader.reload()
    expect(page.get_by_role("button", name="Sign in with Example ID")).to_be_visible()
    expect(page.locator(".mod-auth")).not_to_contain_text("Signed in")
    assert page.evaluate("() => localStorage.getItem('moderation:signin:blog')") is None
