"""Moderators per site in real headless Chromium: a moderator of the ``held`` site signed in sees
only that site's comments in the queue and in a search, and another site's comment page is 404; an
admin ticks a moderator's sites on the Moderators page and that moderator's next page follows; the
Moderators page, with its site checkboxes, fits 1280 px and 390 px with 44 px touch targets."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.domain.states import CommentStatus
from moderation.services import accounts
from tests.browser.test_dashboard_browser import PASSWORD, Dashboard, ensure_admin
from tests.browser.test_dashboard_widths import overflow, widest

pytestmark = pytest.mark.browser

S = CommentStatus
_people = itertools.count(1)


class SiteModerator(Dashboard):
    """A moderator's tab signed in as someone other than the shared admin."""

    def login_as(self, email: str) -> None:
        page = self.page
        page.goto(self.url + "/moderate/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".topbar .who")).to_contain_text(email)

    def status(self, path: str) -> int:
        """The HTTP status of a dashboard page opened in this tab."""
        response = self.page.goto(self.url + path)
        assert response is not None
        return int(response.status)


def make_moderator(live_server: Any, sites: list[str]) -> str:
    """A new moderator of `sites` (none: every site), with an e-mail no other test uses."""
    email = f"site-mod-{next(_people)}@example.org"
    with live_server.database.write() as tx:
        added = accounts.add_moderator(tx, live_server.context, email, "moderator", PASSWORD)
        accounts.set_sites(tx, added.id, sites, live_server.context.settings.sites)
    return email


@pytest.fixture
def tabs(browser: Any, live_server: Any) -> Iterator[Callable[..., SiteModerator]]:
    """Open signed-in tabs (an e-mail: that moderator; none: the shared admin); each must end
    without JavaScript errors (a 404 page's own status line aside)."""
    ensure_admin(live_server.database, live_server.context)
    made: list[SiteModerator] = []

    def open_tab(email: str | None = None, width: int = 1280) -> SiteModerator:
        tab = SiteModerator(browser, live_server.url, viewport={"width": width, "height": 844})
        made.append(tab)
        if email is None:
            tab.login()
        else:
            tab.login_as(email)
        return tab

    yield open_tab
    errors = [e for tab in made for e in tab.errors if "404" not in e and "favicon" not in e]
    for tab in made:
        tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def both_sites(live_server: Any, unique_uri: str) -> dict[str, Any]:
    """A pending comment on ``blog`` and one on ``held``, on threads of the same uri, both with a
    word no other test uses."""
    word = "quince" + str(next(_people))
    return {
        "word": word,
        "blog": live_server.add(unique_uri, f"blog {word}", site="blog", status=S.pending),
        "held": live_server.add(unique_uri, f"held {word}", site="held", status=S.pending),
    }


def test_a_site_moderator_sees_only_their_site(tabs, live_server, unique_uri, both_sites):
    tab = tabs(make_moderator(live_server, ["held"]))
    tab.queue(status="pending", uri=unique_uri)
    assert tab.rows() == [both_sites["held"]]
    tab.queue(status="pending", q=both_sites["word"])
    assert tab.rows() == [both_sites["held"]]
    expect(tab.page.locator(".rows")).not_to_contain_text(f"blog {both_sites['word']}")
    # asking for the other site by name finds nothing either
    tab.queue(status="pending", site="blog", q=both_sites["word"])
    assert tab.rows() == []
    assert tab.status(f"/moderate/comments/{both_sites['blog']}") == 404
    assert tab.status(f"/moderate/comments/{both_sites['held']}") == 200
    # and the admin, for comparison, sees both
    admin = tabs()
    admin.queue(status="pending", q=both_sites["word"])
    assert admin.rows() == [both_sites["held"], both_sites["blog"]]


def test_an_admin_ticks_a_moderators_sites_and_their_queue_follows(
    tabs, live_server, unique_uri, both_sites
):
    email = make_moderator(live_server, [])
    theirs = tabs(email)
    theirs.queue(status="pending", uri=unique_uri)
    assert theirs.rows() == [both_sites["held"], both_sites["blog"]]

    admin = tabs()
    page = admin.page
    page.goto(live_server.url + "/moderate/moderators")
    row = page.locator("tr", has_text=email)
    expect(row.locator(".site-list")).to_have_text("all sites")
    row.get_by_label("blog").check()
    row.get_by_role("button", name="Save sites").click()
    expect(page.locator(".notice-success")).to_have_text(f"{email} moderates the site blog now.")
    row = page.locator("tr", has_text=email)
    expect(row.locator(".site-list")).to_have_text("blog")
    expect(row.get_by_label("blog")).to_be_checked()
    expect(row.get_by_label("held")).not_to_be_checked()

    theirs.queue(status="pending", uri=unique_uri)  # the same session, its next page
    assert theirs.rows() == [both_sites["blog"]]
    assert theirs.status(f"/moderate/comments/{both_sites['held']}") == 404


@pytest.mark.parametrize("width", [1280, 390])
def test_the_moderators_page_fits_the_window(tabs, live_server, width):
    make_moderator(live_server, ["blog", "held"])
    make_moderator(live_server, [])
    admin = tabs(width=width)
    page = admin.page
    page.goto(live_server.url + "/moderate/moderators")
    expect(page.locator(".sites-form .site-choices .check").first).to_be_visible()
    expect(page.locator(".add-moderator .site-choices .check")).to_have_count(2)
    scroll, inner = overflow(page)
    assert scroll <= inner, f"{scroll} px wide in {inner} px: {widest(page)}"
    if width == 390:
        heights = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                '.btn, .check, .topbar nav a, .form-row input, .form-row select'
            )).filter(e => e.offsetParent !== null)
              .map(e => [e.className || e.tagName, Math.round(e.getBoundingClientRect().height)])"""
        )
        small = [(name, h) for name, h in heights if h < 44]
        assert any(re.search(r"\bcheck\b", name) for name, _ in heights)
        assert not small, small
