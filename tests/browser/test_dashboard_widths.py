"""The dashboard on any screen, in real headless Chromium: at 1280 px and at 390 px (a phone) no
page is wider than the window (queue tabs, a comment, the audit log, lists, the spam filter,
moderators, mail),
buttons and tabs are at least 44 px tall on the phone, and a reply shows the comment it answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import ClassifierDecision, ModerationEvent, SpamCheck
from tests.browser.test_dashboard_browser import Dashboard, ensure_admin

pytestmark = pytest.mark.browser

S = CommentStatus
WIDTHS = [1280, 390]
LONG = "https://very-long-domain-name-for-testing.example/" + "a-long-unbroken-path-segment" * 4


@pytest.fixture(scope="module")
def seeded(live_server: Any) -> dict[str, int]:
    """A parent and its held reply (long words and links), spam with signals, a trackback whose
    source does not link here, a deleted comment, on a page of their own."""
    uri = "/widths/"
    parent = live_server.add(
        uri,
        "Tabs are better than spaces, and here is why, at length: " + "word " * 40,
        author="Petra",
        email="petra-with-a-rather-long-address@example.org",
        website=LONG,
    )
    reply = live_server.add(
        uri,
        "Yes, I agree with you. " + "Supercalifragilisticexpialidocious" * 3 + f" {LONG}",
        author="Rob " + "Longname" * 6,
        email="rob@example.org",
        parent=parent,
        status=S.pending,
    )
    spam = live_server.add(uri, f"Cheap pills at {LONG}", author="Spammer", status=S.spam)
    ping = live_server.add(
        uri, "A trackback.", author="Elsewhere", status=S.spam, kind=CommentKind.trackback
    )
    live_server.add(uri, "Gone.", author="Deleted", status=S.deleted)
    with live_server.database.write() as session:
        session.add(
            SpamCheck(
                comment_id=spam,
                verdict=Verdict.spam,
                score=9.0,
                submitted={},
                signals=[
                    {"name": "rules.shortener", "score": 3.0, "reason": f'"{LONG}"'},
                    {
                        "name": "classifier",
                        "score": 6.0,
                        "reason": "classifier: 0.97 spam "
                        "probability (top tokens: 'b:cheap pills' 0.99, 's:links=1' 0.91)",
                    },
                ],
            )
        )
        for comment_id, action, reason in (
            (spam, "create", "scored spam"),
            (ping, "spam", "source does not link to the target: no link to " + LONG),
        ):
            session.add(
                ModerationEvent(
                    comment_id=comment_id,
                    actor="system",
                    action=action,
                    from_status=None,
                    to_status=S.spam,
                    reason=reason,
                )
            )
        # the long parent, approved though the classifier was sure it was spam: the Spam filter
        # page lists it
        session.add(
            ClassifierDecision(
                site="blog",
                comment_id=parent,
                is_spam=False,
                probability=0.999,
                decided_at=live_server.context.clock(),
            )
        )
    return {"parent": parent, "reply": reply, "spam": spam, "ping": ping}


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def dash_at(request, browser, live_server, seeded) -> Iterator[Dashboard]:
    ensure_admin(live_server.database, live_server.context)
    dashboard = Dashboard(
        browser, live_server.url, viewport={"width": request.param, "height": 844}
    )
    favicons: list[str] = []  # Chromium may ask for /favicon.ico despite the page's data: icon

    def favicon(message: Any) -> None:
        if message.location.get("url", "").endswith("/favicon.ico"):
            favicons.append(message.text)

    dashboard.page.on("console", favicon)
    dashboard.login()
    yield dashboard
    dashboard.close()
    errors = list(dashboard.errors)
    for text in favicons:
        errors.remove(text)
    assert not errors, f"JavaScript errors on the page: {errors}"


def overflow(page: Any) -> tuple[int, int]:
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


def widest(page: Any) -> list[str]:
    """The elements reaching past the window's right edge (what to fix), innermost first."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .filter(e => !Array.from(e.children).some(
                c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
            .slice(0, 5)
            .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )


PAGES = [
    "/moderate/?status=pending",
    "/moderate/?status=approved",
    "/moderate/?status=spam",
    "/moderate/?status=deleted",
    "/moderate/?status=pending&q=nothing-matches-this",
    "/moderate/comments/{reply}",
    "/moderate/comments/{spam}",
    "/moderate/comments/{ping}",
    "/moderate/audit",
    "/moderate/lists",
    "/moderate/spam-filter",
    "/moderate/moderators",
    "/moderate/mail",
]


def test_no_page_is_wider_than_the_window(dash_at, live_server, seeded):
    page = dash_at.page
    wide = {}
    for path in PAGES:
        page.goto(live_server.url + path.format(**seeded))
        # open every disclosure: the raw signals must fit too
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        scroll, width = overflow(page)
        if scroll > width:
            wide[path] = (scroll, widest(page))
    assert not wide, f"wider than {overflow(page)[1]} px: {wide}"


def test_a_reply_shows_its_parent(dash_at, live_server, seeded):
    page = dash_at.queue(status="pending", site="blog", uri="/widths/")
    row = page.locator(f"#c{seeded['reply']}")
    context = row.locator(".reply-to")
    expect(context).to_contain_text("In reply to")
    expect(context).to_contain_text("Petra")
    expect(context).to_contain_text("Tabs are better than spaces")
    context.get_by_role("link", name="Petra").click()
    expect(page).to_have_url(f"{live_server.url}/moderate/comments/{seeded['parent']}")
    expect(page.locator("#around")).to_contain_text("Yes, I agree with you.")


def test_the_spam_tab_reads_plainly_and_never_says_ham(dash_at, live_server, seeded):
    page = dash_at.queue(status="spam", site="blog", uri="/widths/")
    expect(page.locator(f"#c{seeded['spam']} .words")).to_have_text(
        "Probably spam: links to a URL shortener and the classifier's 97\N{NO-BREAK SPACE}%"
    )
    expect(page.locator(f"#c{seeded['ping']} .words")).to_have_text(
        "Linkback not verified: the source does not link here"
    )
    expect(page.locator(".toolbar .bulk-buttons button")).to_have_text(
        ["Not spam (publish and teach the filter)", "Publish", "Back to the queue", "Delete"]
    )


@pytest.mark.parametrize("dash_at", [390], indirect=True, ids=["390px"])
def test_touch_targets_on_a_phone(dash_at, live_server, seeded):
    page = dash_at.queue(status="spam", site="blog", uri="/widths/")
    heights = page.evaluate(
        """() => Array.from(document.querySelectorAll(
            '.tab, .btn, .topbar nav a, .row-select, .filters select, .filters input'
        )).filter(e => e.offsetParent !== null)
          .map(e => [e.className || e.tagName, Math.round(e.getBoundingClientRect().height)])"""
    )
    small = [(name, h) for name, h in heights if h < 44]
    assert heights
    assert not small, small


def test_the_spam_filter_lists_an_approval_the_classifier_was_sure_of(dash_at, live_server, seeded):
    page = dash_at.page
    page.goto(live_server.url + "/moderate/spam-filter")
    blog = page.locator("#site-blog")
    expect(blog.locator(".holding tbody tr")).to_have_count(1)
    expect(blog.locator(".holding")).to_contain_text("Tabs are better than spaces")
    spam = blog.get_by_role("button", name=f"Mark comment {seeded['parent']} as spam")
    expect(spam).to_be_visible()
    if page.viewport_size["width"] <= 640:  # a touch target on the phone
        assert spam.bounding_box()["height"] >= 44
