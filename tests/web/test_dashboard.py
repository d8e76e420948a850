"""The dashboard's pages through Flask's test client, on SQLite and PostgreSQL: sign-in, deny by
default, CSRF on every POST, roles, the login throttle, the queue (tabs, filters, search, pages) and
the comment page; the actions are in test_dashboard_actions.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind
from moderation.models import ListEntry, SpamCheck
from moderation.services import accounts
from moderation.web import auth
from tests.factories import make_comment, make_thread
from tests.web.dashboard_helpers import PASSWORD, ROW, Dashboard, S, pending, status_of, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


def dashboard_rules(app, method):
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("dashboard.") and method in r.methods
    ]


def fill(rule):
    values = {
        arg: "approve" if arg == "action" else "deactivate" if arg == "change" else 1
        for arg in rule.arguments
    }
    return rule.build(values)[1]


# --- sign-in, deny by default, CSRF, roles --------------------------------------------------------


def test_every_dashboard_page_redirects_to_login_when_signed_out(app, dash):
    rules = [r for r in dashboard_rules(app, "GET") if r.endpoint != "dashboard.login"]
    assert len(rules) >= 5
    for rule in rules:
        response = dash.get(fill(rule))
        assert response.status_code == 303, rule
        assert response.location.startswith("/moderate/login?next="), rule


def test_every_dashboard_post_needs_a_csrf_token(app, as_admin):
    rules = dashboard_rules(app, "POST")
    assert len(rules) >= 10
    for rule in rules:
        response = as_admin.client.post(fill(rule), data={"action": "approve", "ids": "1"})
        assert response.status_code == 400, rule
        assert "form had expired" in text(response)


def test_posts_with_a_token_but_signed_out_go_to_login(app, dash, session, thread):
    comment = pending(session, thread)
    dash.token = dash.csrf()
    response = dash.post(f"/moderate/comments/{comment.id}/approve")
    assert response.status_code == 303
    assert response.location.startswith("/moderate/login")
    assert status_of(session, comment) is S.pending


def test_login_then_logout(dash, admin, session):
    response = dash.client.post(
        "/moderate/login",
        data={
            "csrf_token": dash.csrf(),
            "email": "ADMIN@example.org",
            "password": PASSWORD,
            "next": "/moderate/audit",
        },
    )
    assert response.status_code == 303
    assert response.location == "/moderate/audit"
    page = dash.get("/moderate/")
    assert page.status_code == 200
    assert "admin@example.org" in text(page)
    session.expire_all()
    assert session.get(type(admin), admin.id).last_login_at is not None
    dash.token = dash.csrf("/moderate/")
    out = dash.post("/moderate/logout", follow=True)
    assert "You are signed out." in text(out)
    assert dash.get("/moderate/").status_code == 303


def test_login_never_redirects_off_site(app, admin):
    for target in ("https://evil.example/", "//evil.example/x", "/api/v1/comments"):
        dash = Dashboard(app.test_client())
        data = {
            "csrf_token": dash.csrf(),
            "email": admin.email,
            "password": PASSWORD,
            "next": target,
        }
        response = dash.client.post("/moderate/login", data=data)
        assert response.location == "/moderate/", target


def test_the_login_page_sends_a_signed_in_moderator_on(as_admin):
    response = as_admin.get("/moderate/login?next=/moderate/audit")
    assert (response.status_code, response.location) == (303, "/moderate/audit")


def test_wrong_password_shows_a_message(dash, admin):
    response = dash.login(admin.email, "not the password")
    assert response.status_code == 401
    assert "Wrong e-mail address or password." in text(response)
    assert dash.get("/moderate/").status_code == 303


def test_a_deactivated_moderator_is_signed_out_and_cannot_sign_in(
    as_moderator, admin, moderator, session, ctx
):
    accounts.set_active(session, moderator.id, False, by=admin.id)
    assert as_moderator.get("/moderate/").status_code == 303
    assert as_moderator.login(moderator.email).status_code == 401


def test_login_is_throttled_per_ip(dash, admin):
    for i in range(auth.IP_LIMIT.amount):
        assert dash.login(f"nobody{i}@example.org", "wrong").status_code == 401
    response = dash.login(admin.email)  # even the right password
    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in text(response)
    assert int(response.headers["Retry-After"]) > 800
    other_ip = dash.login(admin.email, environ_overrides={"REMOTE_ADDR": "192.0.2.50"})
    assert other_ip.status_code == 303


def test_failures_for_an_email_from_other_ips_do_not_lock_it_out(dash, admin):
    """Finding 8: five wrong passwords for an address used to lock out its moderator."""
    for i in range(5):
        ip = {"REMOTE_ADDR": f"192.0.2.{i + 1}"}
        assert dash.login(admin.email, "wrong", environ_overrides=ip).status_code == 401
    response = dash.login(admin.email, environ_overrides={"REMOTE_ADDR": "192.0.2.99"})
    assert response.status_code == 303


def test_a_moderator_cannot_change_lists_or_moderators(as_moderator, session, ctx):
    assert as_moderator.get("/moderate/lists").status_code == 200  # may read them
    response = as_moderator.post("/moderate/lists", {"kind": "blocked_ip", "value": "192.0.2.1"})
    assert response.status_code == 403
    assert "Only admins may change the block and moderation lists." in text(response)
    assert session.scalars(select(ListEntry)).all() == []
    assert as_moderator.get("/moderate/moderators").status_code == 403
    new = {"email": "x@example.org", "role": "admin", "password": PASSWORD}
    assert as_moderator.post("/moderate/moderators", new).status_code == 403
    assert 'href="/moderate/moderators"' not in text(as_moderator.get("/moderate/"))


def test_pages_carry_security_headers(as_admin):
    response = as_admin.get("/moderate/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.request.headers.get("Cookie", "")
    assert "moderation_session" in cookie


# --- the queue ---------------------------------------------------------------------------------------


def test_queue_shows_tabs_with_counts_and_each_row(as_admin, session, thread):
    comment = pending(
        session,
        thread,
        author="Bob",
        email="bob@example.org",
        ip="192.0.2.7",
        website="https://bob.example/",
        text="Hello *there*",
    )
    session.add(
        SpamCheck(
            comment_id=comment.id,
            verdict=Verdict.unsure,
            score=1.5,
            submitted={},
            signals=[
                {"name": "rules.links", "score": 1.5, "reason": "2 links (2 or more are held)"}
            ],
        )
    )
    make_comment(session, thread)
    session.flush()
    html = text(as_admin.get("/moderate/"))
    assert re.search(r'data-count="pending">1<', html)
    assert re.search(r'data-count="approved">1<', html)
    for fragment in (
        "<em>there</em>",
        "bob@example.org",
        "192.0.2.7",
        "https://bob.example/",
        "Co-production",
        "https://blog.example.org/post/",
        "rules.links",
        "2 links (2 or more are held)",
        "verdict-unsure",
    ):
        assert fragment in html, fragment


def test_queue_shows_linkback_source_and_verification(as_admin, session, thread):
    pending(
        session,
        thread,
        kind=CommentKind.pingback,
        source="https://cites.example/post",
        verified=True,
    )
    html = text(as_admin.get("/moderate/"))
    assert "https://cites.example/post" in html
    assert "verified: links here" in html


def test_queue_filters_and_search(as_admin, session, thread):
    other_thread = make_thread(session, uri="/other/")
    other_site = make_thread(session, site="other", uri="/post/")
    a = pending(session, thread, text="Cheap PILLS here")
    b = pending(session, other_thread, author="Carol", kind=CommentKind.trackback)
    c = pending(session, other_site, email="Dan@Example.net")
    assert as_admin.rows("/moderate/") == [c.id, b.id, a.id]
    assert as_admin.rows("/moderate/?site=blog") == [b.id, a.id]
    assert as_admin.rows("/moderate/?site=blog&uri=/other/") == [b.id]
    assert as_admin.rows("/moderate/?kind=trackback") == [b.id]
    assert as_admin.rows("/moderate/?q=pills") == [a.id]
    assert as_admin.rows("/moderate/?q=CAROL") == [b.id]
    assert as_admin.rows("/moderate/?q=dan@example") == [c.id]
    assert as_admin.rows("/moderate/?q=100%25") == []
    assert as_admin.rows("/moderate/?status=approved") == []


def test_queue_row_links_keep_the_filter(as_admin, session, thread):
    """Each row's search, thread and action links are built by concatenation: they must equal
    what `queue_url` and `comment_url` build, filter kept."""
    spam = make_comment(
        session, thread, status=S.spam, discarded=True, email="a+b@example.org", ip="192.0.2.1"
    )
    html = text(as_admin.get("/moderate/?status=spam&discarded=1&kind=comment&q=example"))
    assert ROW.findall(html) == [str(spam.id)]
    search = "/moderate/?status=spam&amp;kind=comment&amp;q={}&amp;discarded=1"
    assert f'href="{search.format("a%2Bb%40example.org")}" title="Search this e-mail"' in html
    assert f'href="{search.format("192.0.2.1")}" title="Search this IP"' in html
    only_thread = (
        "/moderate/?status=spam&amp;site=blog&amp;uri=%2Fpost%2F&amp;kind=comment"
        "&amp;q=example&amp;discarded=1"
    )
    assert f'href="{only_thread}" title="Only this thread"' in html
    assert f'formaction="/moderate/comments/{spam.id}/ham" data-action="ham"' in html
    assert f'href="/moderate/comments/{spam.id}#edit"' in html


def test_queue_rejects_a_bad_filter_with_a_page(as_admin):
    response = as_admin.get("/moderate/?status=bogus")
    assert response.status_code == 400
    assert "unknown status" in text(response)


def test_queue_keyset_pages(as_admin, session, thread):
    made = [pending(session, thread, text=f"c{i}").id for i in range(5)]
    first = text(as_admin.get("/moderate/?limit=2"))
    assert [int(i) for i in ROW.findall(first)] == made[::-1][:2]
    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert f"cursor={made[3]}" in older
    assert as_admin.rows(older) == made[::-1][2:4]


def test_spam_tab_hides_discards_until_asked(as_admin, session, thread):
    spam = make_comment(session, thread, status=S.spam)
    gone = make_comment(session, thread, status=S.spam, discarded=True)
    assert as_admin.rows("/moderate/?status=spam") == [spam.id]
    assert as_admin.rows("/moderate/?status=spam&discarded=1") == [gone.id, spam.id]
    assert "Show discarded" in text(as_admin.get("/moderate/?status=spam"))


def test_comment_page_shows_everything_about_it(as_admin, session, thread):
    comment = pending(
        session,
        thread,
        email="eve@example.org",
        ip="192.0.2.9",
        text="**Hi**",
        kind=CommentKind.webmention,
        source="https://eve.example/",
        verified=False,
    )
    for verdict, reason in ((Verdict.unsure, "first check"), (Verdict.spam, "second check")):
        session.add(
            SpamCheck(
                comment_id=comment.id,
                verdict=verdict,
                score=2.0,
                submitted={},
                signals=[{"name": "classifier", "score": 2.0, "reason": reason}],
            )
        )
    by_email = make_comment(session, thread, email="eve@example.org", text="same e-mail")
    by_ip = make_comment(session, thread, status=S.spam, ip="192.0.2.9", email="z@x.example")
    session.flush()
    as_admin.post(f"/moderate/comments/{comment.id}/spam")
    html = text(as_admin.get(f"/moderate/comments/{comment.id}"))
    for fragment in (
        "<strong>Hi</strong>",
        "**Hi**",
        "first check",
        "second check",
        f"#{by_email.id}",
        f"#{by_ip.id}",
        "https://eve.example/",
        "no link to the page found",
        "moderator:admin@example.org",
        "pending → spam",
    ):
        assert fragment in html, fragment


def test_comment_page_404(as_admin):
    response = as_admin.get("/moderate/comments/999999")
    assert response.status_code == 404
    assert "no comment 999999" in text(response)
