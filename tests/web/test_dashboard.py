"""The dashboard through Flask's test client, on SQLite and PostgreSQL: sign-in, deny by default,
CSRF on every POST, roles, the login throttle, the queue (tabs, filters, search, pages), single,
bulk and select-all actions, spam-and-block, undo, edit, the audit log, the lists, moderators."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from moderation import passwords
from moderation.app import create_app
from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import (
    ClassifierCount,
    Comment,
    ListEntry,
    ListKind,
    ModerationEvent,
    SpamCheck,
    Thread,
)
from moderation.services import accounts, build_context, comments
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread

S = CommentStatus
PASSWORD = "correct horse battery"
META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
ROW = re.compile(r'<li class="row" id="c(\d+)"')


class Dashboard:
    """A moderator's browser: signs in through the form, reads CSRF tokens off the pages."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def csrf(self, path="/moderate/login"):
        html = self.client.get(path).get_data(as_text=True)
        return META_CSRF.search(html).group(1)

    def login(self, email, password=PASSWORD, **kw):
        data = {"csrf_token": self.csrf(), "email": email, "password": password}
        response = self.client.post("/moderate/login", data=data, **kw)
        if response.status_code == 303:
            self.token = self.csrf("/moderate/audit")
        return response

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def post(self, path, data=None, follow=False, **kw):
        body = {"csrf_token": self.token, **(data or {})}
        return self.client.post(path, data=body, follow_redirects=follow, **kw)

    def rows(self, path):
        response = self.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    """Cheap argon2 parameters: the tests sign in often; what is tested is the flow."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                             parallelism=1))  # fmt: skip


@pytest.fixture
def admin(session, ctx):
    return accounts.add_moderator(session, ctx, "admin@example.org", "admin", PASSWORD)


@pytest.fixture
def moderator(session, ctx):
    return accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)


@pytest.fixture
def dash(client):
    return Dashboard(client)


@pytest.fixture
def as_admin(dash, admin):
    assert dash.login(admin.email).status_code == 303
    return dash


@pytest.fixture
def as_moderator(dash, moderator):
    assert dash.login(moderator.email).status_code == 303
    return dash


@pytest.fixture
def thread(session):
    return make_thread(session, title="Co-production")


def pending(session, thread, **kw):
    return make_comment(session, thread, status=S.pending, **kw)


def status_of(session, comment):
    session.expire_all()
    return session.get(Comment, comment.id).status


def audit(session, comment):
    session.expire_all()
    query = select(ModerationEvent).where(ModerationEvent.comment_id == comment.id)
    return list(session.scalars(query.order_by(ModerationEvent.id)))


def text(response):
    return response.get_data(as_text=True)


def dashboard_rules(app, method):
    return [r for r in app.url_map.iter_rules()
            if r.endpoint.startswith("dashboard.") and method in r.methods]  # fmt: skip


def fill(rule):
    values = {arg: "approve" if arg == "action" else "deactivate" if arg == "change" else 1
              for arg in rule.arguments}  # fmt: skip
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
        data={"csrf_token": dash.csrf(), "email": "ADMIN@example.org", "password": PASSWORD,
              "next": "/moderate/audit"},
    )  # fmt: skip
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
        data = {"csrf_token": dash.csrf(), "email": admin.email, "password": PASSWORD,
                "next": target}  # fmt: skip
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


def test_login_is_throttled_after_five_failures_per_ip(dash, admin):
    for i in range(5):
        assert dash.login(f"nobody{i}@example.org", "wrong").status_code == 401
    response = dash.login(admin.email)  # even the right password
    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in text(response)
    assert int(response.headers["Retry-After"]) > 800
    other_ip = dash.login(admin.email, environ_overrides={"REMOTE_ADDR": "192.0.2.50"})
    assert other_ip.status_code == 303


def test_login_is_throttled_after_five_failures_per_email(dash, admin):
    for i in range(5):
        ip = {"REMOTE_ADDR": f"192.0.2.{i + 1}"}
        assert dash.login(admin.email, "wrong", environ_overrides=ip).status_code == 401
    response = dash.login(admin.email, environ_overrides={"REMOTE_ADDR": "192.0.2.99"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in text(response)


def test_a_moderator_cannot_change_lists_or_moderators(as_moderator, session, ctx):
    assert as_moderator.get("/moderate/lists").status_code == 200  # may read them
    response = as_moderator.post("/moderate/lists", {"kind": "blocked_ip", "value": "192.0.2.1"})
    assert response.status_code == 403
    assert "Only admins may do this." in text(response)
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
    comment = pending(session, thread, author="Bob", email="bob@example.org", ip="192.0.2.7",
                      website="https://bob.example/", text="Hello *there*")  # fmt: skip
    session.add(SpamCheck(comment_id=comment.id, verdict=Verdict.unsure, score=1.5, submitted={},
                          signals=[{"name": "rules.links", "score": 1.5,
                                    "reason": "2 links (2 or more are held)"}]))  # fmt: skip
    make_comment(session, thread)
    session.flush()
    html = text(as_admin.get("/moderate/"))
    assert re.search(r'data-count="pending">1<', html)
    assert re.search(r'data-count="approved">1<', html)
    for fragment in ("<em>there</em>", "bob@example.org", "192.0.2.7", "https://bob.example/",
                     "Co-production", "https://blog.example.org/post/", "rules.links",
                     "2 links (2 or more are held)", "verdict-unsure"):  # fmt: skip
        assert fragment in html, fragment


def test_queue_shows_linkback_source_and_verification(as_admin, session, thread):
    pending(session, thread, kind=CommentKind.pingback, source="https://cites.example/post",
            verified=True)  # fmt: skip
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
    spam = make_comment(session, thread, status=S.spam, discarded=True, email="a+b@example.org",
                        ip="192.0.2.1")  # fmt: skip
    html = text(as_admin.get("/moderate/?status=spam&discarded=1&kind=comment&q=example"))
    assert ROW.findall(html) == [str(spam.id)]
    search = "/moderate/?status=spam&amp;kind=comment&amp;q={}&amp;discarded=1"
    assert f'href="{search.format("a%2Bb%40example.org")}" title="Search this e-mail"' in html
    assert f'href="{search.format("192.0.2.1")}" title="Search this IP"' in html
    only_thread = ("/moderate/?status=spam&amp;site=blog&amp;uri=%2Fpost%2F&amp;kind=comment"
                   "&amp;q=example&amp;discarded=1")  # fmt: skip
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
    comment = pending(session, thread, email="eve@example.org", ip="192.0.2.9", text="**Hi**",
                      kind=CommentKind.webmention, source="https://eve.example/",
                      verified=False)  # fmt: skip
    for verdict, reason in ((Verdict.unsure, "first check"), (Verdict.spam, "second check")):
        session.add(SpamCheck(comment_id=comment.id, verdict=verdict, score=2.0, submitted={},
                              signals=[{"name": "classifier", "score": 2.0, "reason": reason}]))  # fmt: skip
    by_email = make_comment(session, thread, email="eve@example.org", text="same e-mail")
    by_ip = make_comment(session, thread, status=S.spam, ip="192.0.2.9", email="z@x.example")
    session.flush()
    as_admin.post(f"/moderate/comments/{comment.id}/spam")
    html = text(as_admin.get(f"/moderate/comments/{comment.id}"))
    for fragment in ("<strong>Hi</strong>", "**Hi**", "first check", "second check",
                     f"#{by_email.id}", f"#{by_ip.id}", "https://eve.example/",
                     "no link to the page found", "moderator:admin@example.org",
                     "pending → spam"):  # fmt: skip
        assert fragment in html, fragment


def test_comment_page_404(as_admin):
    response = as_admin.get("/moderate/comments/999999")
    assert response.status_code == 404
    assert "no comment 999999" in text(response)


# --- actions -----------------------------------------------------------------------------------------


def test_single_action_moves_the_comment_and_is_audited(as_admin, session, thread):
    comment = pending(session, thread)
    response = as_admin.post(f"/moderate/comments/{comment.id}/approve",
                             {"next": "/moderate/?status=pending"})  # fmt: skip
    assert response.status_code == 303
    assert response.location == "/moderate/?status=pending"
    assert status_of(session, comment) is S.approved
    event = audit(session, comment)[-1]
    assert (event.action, event.actor, event.from_status) == (
        "approve", "moderator:admin@example.org", S.pending)  # fmt: skip
    assert "1 comment approved." in text(as_admin.get("/moderate/"))


def test_an_action_that_does_not_apply_says_so(as_admin, session, thread):
    comment = make_comment(session, thread)
    response = as_admin.post(f"/moderate/comments/{comment.id}/approve", follow=True)
    assert "Cannot approve a comment that is approved." in text(response)
    assert status_of(session, comment) is S.approved
    assert len(audit(session, comment)) == 0


def test_not_spam_approves_a_spam_comment(as_admin, session, thread):
    comment = make_comment(session, thread, status=S.spam)
    as_admin.post(f"/moderate/comments/{comment.id}/ham")
    assert status_of(session, comment) is S.approved
    assert audit(session, comment)[-1].action == "ham"


def test_bulk_action_on_ticked_comments_counts_the_skipped(as_admin, session, thread):
    a, b = pending(session, thread), pending(session, thread)
    done = make_comment(session, thread, status=S.deleted)
    response = as_admin.post("/moderate/bulk", {"action": "spam", "ids": [a.id, b.id, done.id]},
                             follow=True)  # fmt: skip
    assert "2 comments marked as spam. 1 comment skipped" in text(response)
    assert (status_of(session, a), status_of(session, b)) == (S.spam, S.spam)
    assert status_of(session, done) is S.deleted


def test_bulk_needs_a_selection(as_admin):
    response = as_admin.post("/moderate/bulk", {"action": "approve"}, follow=True)
    assert "Select some comments first." in text(response)


def test_select_all_matching_applies_to_every_match_up_to_the_shown_newest(
    as_admin, session, thread
):
    hits = [pending(session, thread, text=f"casino {i}") for i in range(4)]
    miss = pending(session, thread, text="a real comment")
    newest = max(c.id for c in [*hits, miss])
    late = pending(session, thread, text="casino late")
    data = {"action": "delete", "all_matching": "1", "status": "pending", "q": "casino",
            "max_id": str(newest), "ids": [hits[0].id]}  # fmt: skip
    response = as_admin.post("/moderate/bulk", data, follow=True)
    assert "4 comments deleted." in text(response)
    assert all(status_of(session, c) is S.deleted for c in hits)
    assert status_of(session, miss) is S.pending
    assert status_of(session, late) is S.pending


def test_spam_and_block_adds_the_entry_and_undo_takes_it_back(as_admin, session, thread):
    comment = pending(session, thread, ip="203.0.113.66")
    response = as_admin.post(f"/moderate/comments/{comment.id}/spam-and-block", {"block": "ip"},
                             follow=True)  # fmt: skip
    assert "1 comment marked as spam and its IP blocked." in text(response)
    entry = session.scalars(select(ListEntry)).one()
    assert (entry.kind, entry.value, entry.site) == (ListKind.blocked_ip, "203.0.113.66", None)
    assert status_of(session, comment) is S.spam
    as_admin.post("/moderate/undo")
    assert status_of(session, comment) is S.pending
    session.expire_all()
    assert session.scalars(select(ListEntry)).all() == []


def test_spam_and_block_without_an_ip_says_so(as_admin, session, thread):
    comment = pending(session, thread, ip="")
    response = as_admin.post(f"/moderate/comments/{comment.id}/spam-and-block", {"block": "ip"},
                             follow=True)  # fmt: skip
    assert "This comment has no IP address to block." in text(response)
    assert status_of(session, comment) is S.pending


def test_approve_and_trust(as_admin, session, thread):
    comment = pending(session, thread, author="Zoe", email="zoe@example.org")
    response = as_admin.post(f"/moderate/comments/{comment.id}/approve-and-trust", follow=True)
    assert "Its author is trusted now" in text(response)
    assert status_of(session, comment) is S.approved


def test_undo_reverses_the_last_batch_and_is_audited(as_admin, session, thread):
    a, b = pending(session, thread), make_comment(session, thread)
    as_admin.post("/moderate/bulk", {"action": "delete", "ids": [a.id, b.id]})
    page = text(as_admin.get("/moderate/"))
    assert "Last action: 2 comments deleted." in page
    response = as_admin.post("/moderate/undo", {"next": "/moderate/?status=deleted"})
    assert response.location == "/moderate/?status=deleted"
    assert (status_of(session, a), status_of(session, b)) == (S.pending, S.approved)
    assert [(e.action, e.reason) for e in audit(session, b)] == [
        ("delete", ""), ("restore", "undo"), ("approve", "undo")]  # fmt: skip
    as_admin.post("/moderate/undo")  # undoing the undo deletes them again
    assert (status_of(session, a), status_of(session, b)) == (S.deleted, S.deleted)


def test_undo_with_nothing_to_undo(as_admin):
    response = as_admin.post("/moderate/undo", follow=True)
    assert "There is nothing to undo." in text(response)


def test_edit_rerenders_and_is_audited(as_admin, session, thread):
    comment = make_comment(session, thread, text="tpyo")
    version = thread.version
    response = as_admin.post(f"/moderate/comments/{comment.id}/edit", {"text": "*typo*"},
                             follow=True)  # fmt: skip
    assert "The comment was saved." in text(response)
    session.expire_all()
    edited = session.get(Comment, comment.id)
    assert (edited.text, edited.html) == ("*typo*", "<p><em>typo</em></p>")
    assert session.get(Thread, thread.id).version == version + 1
    assert audit(session, comment)[-1].action == "edit"
    empty = as_admin.post(f"/moderate/comments/{comment.id}/edit", {"text": " "}, follow=True)
    assert "The text is empty." in text(empty)


# --- audit log, lists, moderators --------------------------------------------------------------------


def test_audit_page_lists_filters_and_pages(as_admin, session, thread, moderator):
    a, b = pending(session, thread), pending(session, thread)
    as_admin.post(f"/moderate/comments/{a.id}/approve")
    as_admin.post(f"/moderate/comments/{b.id}/spam")
    html = text(as_admin.get("/moderate/audit"))
    assert html.index(f"#{b.id}") < html.index(f"#{a.id}")  # newest first
    assert "pending → spam" in html
    assert "moderator:admin@example.org" in html
    only_a = text(as_admin.get(f"/moderate/audit?comment={a.id}"))
    assert f"#{a.id}" in only_a
    assert f"#{b.id}<" not in only_a
    none = text(as_admin.get(f"/moderate/audit?moderator={moderator.id}"))
    assert "No events." in none
    first = text(as_admin.get("/moderate/audit?limit=1"))
    assert 'rel="next"' in first
    assert as_admin.get("/moderate/audit?comment=x").status_code == 400


def test_admin_adds_and_removes_list_entries(as_admin, session):
    response = as_admin.post("/moderate/lists", {"kind": "blocked_domain", "value": "*.Spam.Example",
                                                 "site": "blog", "note": "casino"}, follow=True)  # fmt: skip
    assert "Added to blocked domains." in text(response)
    entry = session.scalars(select(ListEntry)).one()
    assert (entry.value, entry.site, entry.created_by) == (
        "spam.example", "blog", "moderator:admin@example.org")  # fmt: skip
    assert "spam.example" in text(as_admin.get("/moderate/lists"))
    as_admin.post(f"/moderate/lists/{entry.id}/delete")
    session.expire_all()
    assert session.scalars(select(ListEntry)).all() == []


def test_a_bad_list_entry_shows_the_message_in_the_page(as_admin, session):
    response = as_admin.post("/moderate/lists", {"kind": "blocked_ip", "value": "10.0.0.300"})
    assert response.status_code == 400
    html = text(response)
    assert "not an IP or CIDR: &#39;10.0.0.300&#39;" in html
    assert 'value="10.0.0.300"' in html  # kept in the form
    assert session.scalars(select(ListEntry)).all() == []
    assert as_admin.post("/moderate/lists", {"kind": "nope", "value": "x"}).status_code == 400


def test_admin_adds_and_deactivates_moderators(as_admin, session, client, app):
    response = as_admin.post("/moderate/moderators", {"email": "New@Example.org",
                                                      "role": "moderator", "password": PASSWORD},
                             follow=True)  # fmt: skip
    assert "new@example.org can sign in now (moderator)." in text(response)
    new = accounts.authenticate(session, app.extensions["moderation.context"], "new@example.org",
                                PASSWORD)  # fmt: skip
    assert new is not None
    response = as_admin.post(f"/moderate/moderators/{new.id}/deactivate", follow=True)
    assert "new@example.org is deactivated." in text(response)
    short = as_admin.post("/moderate/moderators", {"email": "x@example.org", "role": "moderator",
                                                   "password": "short"}, follow=True)  # fmt: skip
    assert "A password needs at least 10 characters." in text(short)


def test_admin_cannot_deactivate_themselves(as_admin, admin):
    response = as_admin.post(f"/moderate/moderators/{admin.id}/deactivate", follow=True)
    assert "You cannot deactivate yourself." in text(response)


def test_huge_ids_are_not_found_rather_than_errors(as_admin, session, thread):
    huge = 2**70
    assert as_admin.get(f"/moderate/comments/{huge}").status_code == 404
    response = as_admin.post(f"/moderate/comments/{huge}/approve", follow=True)
    assert f"No comment {huge}." in text(response)
    assert as_admin.get(f"/moderate/?cursor={huge}").status_code == 400
    response = as_admin.post(
        "/moderate/bulk", {"action": "approve", "ids": [str(huge)]}, follow=True
    )
    assert "1 comment skipped" in text(response)


def test_actions_with_the_production_hooks_teach_the_classifier(tmp_path, database, clock):
    """The real context: rules, learning from decisions, the outbox and notifications."""
    settings = make_settings(tmp_path, **{"sites.blog.moderation": "all", "guard.flood_seconds": 0,
                                          "spam.classifier": False})  # fmt: skip
    ctx = build_context(settings)
    ctx.clock = clock
    app = create_app(settings, database=database, context=ctx)
    app.config["TESTING"] = True
    with database.unit_of_work() as session:
        accounts.add_moderator(session, ctx, "admin@example.org", "admin", PASSWORD)
        for i in range(3):
            new = comments.NewComment(site="blog", uri="/p/", text=f"Buy cheap pills {i}",
                                      author=f"Spammer {i}", email=f"s{i}@example.org")  # fmt: skip
            comments.submit_comment(session, ctx, new, comments.ClientInfo(ip="192.0.2.1"))
    dash = Dashboard(app.test_client())
    assert dash.login("admin@example.org").status_code == 303
    data = {"action": "spam", "all_matching": "1", "status": "pending", "q": "pills",
            "max_id": "999"}  # fmt: skip
    assert "3 comments marked as spam." in text(dash.post("/moderate/bulk", data, follow=True))
    with database.unit_of_work(write=False) as session:
        learned = session.scalars(select(Comment.learned)).all()
        assert learned == ["spam"] * 3
        assert session.scalar(select(func.count()).select_from(ClassifierCount)) > 1
    assert "3 comments restored" in text(dash.post("/moderate/undo", follow=True))
    with database.unit_of_work(write=False) as session:
        assert set(session.scalars(select(Comment.status))) == {S.pending}
