"""The one-click links in moderator mails, followed in a browser: a GET only asks, the POST acts
once; expired, tampered, foreign and outdated links are refused with a page that says why."""

import re

import pytest
from sqlalchemy import select, update

from moderation.app import create_app
from moderation.domain.states import Action, CommentStatus
from moderation.models import Comment, ModerationEvent, Moderator, ModeratorSite
from moderation.services import build_context, comments, notify
from moderation.services import spam as spam_service
from moderation.services.moderation import Actor, apply_action
from moderation.services.spam_filter import prob
from moderation.web import current
from tests.conftest import make_settings

MOD = "mod@example.org"
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0")
LINK = re.compile(r"https://comments\.example\.org(/moderate/act/[A-Za-z0-9_.\-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def live(tmp_path, clock, database, smtp):
    """The app with the production context, every comment held, mail to one moderator."""
    settings = make_settings(
        tmp_path,
        **smtp.settings(),
        **{"mail.moderators": [MOD], "sites.blog.moderation": "all", "spam.classifier": False},
    )
    app = create_app(settings, database=database, context=build_context(settings, clock=clock))
    app.config["TESTING"] = True
    return app, current.parts(app).context


class Browser:
    """A browser on the service's HTTPS origin. It sends the same-origin Referer on the form's POST
    that the pages' Referrer-Policy allows (Flask-WTF requires one over HTTPS)."""

    origin = "https://comments.example.org"

    def __init__(self, client):
        self.client = client

    def get(self, path):
        return self.client.get(path, base_url=self.origin)

    def post(self, path, csrf=None, referer=True):
        headers = {"Referer": self.origin + path} if referer else {}
        data = {"csrf_token": csrf} if csrf else {}
        return self.client.post(path, data=data, headers=headers, base_url=self.origin)


@pytest.fixture
def browser(live):
    return Browser(live[0].test_client())


def held_comment(database, live, clock, smtp, text="A thoughtful comment."):
    """Submit a comment; return its id and the paths of the links in its mail, by action."""
    clock.advance(60)
    before = len(smtp.messages)
    new = comments.NewComment(
        site="blog",
        uri="/post/",
        text=text,
        author="Ann <i>Lee</i>",
        email=f"{len(smtp.messages)}@example.org",
    )
    with database.read() as session:
        draft = comments.prepare_comment(session, live[1], new, BROWSER)
    with database.write() as tx:
        comment_id = comments.store_comment(tx, live[1], draft).id
    (mail,) = smtp.messages[before:]
    paths = LINK.findall(mail.text)
    return comment_id, dict(zip(["approve", "spam", "delete"], paths, strict=True))


def status_and_events(session, comment_id):
    session.expire_all()
    events = session.scalars(
        select(ModerationEvent).where(ModerationEvent.comment_id == comment_id)
    ).all()
    return session.get(Comment, comment_id).status, [(e.action, e.actor) for e in events]


def confirm(browser, path):
    """GET the link; return the response and the form's CSRF token (None when refused)."""
    page = browser.get(path)
    found = CSRF.search(page.text)
    return page, found.group(1) if found else None


def test_get_shows_a_confirmation_and_changes_nothing(
    database, session, live, browser, clock, smtp
):
    comment_id, links = held_comment(database, live, clock, smtp)
    for _ in range(2):  # a mail scanner, then the moderator
        page, csrf = confirm(browser, links["approve"])
        assert page.status_code == 200
        assert page.mimetype == "text/html"
        assert csrf
        assert '<form method="post">' in page.text
        assert "Ann &lt;i&gt;Lee&lt;/i&gt;" in page.text
        assert "https://blog.example.org/post/" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "same-origin"
    assert status_and_events(session, comment_id) == (CommentStatus.pending, [("create", "system")])


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("approve", CommentStatus.approved),
        ("spam", CommentStatus.spam),
        ("delete", CommentStatus.deleted),
    ],
)
def test_post_acts_once_with_the_email_link_actor(
    database, session, live, browser, clock, smtp, action, status
):
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links[action])
    done = browser.post(links[action], csrf)
    assert done.status_code == 200
    assert done.mimetype == "text/html"
    assert status_and_events(session, comment_id) == (
        status,
        [("create", "system"), (action, f"email-link:{MOD}")],
    )
    again = browser.post(links[action], csrf)
    assert again.status_code == 410
    assert "This link was already used" in again.text
    other = next(path for name, path in links.items() if name != action)
    assert browser.get(other).status_code == 410  # the mail's other links are spent with it
    assert status_and_events(session, comment_id)[1][-1] == (action, f"email-link:{MOD}")


def test_post_by_a_known_moderator_is_recorded_as_theirs(
    database, session, live, browser, clock, smtp
):
    moderator = Moderator(email=MOD, password_hash="x")
    session.add(moderator)
    session.flush()  # (the setup session commits what a flush writes)
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links["approve"])
    assert browser.post(links["approve"], csrf).status_code == 200
    event = session.scalars(
        select(ModerationEvent).where(ModerationEvent.action == "approve")
    ).one()
    assert (event.comment_id, event.moderator_id) == (comment_id, moderator.id)


def test_post_without_csrf_token_is_refused(database, session, live, browser, clock, smtp):
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links["approve"])
    assert browser.post(links["approve"]).status_code == 400
    assert browser.post(links["approve"], csrf, referer=False).status_code == 400
    assert status_and_events(session, comment_id)[0] is CommentStatus.pending


def test_expired_link_is_refused_with_410(
    database, session, live, browser, clock, smtp, monkeypatch
):
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links["approve"])
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(
        itsdangerous.timed,
        "time",
        type("T", (), {"time": staticmethod(lambda: real() + 8 * 86400)}),
    )
    for response in (browser.get(links["approve"]), browser.post(links["approve"], csrf)):
        assert response.status_code == 410
        assert "This link has expired" in response.text
    assert status_and_events(session, comment_id)[0] is CommentStatus.pending


def test_tampered_link_is_refused_with_403(database, session, live, browser, clock, smtp):
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links["approve"])
    path = links["approve"]
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for response in (
        browser.get(tampered),
        browser.post(tampered, csrf),
        browser.get("/moderate/act/garbage"),
    ):
        assert response.status_code == 403
        assert "This link is not valid" in response.text
    assert status_and_events(session, comment_id)[0] is CommentStatus.pending


def test_a_link_for_one_comment_cannot_act_on_another(
    database, session, live, browser, clock, smtp
):
    first, first_links = held_comment(database, live, clock, smtp)
    second, second_links = held_comment(database, live, clock, smtp, text="Another one.")
    _, csrf = confirm(browser, first_links["delete"])
    # The second comment's payload with the first comment's timestamp and signature.
    payload = second_links["delete"].rsplit("/", 1)[1].split(".")[0]
    forged = "/moderate/act/" + ".".join([payload, *first_links["delete"].split(".")[1:]])
    assert browser.post(forged, csrf).status_code == 403
    assert browser.post(first_links["delete"], csrf).status_code == 200
    assert status_and_events(session, first)[0] is CommentStatus.deleted
    assert status_and_events(session, second)[0] is CommentStatus.pending


def test_link_for_a_comment_moderated_since_is_refused_with_409(
    database, session, live, browser, clock, smtp
):
    comment_id, links = held_comment(database, live, clock, smtp)
    _, csrf = confirm(browser, links["spam"])
    with database.write() as work:  # another moderator, on the dashboard
        apply_action(
            work,
            live[1],
            work.get(Comment, comment_id),
            Action.approve,
            Actor("moderator:other@example.org"),
        )
    for response in (browser.get(links["spam"]), browser.post(links["spam"], csrf)):
        assert response.status_code == 409
        assert "moderated in the meantime" in response.text
        assert "it is now approved" in response.text
    assert status_and_events(session, comment_id)[0] is CommentStatus.approved


def test_link_of_a_removed_moderator_or_purged_comment_is_refused(
    database, session, live, browser, clock, smtp
):
    ctx = live[1]
    mail = {"nonce": "n1", "status": "pending", "to": "former@example.org"}
    comment_id, _ = held_comment(database, live, clock, smtp)
    former = notify.sign_link(ctx, comment_id, Action.approve, mail)
    assert browser.get(f"/moderate/act/{former}").status_code == 403
    gone = notify.sign_link(ctx, 10**9, Action.approve, {**mail, "to": MOD})
    response = browser.get(f"/moderate/act/{gone}")
    assert response.status_code == 404
    assert "This comment no longer exists" in response.text


def test_link_of_a_moderator_scoped_away_from_the_site_or_deactivated_is_refused(
    database, session, live, browser, clock, smtp
):
    moderator = Moderator(email=MOD, password_hash="x")
    session.add(moderator)
    session.flush()  # (the setup session commits what a flush writes)
    session.add(ModeratorSite(moderator_id=moderator.id, site="blog"))
    session.flush()
    comment_id, links = held_comment(database, live, clock, smtp)
    page, csrf = confirm(browser, links["approve"])
    assert page.status_code == 200
    session.execute(  # now a moderator of the other site only
        update(ModeratorSite).where(ModeratorSite.moderator_id == moderator.id).values(site="other")
    )
    for response in (browser.get(links["approve"]), browser.post(links["approve"], csrf)):
        assert response.status_code == 404  # as for a comment that does not exist
        assert "This comment no longer exists" in response.text
        assert "csrf_token" not in response.text
    moderator.active = False
    session.flush()
    for response in (browser.get(links["spam"]), browser.post(links["spam"], csrf)):
        assert response.status_code == 403
        assert "This link is not valid" in response.text
    assert status_and_events(session, comment_id) == (CommentStatus.pending, [("create", "system")])


def test_comment_posted_through_the_widget_is_mailed_after_the_request_commits(
    session, live, browser, clock, smtp
):
    clock.advance(60)
    response = (
        live[0]
        .test_client()
        .post(
            "/api/v1/comments",
            json={"site": "blog", "uri": "/post/", "text": "Held, please.", "author": "Bo"},
            headers={"Origin": "https://blog.example.org"},
        )
    )
    assert response.status_code == 202
    (mail,) = smtp.messages
    assert mail.message["Subject"] == "[blog] New comment awaiting moderation on /post/"
    path = LINK.findall(mail.text)[0]
    _, csrf = confirm(browser, path)
    assert browser.post(path, csrf).status_code == 200
    comment_id = response.get_json()["comment"]["id"]
    assert status_and_events(session, comment_id)[0] is CommentStatus.approved


# --- security headers and links from comment data (finding 10) -----------------------------------


def assert_page_security_headers(page):
    """What the dashboard sends (moderation.web.security): a moderator's browser showing a
    stranger's text, reached by a link that is itself a credential."""
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "base-uri 'none'" in csp
    assert "form-action 'self'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"


def test_every_email_link_page_sends_the_dashboard_s_security_headers(
    database, session, live, browser, clock, smtp
):
    _, links = held_comment(database, live, clock, smtp)
    page, csrf = confirm(browser, links["approve"])
    assert_page_security_headers(page)  # confirm
    done = browser.post(links["approve"], csrf)
    assert_page_security_headers(done)  # done
    assert_page_security_headers(browser.post(links["approve"], csrf))  # refused: used
    assert_page_security_headers(browser.get("/moderate/act/forged"))  # refused: invalid
    _, other = held_comment(database, live, clock, smtp)
    assert_page_security_headers(browser.post(other["spam"]))  # refused: no CSRF token


def test_the_pages_need_no_inline_style_the_policy_would_block(
    database, session, live, browser, clock, smtp
):
    _, links = held_comment(database, live, clock, smtp)
    page, _ = confirm(browser, links["approve"])
    assert "<style" not in page.text
    assert " style=" not in page.text
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert stylesheet
    assert browser.get(stylesheet.group(1)).status_code == 200


HOSTILE_LINKS = (
    "See [this](//evil.example/phish) and [that](\\\\evil.example/x), "
    "[more](/\\evil.example/y), [js](javascript:alert(1)) and [rel](/moderate/queue)."
)


def test_links_from_comment_data_are_never_protocol_relative_or_javascript(
    database, session, live, browser, clock, smtp
):
    _, links = held_comment(database, live, clock, smtp, text=HOSTILE_LINKS)
    page, _ = confirm(browser, links["approve"])
    hrefs = re.findall(r'href="([^"]*)"', page.text)
    for href in hrefs:
        assert not re.match(r"\s*(//|\\\\|/\\|javascript:)", href, re.IGNORECASE), href
    assert "evil.example" not in " ".join(hrefs)


def test_comment_html_stored_before_the_rule_is_cleaned_again_on_the_page(
    database, session, live, browser, clock, smtp
):
    comment_id, links = held_comment(database, live, clock, smtp)
    row = session.get(Comment, comment_id)
    row.html = (
        '<p><a href="//evil.example/a">a</a> <a href="javascript:alert(1)">b</a>'
        '<script>alert(2)</script><img src=x onerror="alert(3)"></p>'
    )
    session.flush()
    page, _ = confirm(browser, links["approve"])
    assert "evil.example" not in page.text
    assert "javascript:" not in page.text
    assert "<script>alert(2)" not in page.text
    assert "onerror" not in page.text


def test_an_approval_that_raises_the_spam_cut_off_says_so(tmp_path, database, session, clock, smtp):
    """The comment was held; the moderators have since taught the filter that its words are spam,
    so approving it now lifts the site's spam cut-off, and the page says so."""
    settings = make_settings(
        tmp_path, **smtp.settings(), **{"mail.moderators": [MOD], "sites.blog.moderation": "all"}
    )
    app = create_app(settings, database=database, context=build_context(settings, clock=clock))
    app.config["TESTING"] = True
    ctx = current.parts(app).context
    browser = Browser(app.test_client())
    session.add(Moderator(email=MOD, password_hash="x"))
    session.flush()
    pitch = "Quillon ferrets make lovely pets, and quillon ferret cages are on offer"
    comment_id, links = held_comment(database, (app, ctx), clock, smtp, text=pitch)
    shipped = spam_service.base_model().cutoffs.spam
    statuses = []
    for i in range(4):  # the same pitch again, marked spam by a moderator while it is held
        new = comments.NewComment(
            site="blog", uri="/post/", text=f"{pitch} ({i})", author=f"Z{i}", email=f"z{i}@x.org"
        )
        clock.advance(60)
        with database.read() as read:
            draft = comments.prepare_comment(read, ctx, new, BROWSER)
        with database.write() as tx:
            other = tx.get(Comment, comments.store_comment(tx, ctx, draft).id)
            statuses.append(other.status)
            if other.status is CommentStatus.pending:
                apply_action(tx, ctx, other, Action.spam, Actor(f"moderator:{MOD}"))
    assert statuses[0] is CommentStatus.pending  # held, and marked spam
    assert CommentStatus.spam in statuses[1:]  # the filter learned: later copies are spam
    assert spam_service.site_cutoffs(session, "blog").spam == shipped
    _, csrf = confirm(browser, links["approve"])
    done = browser.post(links["approve"], csrf)
    assert done.status_code == 200
    now = spam_service.site_cutoffs(session, "blog").spam
    assert now > shipped
    flat = " ".join(done.text.split())
    assert f"The spam cut-off of blog rose from {prob(shipped)} to {prob(now)}" in flat
    assert "its Spam filter page lists it" in flat
    assert status_and_events(session, comment_id)[0] is CommentStatus.approved
