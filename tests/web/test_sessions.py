"""The cookie session (`moderation.web.sessions`): nothing to open for a request without the cookie,
Flask's own behaviour for the dashboard's."""

import pytest

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


@pytest.fixture
def opened(app, monkeypatch):
    """A list that grows each time the app builds the session's signing serializer."""
    interface, calls = app.session_interface, []
    build = interface.get_signing_serializer

    def counting(flask_app):
        calls.append(1)
        return build(flask_app)

    monkeypatch.setattr(interface, "get_signing_serializer", counting)
    return calls


def test_an_api_post_opens_no_session_and_sets_no_cookie(client, opened):
    response = client.post("/api/v1/comments", json={"site": "blog", "uri": "/p/", "text": "hi"})
    assert response.status_code in (201, 202), response.get_json()
    assert opened == []
    assert "Set-Cookie" not in response.headers
    # Nothing read the session, so the answer does not depend on cookies (caches may share it).
    assert response.headers["Vary"] == "Origin"


def test_a_thread_read_through_flask_does_not_vary_on_cookies(client):
    client.post("/api/v1/comments", json={"site": "blog", "uri": "/p/", "text": "hi"})
    # An extra parameter is beyond the read fast path: Flask's view answers.
    response = client.get("/api/v1/threads/comments?site=blog&uri=/p/&unknown=1")
    assert response.status_code == 200
    assert response.headers["Vary"] == "Origin"  # as the fast path's answers


def test_the_dashboard_session_is_signed_read_back_and_cleared(dash, admin, client, opened):
    assert dash.login(admin.email).status_code == 303
    cookie = client.get_cookie("moderation_session")
    assert cookie is not None
    assert cookie.value
    assert opened  # the login's session was signed
    opened.clear()
    assert dash.get("/moderate/").status_code == 200  # and read back from the cookie
    assert opened
    assert dash.post("/moderate/logout").status_code in (302, 303)
    assert dash.get("/moderate/").status_code in (302, 303)  # signed out: back to the login
