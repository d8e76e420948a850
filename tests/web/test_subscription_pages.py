"""Readers' page subscriptions over HTTP, with a real SMTP server on loopback and jobs run inline:
``POST /api/v1/subscriptions`` answers 202 alike for every address and mails only within its
limits; the confirmation link's GET only asks and its POST confirms, once; the unsubscribe URL
takes RFC 8058's one-click POST without cookies or a CSRF token and shows a page on GET; the
manage page lists an address's subscriptions on the site and ends them all; bad links are pages
that say why."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from moderation.app import create_app
from moderation.models import Subscription, SubscriptionMode
from moderation.services import Context, subscriptions
from moderation.services.tokens import SUBSCRIPTION_CONFIRM, UNSUBSCRIBE, Tokens
from moderation.storage.db import Database
from tests.conftest import empty_tables, make_settings

PUBLIC = "https://comments.example.org"
BLOG = "https://blog.example.org"
URI = "/2026/12/notify/"
CONFIRM = re.compile(r"https://comments\.example\.org(/subscriptions/confirm/[A-Za-z0-9_.\-]+)")
UNSUB = re.compile(r"https://comments\.example\.org(/subscriptions/unsubscribe/[A-Za-z0-9_.\-]+)")
ANN = "ann@example.org"


@pytest.fixture
def settings(request, tmp_path, smtp):
    """Mail to the test SMTP server, no batching delay, small confirmation limits."""
    return make_settings(
        tmp_path,
        **smtp.settings(),
        **{
            "mail.moderators": [],
            "sites.blog.title": "Ann's Blog",
            "notify.min_interval_minutes": 0,
            "notify.confirmations_per_address_per_day": 2,
            "notify.confirmations_per_ip_per_hour": 4,
            "guard.flood_seconds": 0,
            **getattr(request, "param", {}),
        },
    )


@pytest.fixture
def ctx(settings, clock) -> Context:
    """The null scorer (every comment is ham, the site's policy decides) with subscriptions."""
    plain = Context(settings=settings, tokens=Tokens.from_settings(settings), clock=clock)
    return subscriptions.install(plain)


def subscribe(client, email=ANN, uri=URI, ip="203.0.113.9", **extra: Any):
    return client.post(
        "/api/v1/subscriptions",
        json={"site": "blog", "uri": uri, "email": email, **extra},
        headers={"Origin": BLOG},
        environ_base={"REMOTE_ADDR": ip},
    )


def comment(client, author, email="", notify="none", parent=None, ip="198.51.100.4"):
    response = client.post(
        "/api/v1/comments",
        json={
            "site": "blog",
            "uri": URI,
            "title": "Notifications",
            "author": author,
            "email": email,
            "text": f"{author} says hello.",
            "notify": notify,
            "parent": parent,
        },
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["comment"]["id"]


def mails_to(smtp, address):
    return [m for m in smtp.messages if m.rcpt_tos == [address]]


def link(pattern, mail):
    (path,) = set(pattern.findall(mail.text))
    assert f"{PUBLIC}{path}" in mail.html
    return path


def subscribed_link(client, smtp, email=ANN, uri=URI):
    """Subscribe, follow the confirmation mail's link and press its button; the path."""
    assert subscribe(client, email=email, uri=uri).status_code == 202
    path = link(CONFIRM, mails_to(smtp, email)[-1])
    assert client.post(path, base_url=PUBLIC).status_code == 200
    return path


def subs(session, email=ANN):
    session.expire_all()
    return list(session.scalars(select(Subscription).where(Subscription.email == email)))


def unsubscribe_path(ctx, sub: Subscription, site="blog") -> str:
    token = ctx.tokens.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email, "w": site})
    return f"/subscriptions/unsubscribe/{token}"


def assert_page_headers(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"


# --- the API -------------------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_202_and_a_confirmation_is_mailed(
    client, smtp, session
):
    first = subscribe(client, ip="203.0.113.1")
    assert first.status_code == 202
    assert first.headers["Access-Control-Allow-Origin"] == BLOG
    (mail,) = mails_to(smtp, ANN)
    assert "Please confirm" in mail.message["Subject"]
    path = link(CONFIRM, mail)
    assert client.post(path, base_url=PUBLIC).status_code == 200

    again = subscribe(client, ip="203.0.113.2")  # confirmed already: no mail, the same answer
    stranger = subscribe(client, email="nobody@example.net", ip="203.0.113.3")
    assert again.status_code == stranger.status_code == 202
    assert first.get_data() == again.get_data() == stranger.get_data()
    assert len(mails_to(smtp, ANN)) == 1
    assert len(mails_to(smtp, "nobody@example.net")) == 1
    (sub,) = subs(session)
    assert sub.mode is SubscriptionMode.thread
    assert sub.confirmed_at is not None
    assert sub.thread.uri == URI


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"site": "blog", "uri": URI}, {"email"}),
        ({"site": "blog", "uri": URI, "email": "not-an-address"}, {"email"}),
        ({"site": "nope", "uri": URI, "email": ANN}, {"site"}),
        ({"site": "blog", "uri": "relative", "email": ANN}, {"uri"}),
        ({"site": "blog", "uri": URI, "email": ANN, "mode": "x"}, {"mode"}),
        ({"site": "blog", "uri": URI, "email": ["a"]}, {"email"}),
        ({"site": "blog", "uri": "/a b/", "email": "x\n@example.org"}, {"uri", "email"}),
    ],
)
def test_bad_requests_are_400_naming_the_fields_and_mail_nothing(client, smtp, body, fields):
    response = client.post("/api/v1/subscriptions", json=body)
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == fields
    assert smtp.messages == []


def test_a_form_post_or_bad_json_or_a_foreign_origin_is_refused(client, smtp):
    form = client.post("/api/v1/subscriptions", data={"site": "blog", "uri": URI, "email": ANN})
    assert form.status_code == 415
    broken = client.post(
        "/api/v1/subscriptions", data="{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    foreign = client.post(
        "/api/v1/subscriptions",
        json={"site": "blog", "uri": URI, "email": ANN},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert smtp.messages == []


def test_per_address_limit_mails_nothing_more_but_answers_the_same(client, smtp, session):
    answers = [
        subscribe(client, uri=f"/page/{n}/", ip=f"203.0.113.{n}").get_data() for n in range(4)
    ]
    assert len(set(answers)) == 1
    assert len(mails_to(smtp, ANN)) == 2  # confirmations_per_address_per_day
    assert len(subs(session)) == 2  # the refused requests did not even make a subscription


def test_per_ip_limit_mails_nothing_more_but_answers_the_same(client, smtp):
    answers = [
        subscribe(client, email=f"reader{n}@example.org", ip="203.0.113.50") for n in range(6)
    ]
    assert {a.status_code for a in answers} == {202}
    assert len({a.get_data() for a in answers}) == 1
    assert len(smtp.messages) == 4  # confirmations_per_ip_per_hour
    assert subscribe(client, email="other@example.org", ip="203.0.113.51").status_code == 202
    assert len(smtp.messages) == 5  # another network is not held up


def test_confirmations_asked_for_with_comments_count_against_the_address(client, smtp):
    comment(client, "Ann", ANN, notify="thread")
    subscribe(client, uri="/other/")
    assert len(mails_to(smtp, ANN)) == 2
    assert subscribe(client, uri="/third/", ip="203.0.113.77").status_code == 202
    assert len(mails_to(smtp, ANN)) == 2


def test_notify_without_an_email_is_400_naming_email(client):
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "uri": URI, "text": "Tell me!", "notify": "replies"},
    )
    assert response.status_code == 400
    assert "email" in response.get_json()["error"]["fields"]
    bad_mode = client.post(
        "/api/v1/comments",
        json={"site": "blog", "uri": URI, "text": "x", "email": ANN, "notify": "always"},
    )
    assert bad_mode.status_code == 400
    assert set(bad_mode.get_json()["error"]["fields"]) == {"notify"}


# --- confirming ----------------------------------------------------------------------------------


def test_the_confirmation_get_changes_nothing_and_its_post_confirms_once(client, smtp, session):
    assert subscribe(client).status_code == 202
    path = link(CONFIRM, mails_to(smtp, ANN)[0])
    for _ in range(2):  # a mail scanner, then the reader
        page = client.get(path, base_url=PUBLIC)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert '<form method="post">' in html
        assert ANN in html
        assert f"{BLOG}{URI}" in html
        assert_page_headers(page)
    assert subs(session)[0].confirmed_at is None

    done = client.post(path, base_url=PUBLIC)  # no CSRF token, no cookie
    assert done.status_code == 200
    assert "Confirmed" in done.get_data(as_text=True)
    assert_page_headers(done)
    assert subs(session)[0].confirmed_at is not None

    used = client.post(path, base_url=PUBLIC)
    assert used.status_code == 410
    assert "already used" in used.get_data(as_text=True)
    assert client.get(path, base_url=PUBLIC).status_code == 410
    assert_page_headers(used)


def test_a_confirmed_reply_subscription_mails_the_reply_with_a_working_unsubscribe(
    client, smtp, session
):
    ann = comment(client, "Ann", ANN, notify="replies")
    path = link(CONFIRM, mails_to(smtp, ANN)[0])
    assert "replies to its comment" in client.get(path, base_url=PUBLIC).get_data(as_text=True)
    assert client.post(path, base_url=PUBLIC).status_code == 200
    bob = comment(client, "Bob", "bob@example.org", parent=ann)
    mail = mails_to(smtp, ANN)[-1]
    assert f"{BLOG}{URI}#comment-{bob}" in mail.text
    one_click = mail.message["List-Unsubscribe"].strip("<>")
    assert one_click.startswith(f"{PUBLIC}/subscriptions/unsubscribe/")
    assert link(UNSUB, mail) == one_click.removeprefix(PUBLIC)

    answer = client.post(
        one_click.removeprefix(PUBLIC),
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        base_url=PUBLIC,
    )
    assert answer.status_code == 200
    assert subs(session) == []
    comment(client, "Carl", "carl@example.org", parent=ann)
    assert len(mails_to(smtp, ANN)) == 2  # the confirmation and Bob's reply, nothing since


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe", "manage"])
def test_tampered_links_are_403_pages_for_get_and_post(client, smtp, ctx, session, kind):
    assert subscribe(client).status_code == 202
    token = link(CONFIRM, mails_to(smtp, ANN)[0]).rsplit("/", 1)[1]
    if kind != "confirm":
        token = unsubscribe_path(ctx, subs(session)[0]).rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for method in (client.get, client.post):
        page = method(f"/subscriptions/{kind}/{tampered}", base_url=PUBLIC)
        assert page.status_code == 403
        assert "This link is not valid" in page.get_data(as_text=True)
        assert_page_headers(page)
    assert len(subs(session)) == 1
    assert subs(session)[0].confirmed_at is None


def test_a_confirmation_link_for_another_purpose_is_not_valid(client, ctx, session):
    assert subscribe(client).status_code == 202
    path = unsubscribe_path(ctx, subs(session)[0]).replace("unsubscribe", "confirm")
    assert client.post(path, base_url=PUBLIC).status_code == 403
    assert subs(session)[0].confirmed_at is None


def test_a_confirmation_link_of_an_ended_subscription_is_404(client, smtp, ctx, session):
    assert subscribe(client).status_code == 202
    path = link(CONFIRM, mails_to(smtp, ANN)[0])
    assert client.post(unsubscribe_path(ctx, subs(session)[0]), base_url=PUBLIC).status_code == 200
    page = client.post(path, base_url=PUBLIC)
    assert page.status_code == 404
    assert "no longer exists" in page.get_data(as_text=True)


def test_an_expired_confirmation_link_is_410(client, smtp, session, monkeypatch):
    import itsdangerous.timed

    assert subscribe(client).status_code == 202
    path = link(CONFIRM, mails_to(smtp, ANN)[0])
    real = itsdangerous.timed.time.time
    later = type("T", (), {"time": staticmethod(lambda: real() + 8 * 86400)})
    monkeypatch.setattr(itsdangerous.timed, "time", later)
    page = client.post(path, base_url=PUBLIC)
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    assert subs(session)[0].confirmed_at is None


# --- leaving -------------------------------------------------------------------------------------


def test_one_click_post_unsubscribes_without_cookies_origin_or_csrf(client, smtp, ctx, session):
    subscribed_link(client, smtp)
    path = unsubscribe_path(ctx, subs(session)[0])
    client.delete_cookie("moderation_session")
    answer = client.post(
        path,
        data={"List-Unsubscribe": "One-Click"},
        base_url=PUBLIC,
        headers={"User-Agent": "Mail-Provider/1.0"},
    )
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert "Unsubscribed" in answer.get_data(as_text=True)
    assert subs(session) == []
    again = client.post(path, data={"List-Unsubscribe": "One-Click"}, base_url=PUBLIC)
    assert again.status_code == 200
    assert "Already unsubscribed" in again.get_data(as_text=True)
    gone = client.get(path, base_url=PUBLIC)
    assert gone.status_code == 200
    assert "Already unsubscribed" in gone.get_data(as_text=True)


def test_the_unsubscribe_get_shows_a_button_that_posts_one_click_and_changes_nothing(
    client, smtp, ctx, session
):
    subscribed_link(client, smtp)
    path = unsubscribe_path(ctx, subs(session)[0])
    page = client.get(path, base_url=PUBLIC)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form method="post">' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert ">Unsubscribe</button>" in html
    assert f'href="/subscriptions/manage/{path.rsplit("/", 1)[1]}"' in html
    assert_page_headers(page)
    assert len(subs(session)) == 1


def test_the_manage_page_lists_the_site_s_subscriptions_and_ends_them_all(
    client, smtp, ctx, session
):
    subscribed_link(client, smtp)  # confirmed: the next ones on the site need no confirmation
    subscribe(client, uri="/second/", ip="203.0.113.20")
    comment(client, "Ann", ANN, notify="replies")
    other = subscriptions.request_subscription(session, ctx, "other", "/elsewhere/", ANN)
    session.commit()
    assert other is True
    mine = subs(session)
    assert len(mine) == 4
    path = unsubscribe_path(ctx, mine[0]).replace("unsubscribe", "manage")

    page = client.get(path, base_url=PUBLIC)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<li>") == 3  # the other site's subscription is not listed
    assert f'href="{BLOG}/second/"' in html
    assert "every new comment" in html
    assert "replies to a comment" in html
    assert "elsewhere" not in html
    assert ">Unsubscribe from all</button>" in html
    assert_page_headers(page)
    assert len(subs(session)) == 4

    done = client.post(path, base_url=PUBLIC)
    assert done.status_code == 200
    assert "Unsubscribed from all" in done.get_data(as_text=True)
    (left,) = subs(session)
    assert left.thread.site == "other"
    empty = client.get(path, base_url=PUBLIC)
    assert empty.status_code == 200
    assert "gets no e-mails from Ann&#39;s Blog" in empty.get_data(as_text=True)


@pytest.mark.parametrize("settings", [{"sites.blog.language": "de"}], indirect=True)
def test_pages_speak_the_site_s_language(client, smtp, ctx, session):
    assert subscribe(client).status_code == 202
    path = link(CONFIRM, mails_to(smtp, ANN)[0])
    page = client.get(path, base_url=PUBLIC).get_data(as_text=True)
    assert '<html lang="de">' in page
    assert ">Bestätigen</button>" in page
    unsubscribe = client.get(unsubscribe_path(ctx, subs(session)[0]), base_url=PUBLIC)
    assert ">Abbestellen</button>" in unsubscribe.get_data(as_text=True)


@pytest.fixture
def busy(migrated, tmp_path, settings, ctx) -> Iterator[Any]:
    """A client whose writes wait 200 ms for SQLite's write lock while another connection holds
    it, as another process would (PostgreSQL has no such lock)."""
    url = migrated["get"]("sqlite")
    database = Database(url, busy_timeout_ms=200)
    app = create_app(settings, database=database, context=ctx)
    app.config["TESTING"] = True
    holder = sqlite3.connect(sa.make_url(url).database or "", isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield app.test_client()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.dispose()
        empty_tables(url)


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe", "manage"])
def test_a_busy_database_is_a_503_page_with_retry_after(busy, ctx, kind):
    purpose = SUBSCRIPTION_CONFIRM if kind == "confirm" else UNSUBSCRIBE
    token = ctx.tokens.sign(purpose, {"s": 1, "e": ANN, "w": "blog", "n": "nonce"})
    page = busy.post(f"/subscriptions/{kind}/{token}", base_url=PUBLIC)
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) >= 1
    assert "busy" in page.get_data(as_text=True)
    assert_page_headers(page)
