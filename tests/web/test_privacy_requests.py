"""Readers' own personal-data requests (``/privacy/``), with a real SMTP server: the request page
answers the same for any address and mails only known ones; the mailed link's GET only asks, its
POST downloads the export or erases, once; expired, tampered and cross-site requests are refused
with a page, and requests are counted per address and per IP."""

import json
import re

import itsdangerous.timed
import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment, ModerationEvent, OutboxEntry, UsedToken
from moderation.services import privacy
from moderation.services.tokens import MODERATE_LINK, PRIVACY_REQUEST
from moderation.web import current
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread

ORIGIN = "https://comments.example.org"
LINK = re.compile(r"https://comments\.example\.org(/privacy/[A-Za-z0-9_.\-]+)")
SENT = "If comments are kept for this address, we have sent it a link."
ANN = "ann@example.org"


@pytest.fixture
def settings(request, tmp_path, smtp):
    """Mail to the test SMTP server; the blog has a title; other settings per test."""
    return make_settings(
        tmp_path,
        **smtp.settings(),
        **{"sites.blog.title": "Ann's Blog", **getattr(request, "param", {})},
    )


@pytest.fixture
def ann(session):
    """Ann's comments: two on the blog (one with a reply by Bob), one on the other site."""
    thread = make_thread(session)
    first = make_comment(
        session,
        thread,
        author="Ann Lee",
        email=ANN,
        website="https://ann.example.net",
        ip="198.51.100.7",
        user_agent="AnnBrowser/1.0",
        text="Ann's first words.",
    )
    make_comment(session, thread, author="Bob", email="bob@example.org", parent_id=first.id)
    second = make_comment(session, thread, author="Ann Lee", email=ANN, text="Ann again.")
    other = make_comment(
        session, make_thread(session, site="other", uri="/x/"), author="Ann", email=ANN
    )
    return [first.id, second.id, other.id]


def ask(client, email=ANN, action="export", erase="anonymise", ip="203.0.113.9", **headers):
    """POST the request form from the service's own page."""
    return client.post(
        "/privacy/",
        data={"site": "blog", "email": email, "action": action, "erase": erase},
        headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", **headers},
        base_url=ORIGIN,
        environ_base={"REMOTE_ADDR": ip},
    )


def mailed_link(smtp, before=0):
    """The path of the link in the one mail sent since `before`."""
    (mail,) = smtp.messages[before:]
    (path,) = set(LINK.findall(mail.text))
    assert f"{ORIGIN}{path}" in mail.html
    return path


def request_link(client, smtp, **kw):
    before = len(smtp.messages)
    assert ask(client, **kw).status_code == 200
    return mailed_link(smtp, before)


def post_link(client, path, **headers):
    return client.post(path, base_url=ORIGIN, headers={"Sec-Fetch-Site": "same-origin", **headers})


def comments_by_id(session, ids):
    session.expire_all()
    return {c.id: c for c in session.scalars(select(Comment).where(Comment.id.in_(ids)))}


def assert_page_headers(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_form_asks_for_an_address_and_a_choice(client):
    page = client.get("/privacy/?site=blog")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'type="email" name="email"' in html
    for choice in ('value="export"', 'value="erase"', 'value="anonymise"', 'value="delete"'):
        assert choice in html
    assert "Ann&#39;s Blog" in html
    assert 'name="site" value="blog"' in html
    assert_page_headers(page)


def test_the_answer_is_the_same_for_known_and_unknown_addresses_and_only_known_ones_get_mail(
    client, smtp, ann
):
    known = ask(client, email="Ann@Example.org", ip="203.0.113.1")
    unknown = ask(client, email="nobody@example.org", ip="203.0.113.2")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert SENT in known.get_data(as_text=True)
    assert_page_headers(known)
    (mail,) = smtp.messages
    assert mail.rcpt_tos == [ANN]
    assert mail.message["Subject"] == "[Ann's Blog] Confirm your personal-data request"
    assert "a copy of the comments kept for this address" in mail.text
    assert LINK.search(mail.text)
    assert LINK.search(mail.html)


def test_the_mailed_link_s_get_changes_nothing(client, smtp, session, ann):
    path = request_link(client, smtp, action="erase")
    for _ in range(2):  # a mail scanner, then the reader
        page = client.get(path, base_url=ORIGIN)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert '<form method="post">' in html
        assert "Erase my data" in html
        assert ANN in html
        assert_page_headers(page)
    assert {c.author for c in comments_by_id(session, ann).values()} == {"Ann Lee", "Ann"}
    assert session.scalars(select(UsedToken)).all() == []


def test_export_downloads_exactly_that_address_s_comments_once(client, smtp, session, ann):
    path = request_link(client, smtp)
    download = post_link(client, path)
    assert download.status_code == 200
    assert session.scalars(select(OutboxEntry.kind)).all() == [privacy.REQUEST_MAIL]  # kept
    assert download.mimetype == "application/json"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r'filename="[^"]+\.json"', disposition)
    assert_page_headers(download)
    data = json.loads(download.get_data())
    assert data["email"] == ANN
    assert [c["id"] for c in data["comments"]] == ann
    assert {c["email"] for c in data["comments"]} == {ANN}
    assert "bob@example.org" not in download.get_data(as_text=True)
    assert data["comments"][0]["ip"] == "198.51.100.7"
    for again in (post_link(client, path), client.get(path, base_url=ORIGIN)):
        assert again.status_code == 410
        assert "This link was already used" in again.get_data(as_text=True)
        assert_page_headers(again)


def test_erase_anonymises_with_an_audit_row_that_names_no_address_once(client, smtp, session, ann):
    path = request_link(client, smtp, action="erase", erase="anonymise")
    done = post_link(client, path)
    assert done.status_code == 200
    assert "Your data was erased" in done.get_data(as_text=True)
    assert_page_headers(done)
    for comment in comments_by_id(session, ann).values():
        assert (comment.author, comment.email, comment.website, comment.ip) == ("", "", "", "")
        assert comment.user_agent == ""
        assert comment.status is CommentStatus.approved
    assert comments_by_id(session, ann)[ann[0]].text == "Ann's first words."
    events = session.scalars(
        select(ModerationEvent).where(ModerationEvent.comment_id.in_(ann))
    ).all()
    assert [e.action for e in events] == ["erase"] * 3
    for event in events:
        for value in (event.actor, event.reason):
            assert "ann" not in value.lower()
            assert "198.51.100.7" not in value
    again = post_link(client, path)
    assert again.status_code == 410
    assert "This link was already used" in again.get_data(as_text=True)
    assert len(session.scalars(select(ModerationEvent)).all()) == 3  # nothing more happened
    # The sent mail's outbox entry, the last row that named the address, is gone too.
    assert session.scalars(select(OutboxEntry.kind)).all() == []


def test_erase_with_delete_deletes_the_comments(client, smtp, session, ann):
    path = request_link(client, smtp, action="erase", erase="delete")
    done = post_link(client, path)
    assert done.status_code == 200
    assert "your comments deleted" in done.get_data(as_text=True)
    found = comments_by_id(session, ann)
    assert {c.status for c in found.values()} == {CommentStatus.deleted}
    assert {c.email for c in found.values()} == {""}
    bob = session.scalars(select(Comment).where(Comment.email == "bob@example.org")).one()
    assert (bob.author, bob.status) == ("Bob", CommentStatus.approved)  # others are untouched
    assert post_link(client, path).status_code == 410


@pytest.mark.parametrize("settings", [{"privacy.requests_per_address_per_day": 2}], indirect=True)
def test_requests_are_limited_per_address_alike_for_known_and_unknown(client, smtp, ann):
    for ip in ("203.0.113.1", "203.0.113.2"):
        assert ask(client, email=ANN, ip=ip).status_code == 200
        assert ask(client, email="nobody@example.org", ip=ip).status_code == 200
    known = ask(client, email=ANN.upper(), ip="203.0.113.3")
    unknown = ask(client, email="nobody@example.org", ip="203.0.113.3")
    assert known.status_code == unknown.status_code == 429
    assert known.get_data() == unknown.get_data()
    assert int(known.headers["Retry-After"]) > 3600
    assert "Too many requests" in known.get_data(as_text=True)
    assert_page_headers(known)
    assert len(smtp.messages) == 2
    assert ask(client, email="bob@example.org", ip="203.0.113.3").status_code == 200


@pytest.mark.parametrize("settings", [{"privacy.requests_per_ip_per_hour": 2}], indirect=True)
def test_requests_are_limited_per_ip(client, smtp, ann):
    assert ask(client, email=ANN).status_code == 200
    assert ask(client, email="bob@example.org").status_code == 200
    over = ask(client, email="carol@example.org")
    assert over.status_code == 429
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    assert ask(client, email=ANN).status_code == 429
    assert len(smtp.messages) == 2
    assert ask(client, email=ANN, ip="203.0.113.77").status_code == 200
    assert len(smtp.messages) == 3


def test_an_expired_link_gives_a_clear_page_and_changes_nothing(
    client, smtp, session, ann, monkeypatch
):
    path = request_link(client, smtp, action="erase")
    real = itsdangerous.timed.time.time
    monkeypatch.setattr(
        itsdangerous.timed,
        "time",
        type("T", (), {"time": staticmethod(lambda: real() + 25 * 3600)}),
    )
    for response in (client.get(path, base_url=ORIGIN), post_link(client, path)):
        assert response.status_code == 410
        assert "This link has expired" in response.get_data(as_text=True)
        assert "Ask again" in response.get_data(as_text=True)
        assert_page_headers(response)
    assert {c.email for c in comments_by_id(session, ann).values()} == {ANN}


def test_tampered_and_foreign_links_give_a_clear_page_and_change_nothing(
    app, client, smtp, session, ann
):
    path = request_link(client, smtp, action="erase")
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    ctx = current.parts(app).context
    moderator_link = ctx.tokens.sign(MODERATE_LINK, {"e": ANN, "a": "delete", "s": "", "n": "x"})
    forged_action = ctx.tokens.sign(
        PRIVACY_REQUEST, {"e": ANN, "a": "drop-tables", "s": "blog", "n": "n1"}
    )
    for bad in (
        tampered,
        "/privacy/garbage",
        f"/privacy/{moderator_link}",
        f"/privacy/{forged_action}",
    ):
        for response in (client.get(bad, base_url=ORIGIN), post_link(client, bad)):
            assert response.status_code == 403
            assert "This link is not valid" in response.get_data(as_text=True)
            assert_page_headers(response)
    assert {c.email for c in comments_by_id(session, ann).values()} == {ANN}
    assert post_link(client, path).status_code == 200  # the genuine link still works


def test_cross_site_posts_are_refused(client, smtp, session, ann):
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ):
        refused = ask(client, **headers)
        assert refused.status_code == 403
        assert_page_headers(refused)
    assert smtp.messages == []
    path = request_link(client, smtp, action="erase")
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "same-site"}):
        assert post_link(client, path, **headers).status_code == 403
    assert {c.email for c in comments_by_id(session, ann).values()} == {ANN}
    assert post_link(client, path).status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"email": "", "action": "export"},
        {"email": "not-an-address", "action": "export"},
        {"email": "ann@example.org\nBcc: x@example.org", "action": "export"},
        {"email": ANN, "action": "drop"},
        {"email": ANN, "action": "erase", "erase": "shred"},
    ],
)
def test_a_bad_form_shows_the_form_again_and_mails_nobody(client, smtp, ann, form):
    response = client.post("/privacy/", data={"site": "blog", **form}, base_url=ORIGIN)
    assert response.status_code == 400
    assert 'type="email" name="email"' in response.get_data(as_text=True)
    assert_page_headers(response)
    assert smtp.messages == []


@pytest.mark.parametrize("settings", [{"sites.blog.title": ""}], indirect=True)
def test_a_request_mail_waits_in_the_outbox_through_an_smtp_outage(
    client, smtp, session, app, clock, ann
):
    smtp.stop()
    assert ask(client).status_code == 200  # answered at once; the mail waits in the outbox
    smtp.start()
    assert smtp.messages == []
    (entry,) = session.scalars(select(OutboxEntry).where(OutboxEntry.done_at.is_(None))).all()
    assert entry.kind == privacy.REQUEST_MAIL
    clock.advance(3600)
    current.parts(app).jobs.sweep()
    path = mailed_link(smtp)
    assert smtp.messages[0].message["Subject"] == "[blog] Confirm your personal-data request"
    assert post_link(client, path).status_code == 200
