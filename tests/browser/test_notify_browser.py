"""Reply notifications in Chromium, end to end: a reader picks "Notify me: of replies" beside the
e-mail field and posts on the demo page; the confirmation mail reaches the real SMTP server on
loopback; its link, opened in the browser, confirms with a button; another reader replies through
the widget; the first reader's notification arrives, and its link opens the demo page at the reply.

The app runs here with subscriptions installed and mail pointed at the test SMTP server (the
shared ``live_server`` sends no mail), on its own SQLite file; jobs run inline after each commit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.app import create_app
from moderation.services import Context, subscriptions
from moderation.services.tokens import Tokens
from tests.browser.conftest import Browsing, LiveServer
from tests.conftest import make_settings
from tests.fakes.app_server import app_server
from tests.fakes.smtp_server import FakeSMTP, Received

ANN = "ann@example.org"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture(scope="module")
def notify_server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: FakeSMTP
) -> Iterator[LiveServer]:
    """The app with reader notifications, its demo page on the ``blog`` site at its own origin."""
    tmp = tmp_path_factory.mktemp("notify")
    with app_server(tmp) as server:
        base = server.url
        overrides = {
            **smtp_server.settings(),
            "server.public_url": base,
            "server.demo_site": "blog",
            "database.url": server.db_url,
            "sites": {"blog": {"url": base, "origins": [base], "moderation": "none"}},
            "mail.moderators": [],
            "notify.min_interval_minutes": 0,
            "guard.flood_seconds": 0,
            "guard.rate_limit": "1000 per minute",
        }
        settings = make_settings(tmp, **overrides)
        plain = Context(settings=settings, tokens=Tokens.from_settings(settings))
        app = create_app(settings, database=server.database, context=subscriptions.install(plain))
        server.serve(app)
        yield LiveServer(url=base, app=app, database=server.database, tmp=tmp, overrides=overrides)


@pytest.fixture
def readers(browser: Any, notify_server: LiveServer) -> Iterator[list[Browsing]]:
    """Two readers, each in a browser context of their own, on a short window (so that a
    comment further down is out of view until the page scrolls to it)."""
    made = [
        Browsing(browser, notify_server, viewport={"width": 900, "height": 420}) for _ in range(2)
    ]
    yield made
    for browsing in made:
        browsing.close()
    assert not [e for b in made for e in b.errors], "JavaScript errors on the page"


def mails_to(smtp: FakeSMTP, address: str, count: int) -> list[Received]:
    """The mails `address` got, once there are `count` of them (jobs run after the commit)."""
    deadline = time.monotonic() + 10
    while True:
        with smtp.lock:
            mails = [m for m in smtp.messages if m.rcpt_tos == [address]]
        if len(mails) >= count or time.monotonic() > deadline:
            assert len(mails) == count, [m.message["Subject"] for m in mails]
            return mails
        time.sleep(0.05)


def open_demo(reader: Browsing) -> Any:
    reader.page.goto(reader.server.url + "/demo/")
    reader.wait_ready()
    return reader.page


def test_reply_notification_from_choice_to_confirmation_to_the_reply_on_the_page(
    readers, notify_server, smtp_server
):
    ann, bob = readers
    base = notify_server.url
    for n in range(6):  # earlier comments push the conversation below the fold
        notify_server.post("/demo/", f"An earlier thought, number {n}.", author=f"Reader {n}")

    page = open_demo(ann)
    form = page.locator("#comments > form")
    choice = form.get_by_label("Notify me")
    expect(choice).to_be_disabled()  # no address yet
    form.get_by_label("Name").fill("Ann")
    form.get_by_label("E-mail").fill(ANN)
    expect(choice).to_be_enabled()
    expect(choice.locator("option")).to_have_text(["never", "of replies", "of every new comment"])
    choice.select_option(label="of replies")
    form.get_by_label("Comment").fill("Does anyone know how this works?")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_contain_text("confirm the link we send you")
    (own,) = ann.own("blog", "/demo/")
    ann_id = own["id"]

    (confirmation,) = mails_to(smtp_server, ANN, 1)
    assert "Please confirm" in confirmation.message["Subject"]
    link = re.search(
        re.escape(base) + r"/subscriptions/confirm/[A-Za-z0-9_.\-]+", confirmation.text
    )
    assert link
    page.goto(link.group())
    expect(page.get_by_role("heading")).to_have_text("Confirm the e-mails?")
    expect(page.locator("main")).to_contain_text(ANN)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading")).to_have_text("Confirmed")

    other = open_demo(bob)
    parent = other.locator(f"#comment-{ann_id}")
    parent.get_by_role("button", name="Reply").click()
    reply_form = parent.locator("form")
    reply_form.get_by_label("Name").fill("Bob")
    reply_form.get_by_label("Comment").fill("It works **by magic**.")
    reply_form.get_by_role("button", name="Post reply").click()
    expect(other.locator(".mod-replies .mod-c .mod-body")).to_have_text("It works by magic.")

    notification = mails_to(smtp_server, ANN, 2)[-1]
    message = notification.message
    assert message["Subject"].startswith("[blog] A reply to your comment on ")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "It works <strong>by magic</strong>." in notification.html
    found = re.search(re.escape(base) + r"/demo/#comment-(\d+)", notification.text)
    assert found
    reply_id = int(found.group(1))
    assert reply_id != ann_id
    assert f'href="{found.group()}"' in notification.html

    page.goto("about:blank")
    page.goto(found.group())
    ann.wait_ready()
    reply = page.locator(f"#comment-{reply_id}")
    expect(reply).to_contain_text("It works by magic.")
    expect(reply).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0  # the page scrolled to it
    assert page.evaluate("location.hash") == f"#comment-{reply_id}"
    assert len(mails_to(smtp_server, "bob@example.org", 0)) == 0  # Bob asked for nothing


def test_a_notify_choice_without_an_address_is_shown_at_the_e_mail_field(
    readers, notify_server, smtp_server
):
    page = open_demo(readers[0])
    form = page.locator("#comments > form")
    form.get_by_label("E-mail").fill("kim@example.org")
    form.get_by_label("Notify me").select_option("thread")
    # The address goes without the input event that would switch the choice off: the server's
    # 400 naming `email` is what the reader sees, at the field.
    form.get_by_label("E-mail").evaluate("el => { el.value = ''; }")
    form.get_by_label("Comment").fill("Tell me about new comments.")
    form.get_by_role("button", name="Post comment").click()
    email = form.get_by_label("E-mail")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".mod-f-email .mod-err")).to_have_text("Needed to notify you.")
    expect(form.locator(".mod-msg")).to_have_text("Please check the marked fields.")
    expect(email).to_be_focused()
    assert [m for m in smtp_server.messages if m.rcpt_tos == ["kim@example.org"]] == []
