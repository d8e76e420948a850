"""Issue 19 in Chromium: big threads in pages, the sort control, votes and page likes, the server's
preview, set-up errors a site owner can fix, keyboard use of the new controls, and their names in
the accessibility tree."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.domain.states import CommentKind
from tests.browser.conftest import Browsing, LiveServer, page_html

BIG = "/big-thread/"
BIG_SIZE = 300
PAGE_SIZE = 50  # [sites.blog] page_size: the default
_paths = itertools.count(1)


@pytest.fixture(scope="module")
def sites(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server with two more sites: ``small`` (pages of 2, likes and dislikes, page likes)
    and ``quiet`` (votes off)."""
    base = live_server.url
    more = {
        "small": {
            "url": base,
            "origins": [base],
            "moderation": "none",
            "page_size": 2,
            "votes": "up-down",
            "page_likes": True,
        },
        "quiet": {"url": base, "origins": [base], "moderation": "none", "votes": "off"},
    }
    with live_server.settings_override(sites={**live_server.overrides["sites"], **more}):
        yield live_server


@pytest.fixture(scope="module")
def big(sites: LiveServer) -> list[int]:
    """A 300-comment thread on ``blog``, the first comment oldest; its ids in that order."""
    return [sites.add(BIG, f"Comment number {i}.", author=f"Reader {i}") for i in range(BIG_SIZE)]


def roots(page: Any) -> Any:
    """The rendered top-level comments."""
    return page.locator(".mod-list > li > .mod-c")


def root_ids(page: Any) -> list[int]:
    return [
        int(i.removeprefix("comment-")) for i in roots(page).evaluate_all("a => a.map(e => e.id)")
    ]


def open_page(reader: Browsing, uri: str, fragment: str) -> Any:
    """Open a page embedding the widget with `fragment` in its address."""
    url = reader.server.url + f"/p/{next(_paths)}"
    body = page_html("blog", uri, {}, "en", "")
    reader.page.route(
        url, lambda route: route.fulfill(status=200, content_type="text/html", body=body)
    )
    reader.page.goto(url + fragment)
    return reader.page


def test_a_big_thread_comes_in_pages(reader: Browsing, big: list[int]) -> None:
    page = reader.open(BIG)
    expect(page.locator(".mod-title")).to_have_text(f"{BIG_SIZE} comments")  # the total
    expect(roots(page)).to_have_count(PAGE_SIZE)
    assert root_ids(page) == big[:PAGE_SIZE]
    more = page.get_by_role("button", name="Show more comments")
    for shown in range(2 * PAGE_SIZE, BIG_SIZE + 1, PAGE_SIZE):
        more.click()
        expect(roots(page)).to_have_count(shown)
    expect(more).to_be_hidden()
    assert root_ids(page) == big  # every comment once, in order
    expect(page.locator(".mod-list > li").last.locator(".mod-body")).to_have_text(
        f"Comment number {BIG_SIZE - 1}."
    )


def test_a_link_to_a_comment_beyond_the_first_page_shows_it(
    reader: Browsing, big: list[int]
) -> None:
    target = big[173]  # on the fourth page
    page = open_page(reader, BIG, f"#comment-{target}")
    reader.wait_ready()
    linked = page.locator(f"#comment-{target}")
    expect(linked.locator(".mod-body")).to_have_text("Comment number 173.")
    expect(linked).to_be_focused()
    expect(linked).to_be_in_viewport()
    expect(roots(page)).to_have_count(4 * PAGE_SIZE)  # the pages up to the one holding it
    page.get_by_role("button", name="Show more comments").click()
    expect(roots(page)).to_have_count(5 * PAGE_SIZE)
    assert len(set(root_ids(page))) == 5 * PAGE_SIZE


def test_sort_control_reorders_and_is_remembered(
    reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    ids = [sites.add(unique_uri, f"Number {i}.", site="quiet") for i in range(3)]
    page = reader.open(unique_uri, site="quiet")
    sort = page.get_by_role("group", name="Sort comments")
    expect(sort.get_by_role("button", name="Oldest")).to_have_attribute("aria-pressed", "true")
    expect(sort.get_by_role("button", name="Top")).to_be_hidden()  # votes are off here
    assert root_ids(page) == ids
    sort.get_by_role("button", name="Newest").click()
    expect(roots(page).first).to_have_id(f"comment-{ids[-1]}")
    assert root_ids(page) == ids[::-1]
    expect(sort.get_by_role("button", name="Newest")).to_have_attribute("aria-pressed", "true")
    expect(sort.get_by_role("button", name="Oldest")).to_have_attribute("aria-pressed", "false")
    reader.reload()
    assert root_ids(page) == ids[::-1]
    expect(sort.get_by_role("button", name="Newest")).to_have_attribute("aria-pressed", "true")
    # Nothing to sort: a page with a single comment offers no sorting.
    sites.add(unique_uri + "one/", "Alone.", site="quiet")
    other = reader.open(unique_uri + "one/", site="quiet")
    expect(other.locator(".mod-c")).to_have_count(1)
    expect(other.get_by_role("group", name="Sort comments")).to_be_hidden()


def test_top_sorts_by_likes(reader: Browsing, sites: LiveServer, unique_uri: str) -> None:
    ids = [sites.add(unique_uri, f"Number {i}.", site="small") for i in range(3)]
    for n, reader_id in enumerate(["reader-one", "reader-two"]):
        status, data, _ = sites.api(
            "POST", f"/api/v1/comments/{ids[2 - n]}/vote", {"value": 1}, {"X-Reader": reader_id}
        )
        assert status == 200, data
    sites.api("POST", f"/api/v1/comments/{ids[2]}/vote", {"value": 1}, {"X-Reader": "reader-3"})
    page = reader.open(unique_uri, site="small")
    page.get_by_role("button", name="Top").click()
    expect(roots(page).first).to_have_id(f"comment-{ids[2]}")
    assert root_ids(page) == [ids[2], ids[1]]  # a page holds 2 on this site
    expect(roots(page).first.locator(".mod-vote").first).to_have_text("Like 2")


def test_voting_updates_the_count_and_survives_reload(
    reader: Browsing, another_reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    cid = sites.add(unique_uri, "Vote for me.", site="small")
    page = reader.open(unique_uri, site="small")
    like = page.locator(f"#comment-{cid} .mod-vote").first
    expect(like).to_have_text("Like 0")
    expect(like).to_have_attribute("aria-pressed", "false")
    with page.expect_request(f"**/api/v1/comments/{cid}/vote") as info:
        like.click()
    reader_id = page.evaluate("JSON.parse(localStorage.getItem('moderation:reader'))")
    assert re.fullmatch(r"[a-z0-9]{24}", reader_id)
    assert info.value.headers["x-reader"] == reader_id
    assert info.value.post_data_json == {"value": 1}
    expect(like).to_have_text("Like 1")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_be_focused()

    reader.reload()
    like = page.locator(f"#comment-{cid} .mod-vote").first
    expect(like).to_have_text("Like 1")
    expect(like).to_have_attribute("aria-pressed", "true")
    other = another_reader.open(unique_uri, site="small")
    expect(other.locator(f"#comment-{cid} .mod-vote").first).to_have_text("Like 1")
    expect(other.locator(f"#comment-{cid} .mod-vote").first).to_have_attribute(
        "aria-pressed", "false"
    )

    # A dislike replaces the like; pressing it again takes it back.
    dislike = page.locator(f"#comment-{cid} .mod-vote").nth(1)
    dislike.click()
    expect(dislike).to_have_text("Dislike 1")
    expect(dislike).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text("Like 0")
    expect(like).to_have_attribute("aria-pressed", "false")
    dislike.click()
    expect(dislike).to_have_text("Dislike 0")
    expect(dislike).to_have_attribute("aria-pressed", "false")
    _, data, _ = sites.api("GET", f"/api/v1/threads/comments?site=small&uri={unique_uri}")
    assert (data["comments"][0]["likes"], data["comments"][0]["dislikes"]) == (0, 0)


def test_votes_follow_the_sites_setting(
    reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    sites.add(unique_uri, "On blog.")
    sites.add(unique_uri, "A pingback.", kind=CommentKind.pingback)
    page = reader.open(unique_uri)
    expect(page.locator(".mod-c")).to_have_count(2)
    expect(page.locator(".mod-vote")).to_have_count(1)  # votes = "up": Like only; none on linkbacks
    expect(page.locator(".mod-vote")).to_have_text("Like 0")
    expect(page.locator(".mod-page-like")).to_be_hidden()  # page_likes is off
    sites.add(unique_uri, "On quiet.", site="quiet")
    page = reader.open(unique_uri, site="quiet")
    expect(page.locator(".mod-c")).to_have_count(1)
    expect(page.locator(".mod-vote")).to_have_count(0)


def test_page_like(
    reader: Browsing, another_reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    page = reader.open(unique_uri, site="small")
    button = page.get_by_role("button", name="Like this page")
    expect(button).to_have_text("Like this page 0")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(button).to_have_text("Like this page 1")
    expect(button).to_have_attribute("aria-pressed", "true")
    reader.reload()
    expect(button).to_have_text("Like this page 1")
    expect(button).to_have_attribute("aria-pressed", "true")
    other = another_reader.open(unique_uri, site="small")
    expect(other.get_by_role("button", name="Like this page")).to_have_text("Like this page 1")
    button.click()
    expect(button).to_have_text("Like this page 0")
    expect(button).to_have_attribute("aria-pressed", "false")


def test_preview_equals_the_posted_html(reader: Browsing, unique_uri: str) -> None:
    page = reader.open(unique_uri)
    text = (
        "Hello *world*, **bold** and `code` <script>x()</script>\n\n"
        "> a quote\n\n- one\n- two\n\nSee https://example.org/a?b=1&c=2"
    )
    form = page.locator("#comments > form")
    form.get_by_label("Name").fill("Ann")
    form.get_by_label("Comment").fill(text)
    form.get_by_role("button", name="Preview").click()
    preview = form.locator(".mod-preview")
    expect(preview.locator("em")).to_have_text("world")
    expect(preview.locator("li")).to_have_count(2)
    shown = preview.inner_html()
    form.get_by_role("button", name="Post comment").click()
    body = page.locator(".mod-c .mod-body")
    expect(body).to_have_count(1)
    assert body.inner_html() == shown
    assert "<script" not in shown


@contextmanager
def blog_server(body: str) -> Iterator[str]:
    """A web server on 127.0.0.1 (its own port) answering `body` to every GET; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_wrong_origin_is_explained(reader: Browsing, big: list[int]) -> None:
    console: list[tuple[str, str]] = []
    reader.page.on("console", lambda m: console.append((m.type, m.text)))
    # A blog on another port (a real server: Chromium lets a page reach the loopback address
    # only from the loopback address), embedding the service's script: another origin.
    body = page_html("blog", BIG, {}, "en", "").replace(
        'src="/embed.js"', f'src="{reader.server.url}/embed.js"'
    )
    with blog_server(body) as wrong:
        page = reader.page
        page.goto(wrong + "/2010/07/post/")
        expect(page.locator("#comments[data-state=error]")).to_have_count(1)
    expect(page.locator(".mod-status")).to_have_text("Comments are unavailable on this page.")
    expect(page.locator("#comments > form")).to_be_hidden()
    page.wait_for_timeout(200)
    ours = [(kind, text) for kind, text in console if text.startswith("moderation:")]
    assert ours == [
        (
            "error",
            f"moderation: origin {wrong} may not use site 'blog': add it to "
            "[sites.blog] origins in the service's config",
        )
    ]


def test_a_misspelt_site_is_explained(reader: Browsing, sites: LiveServer, unique_uri: str) -> None:
    console: list[tuple[str, str]] = []
    reader.page.on("console", lambda m: console.append((m.type, m.text)))
    page = reader.open(unique_uri, site="blgo", wait=False)
    expect(page.locator("#comments[data-state=error]")).to_have_count(1)
    expect(page.locator(".mod-status")).to_have_text("Comments are unavailable on this page.")
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    page.wait_for_timeout(200)
    ours = [(kind, text) for kind, text in console if text.startswith("moderation:")]
    assert ours == [("error", "moderation: no site 'blgo' in this service (check data-site)")]


def tab_to(page: Any, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's accessible text starts with `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.getAttribute('aria-label') || e.textContent; })()"
        )
        if label.startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_keyboard_only_new_controls(reader: Browsing, sites: LiveServer, unique_uri: str) -> None:
    ids = [sites.add(unique_uri, f"Number {i}.", site="small") for i in range(5)]
    page = reader.open(unique_uri, site="small")
    page.locator("body").focus()
    tab_to(page, "Like this page")
    page.keyboard.press("Space")
    expect(page.locator(".mod-page-like")).to_have_attribute("aria-pressed", "true")
    tab_to(page, "Newest")
    page.keyboard.press("Enter")
    expect(roots(page).first).to_have_id(f"comment-{ids[-1]}")
    assert root_ids(page) == [ids[4], ids[3]]
    tab_to(page, "Like")
    page.keyboard.press("Space")
    first_like = roots(page).first.locator(".mod-vote").first
    expect(first_like).to_have_attribute("aria-pressed", "true")
    expect(first_like).to_have_text("Like 1")
    tab_to(page, "Show more comments")
    page.keyboard.press("Enter")
    expect(roots(page)).to_have_count(4)
    expect(page.get_by_role("button", name="Show more comments")).to_be_focused()
    page.keyboard.press("Space")
    expect(roots(page)).to_have_count(5)
    # The last page: the button goes, and focus moves on to the first comment it brought.
    expect(page.get_by_role("button", name="Show more comments")).to_be_hidden()
    expect(page.locator(f"#comment-{ids[0]}")).to_be_focused()


def test_the_accessibility_tree_names_the_controls(
    reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    for i in range(3):
        sites.add(unique_uri, f"Number {i}.", site="small", author=f"Reader {i}")
    page = reader.open(unique_uri, site="small")
    page.get_by_role("button", name="Newest").click()
    form = page.locator("#comments > form")
    form.get_by_label("Name").fill("Kim")
    form.get_by_label("Comment").fill("Mine.")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_contain_text("for 15 minutes")
    mine = page.locator(".mod-c").first
    expect(mine.locator(".mod-body")).to_have_text("Mine.")
    snapshot = page.locator("#comments").aria_snapshot()
    at = r"\d{1,2}:\d{2}(?: [AP]M)?"
    for line in [
        r'button "Like this page 0"\n',
        r'group "Sort comments"',
        r'button "Newest" \[pressed\]',
        r'button "Oldest"\n',
        r'button "Reply to Kim"',
        r'button "Like 0"\n',
        r'button "Dislike 0"\n',
        rf'button "Edit your comment of {at}": Edit',
        rf'button "Delete your comment of {at}"',
        r'button "Show more comments"',
    ]:
        assert re.search(line, snapshot), f"{line} not in\n{snapshot}"
    # The Edit and Delete buttons work from the keyboard too.
    mine.get_by_role("button", name=re.compile("^Edit your comment")).focus()
    page.keyboard.press("Enter")
    expect(mine.locator("form textarea")).to_be_focused()
    page.keyboard.press("Escape")
    expect(mine.get_by_role("button", name=re.compile("^Edit your comment"))).to_be_focused()
    page.keyboard.press("Tab")
    expect(mine.get_by_role("button", name=re.compile("^Delete your comment"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(mine.get_by_role("button", name="Yes, delete")).to_be_focused()


def test_an_edited_held_comment_keeps_its_place(
    reader: Browsing, sites: LiveServer, unique_uri: str
) -> None:
    page = reader.open(unique_uri, site="held")
    form = page.locator("#comments > form")
    form.get_by_label("Name").fill("Hana")
    for text in ("First held.", "Second held."):
        form.get_by_label("Comment").fill(text)
        form.get_by_role("button", name="Post comment").click()
        expect(page.locator(".mod-held .mod-body").last).to_have_text(text)
    expect(form.locator(".mod-msg")).to_contain_text(
        "You can edit or delete this comment for 15 minutes."
    )
    expect(page.locator(".mod-title")).to_have_text("2 comments")
    first = page.locator(".mod-held").first
    first.get_by_role("button", name=re.compile("^Edit")).click()
    first.locator("form textarea").fill("First held, edited.")
    first.get_by_role("button", name="Save").click()
    expect(page.locator(".mod-held .mod-body")).to_have_text(
        ["First held, edited.", "Second held."]
    )
    reader.reload()
    expect(page.locator(".mod-held .mod-body")).to_have_text(
        ["First held, edited.", "Second held."]
    )
