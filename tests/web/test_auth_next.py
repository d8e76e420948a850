"""Finding 9 (part): the login page's ``next``: a control character is a 400 page (it used to be a
500 from a header with a line break), an off-site or non-dashboard target sends to the queue."""

from __future__ import annotations

import pytest

from tests.web.dashboard_helpers import PASSWORD, Dashboard, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)

BAD = [
    "/moderate/%0d%0aX:%20y",
    "/moderate/%0aSet-Cookie:%20a=b",
    "/moderate/%09x",
    "/moderate/%7f",
    "/moderate/%5C%5Cevil.example/",
]


@pytest.mark.parametrize("target", BAD)
def test_a_signed_in_moderator_with_a_bad_next_gets_400(as_admin, target):
    response = as_admin.get(f"/moderate/login?next={target}")
    assert response.status_code == 400
    assert "X:" not in response.headers.get("Location", "")
    assert "not a page of the dashboard" in text(response)


@pytest.mark.parametrize("target", BAD)
def test_the_login_form_with_a_bad_next_gets_400(dash, target):
    assert dash.get(f"/moderate/login?next={target}").status_code == 400


def test_signing_in_with_a_bad_next_gets_400_and_no_session(app, admin):
    dash = Dashboard(app.test_client())
    data = {
        "csrf_token": dash.csrf(),
        "email": admin.email,
        "password": PASSWORD,
        "next": "/moderate/\r\nX: y",
    }
    response = dash.client.post("/moderate/login", data=data)
    assert response.status_code == 400
    assert dash.get("/moderate/").status_code == 303


def test_a_dashboard_form_with_a_bad_next_goes_back_to_the_queue(as_admin):
    response = as_admin.post("/moderate/undo", {"next": "/moderate/\r\nX: y"})
    assert (response.status_code, response.location) == (303, "/moderate/")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/api/v1/"])
def test_off_site_targets_still_send_to_the_queue(as_admin, target):
    response = as_admin.get("/moderate/login", query_string={"next": target})
    assert (response.status_code, response.location) == (303, "/moderate/")


def test_a_good_next_with_a_query_is_kept(as_admin):
    response = as_admin.get("/moderate/login", query_string={"next": "/moderate/?q=caf%C3%A9"})
    assert (response.status_code, response.location) == (303, "/moderate/?q=caf%C3%A9")
