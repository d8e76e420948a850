"""The dashboard in real headless Chromium against the real app: sign in, work the queue with the
keyboard (j/k/x/a/s/d/u), bulk-mark spam with a shift-click range, search, undo, the help overlay,
and the screenshots in ``docs/``."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from moderation import markup
from moderation.app import create_app
from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import Comment, Moderator, SpamCheck, Thread
from moderation.services import Context, accounts
from moderation.services.moderation import Actor, apply_action
from moderation.services.tokens import Tokens
from moderation.storage import migrations
from moderation.storage.db import Database, utcnow
from tests.conftest import make_settings

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
EMAIL = "editor@blog.example.org"
PASSWORD = "correct horse battery"
S = CommentStatus


def ensure_admin(database: Database, ctx: Context) -> None:
    """An admin to sign in as (the live server is shared by the whole run: create it once)."""
    with database.write() as session:
        if session.scalar(select(Moderator.id).where(Moderator.email == EMAIL)) is None:
            accounts.add_moderator(session, ctx, EMAIL, "admin", PASSWORD)


def statuses(database: Database, ids: list[int]) -> list[CommentStatus]:
    with database.read() as session:
        return [session.get(Comment, i).status for i in ids]


class Dashboard:
    """A signed-in moderator's browser tab; fails the test on any JavaScript error."""

    def __init__(self, browser: Any, url: str, **options: Any) -> None:
        self.url = url
        self.context = browser.new_context(
            viewport=options.pop("viewport", {"width": 1280, "height": 900}), **options
        )
        self.context.set_default_timeout(5000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def login(self) -> None:
        page = self.page
        page.goto(self.url + "/moderate/")
        expect(page).to_have_url(re.compile(r"/moderate/login\?next="))
        page.get_by_label("E-mail").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".topbar .who")).to_contain_text(EMAIL)

    def queue(self, **params: str) -> Any:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        self.page.goto(f"{self.url}/moderate/?{query}")
        return self.page

    def ready(self) -> None:
        """Wait until the page's script has run.

        An action, an undo or a search is a form whose answer is a new page: its text shows before
        the deferred `dashboard.js` runs, and a key pressed or a box clicked in between would be
        lost. The script marks `<html>` with the class `js` as its last step.
        """
        expect(self.page.locator("html")).to_have_class(re.compile(r"\bjs\b"))

    def press(self, key: str) -> None:
        self.ready()
        self.page.keyboard.press(key)

    def rows(self) -> list[int]:
        return [
            int(i)
            for i in self.page.locator(".row").evaluate_all("rs => rs.map(r => r.dataset.id)")
        ]

    def current(self) -> int:
        return int(self.page.locator(".row.current").get_attribute("data-id"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def dash(browser, live_server) -> Iterator[Dashboard]:
    ensure_admin(live_server.database, live_server.context)
    dashboard = Dashboard(browser, live_server.url)
    dashboard.login()
    yield dashboard
    dashboard.close()
    assert not dashboard.errors, f"JavaScript errors on the page: {dashboard.errors}"


def seed(live_server, unique_uri, texts: list[str], **kw: Any) -> list[int]:
    """Pending comments on a page of their own, oldest first; returns their ids."""
    made = []
    for i, text in enumerate(texts):
        made.append(
            live_server.add(
                unique_uri,
                text,
                author=f"Author {i}",
                email=f"a{i}@example.org",
                status=S.pending,
                ago=timedelta(minutes=len(texts) - i),
                **kw,
            )
        )
    return made


def test_login_page_refuses_a_wrong_password(browser, live_server):
    ensure_admin(live_server.database, live_server.context)
    dashboard = Dashboard(browser, live_server.url)
    page = dashboard.page
    page.goto(live_server.url + "/moderate/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
    dashboard.close()
    assert not [e for e in dashboard.errors if "401" not in e]


def test_keyboard_moves_selects_acts_and_undoes(dash, live_server, unique_uri):
    c1, c2, c3, c4 = seed(live_server, unique_uri, ["one", "two", "three", "four"])
    page = dash.queue(site="blog", uri=unique_uri)
    assert dash.rows() == [c4, c3, c2, c1]
    assert dash.current() == c4
    dash.press("j")
    dash.press("j")
    dash.press("k")
    assert dash.current() == c3

    dash.press("a")  # approve the current comment
    expect(page.locator(".notice-success")).to_have_text("1 comment approved.")
    assert dash.rows() == [c4, c2, c1]
    assert dash.current() == c2  # the cursor stays where it was: on the next comment

    dash.press("s")
    expect(page.locator(".notice-success")).to_have_text("1 comment marked as spam.")
    assert dash.rows() == [c4, c1]
    dash.press("u")
    expect(page.locator(".notice-success")).to_contain_text("1 comment restored")
    assert dash.rows() == [c4, c2, c1]
    assert statuses(live_server.database, [c2, c3]) == [S.pending, S.approved]

    dash.press("x")
    dash.press("j")
    dash.press("x")
    expect(page.locator("#selection")).to_have_text("2 selected")
    dash.press("d")  # the selected comments, not just the current one
    expect(page.locator(".notice-success")).to_have_text("2 comments deleted.")
    assert dash.rows() == [c4]
    assert statuses(live_server.database, [c1, c2, c3, c4]) == [
        S.deleted,
        S.deleted,
        S.approved,
        S.pending,
    ]
    dash.press("u")
    expect(page.locator(".notice-success")).to_contain_text("2 comments restored")
    assert statuses(live_server.database, [c1, c2]) == [S.pending, S.pending]


def test_search_then_bulk_spam_a_shift_click_range_and_undo(dash, live_server, unique_uri):
    made = seed(
        live_server,
        unique_uri,
        ["casino bonus", "a real thought", "CASINO spins", "best casino", "thanks!"],
    )
    page = dash.queue(site="blog", uri=unique_uri)
    dash.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("casino")
    dash.press("Enter")
    expect(page.locator(".row")).to_have_count(3)
    casino = [made[3], made[2], made[0]]
    assert dash.rows() == casino

    boxes = page.locator(".row input[name=ids]")
    dash.ready()  # shift-click ranges are the script's
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    expect(page.locator("#selection")).to_have_text("3 selected")
    expect(page.locator(".row.selected")).to_have_count(3)
    page.locator(".toolbar").get_by_role("button", name="Spam", exact=True).click()
    expect(page.locator(".notice-success")).to_have_text("3 comments marked as spam.")
    expect(page.locator(".row")).to_have_count(0)
    assert statuses(live_server.database, made) == [S.spam, S.pending, S.spam, S.spam, S.pending]

    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".notice-success")).to_contain_text("3 comments restored")
    assert statuses(live_server.database, made) == [S.pending] * 5


def test_help_overlay_lists_the_keys(dash, live_server):
    page = dash.queue()
    expect(page.locator("#help")).to_be_hidden()
    dash.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("mark as spam")
    dash.press("Escape")
    expect(page.locator("#help")).to_be_hidden()


def test_an_action_that_does_not_apply_is_explained(dash, live_server, unique_uri):
    (only,) = seed(live_server, unique_uri, ["just one"])
    page = dash.queue(site="blog", uri=unique_uri, status="deleted")
    expect(page.locator(".row")).to_have_count(0)
    page = dash.queue(site="blog", uri=unique_uri)
    dash.press("x")
    dash.press("d")
    expect(page.locator(".notice-success")).to_have_text("1 comment deleted.")
    page = dash.queue(site="blog", uri=unique_uri, status="deleted")
    dash.press("a")  # deleted comments can only be restored
    expect(page.locator("#toast")).to_contain_text("does not apply")
    assert statuses(live_server.database, [only]) == [S.deleted]


# --- screenshots ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def showcase(tmp_path_factory) -> Iterator[Any]:
    """A server of its own with a realistic queue, for the screenshots in docs/."""
    tmp = tmp_path_factory.mktemp("showcase")
    url_db = f"sqlite:///{tmp / 'showcase.sqlite3'}"
    migrations.upgrade(url_db)
    holder: dict[str, Any] = {}
    server = make_server(
        "127.0.0.1", 0, lambda env, start: holder["app"](env, start), threaded=True
    )
    base = f"http://127.0.0.1:{server.server_port}"
    settings = make_settings(
        tmp,
        **{
            "server.public_url": base,
            "database.url": url_db,
            "sites": {
                "blog": {"url": "https://blog.example.org", "origins": [base]},
                "docs": {"url": "https://docs.example.org", "origins": [base]},
            },
        },
    )
    database = Database(url_db)
    ctx = Context(settings=settings, tokens=Tokens.from_settings(settings))
    holder["app"] = create_app(settings, database=database, context=ctx)
    ensure_admin(database, ctx)
    ids = showcase_data(database, ctx)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, ids
    finally:
        server.shutdown()
        server.server_close()
        database.dispose()


SHOWCASE = [
    # (site, uri, title, kind, author, email, website, ip, text, verdict, signals)
    (
        "blog",
        "/2026/01/co-production/",
        "Co-production, ten years on",
        "comment",
        "Priya Natarajan",
        "priya@natarajan.dev",
        "https://priya.dev",
        "203.0.113.24",
        "This matches what we saw in **Leeds**: the residents' panel only worked once it had a real "
        "budget. I wrote up our numbers here: https://priya.dev/notes/panels",
        Verdict.unsure,
        [
            ("rules.links", 1.0, "2 links counting the website (2 or more are held)", "unsure"),
            ("rules.website", 0.2, "first-time author gives a website (priya.dev)", None),
            (
                "classifier",
                -0.6,
                "classifier: 0.07 spam probability (top tokens: 'residents' 0.02)",
                None,
            ),
        ],
    ),
    (
        "blog",
        "/2026/01/co-production/",
        "Co-production, ten years on",
        "pingback",
        "IndieWeb notes",
        "",
        "",
        "198.51.100.80",
        "[…] as the original post on co-production argues, the hard part is the second year […]",
        Verdict.ham,
        [("classifier", -0.4, "classifier: 0.11 spam probability", None)],
    ),
    (
        "blog",
        "/2025/11/ward-budgets/",
        "Ward budgets, explained",
        "comment",
        "cheap-meds-online",
        "sales@pharma-deals.example",
        "http://pharma-deals.example",
        "192.0.2.190",
        "Great post!!! Check out my site for the best deals, click here: http://bit.ly/xyz",
        Verdict.unsure,
        [
            ("rules.promo", 0.8, '"Check out my site"', None),
            ("rules.shortener", 0.6, '"bit.ly"', None),
            ("rules.money", 0.6, '"click here"', None),
            (
                "classifier",
                1.9,
                "classifier: 0.93 spam probability (top tokens: 'deals' 0.97)",
                None,
            ),
        ],
    ),
    (
        "docs",
        "/guide/install/",
        "Installing",
        "comment",
        "Marcus Webb",
        "marcus@webb.example",
        "",
        "2001:db8::7",
        "Does `moderation db upgrade` need to run before *every* start, or only after an upgrade?",
        Verdict.ham,
        [("classifier", -0.8, "classifier: 0.04 spam probability", None)],
    ),
    (
        "blog",
        "/2026/01/co-production/",
        "Co-production, ten years on",
        "comment",
        "Léa Moreau",
        "lea@moreau.example",
        "",
        "203.0.113.71",
        "> the residents' panel only worked once it had a real budget\n\nSame in Lyon. Thank you for "
        "writing this down.",
        Verdict.ham,
        [("classifier", -1.1, "classifier: 0.02 spam probability", None)],
    ),
]


def showcase_data(database: Database, ctx: Context) -> dict[str, int]:
    """Realistic rows: held comments with their signals, plus approved, spam and deleted ones."""
    now = utcnow()
    ids: dict[str, int] = {}
    with database.write() as session:
        threads: dict[tuple[str, str], Thread] = {}

        def thread_for(site: str, uri: str, title: str) -> Thread:
            if (site, uri) not in threads:
                threads[site, uri] = Thread(
                    site=site,
                    uri=uri,
                    title=title,
                    created_at=now,
                    approved_count=0,
                    version=0,
                    closed=False,
                )
                session.add(threads[site, uri])
            return threads[site, uri]

        for n in range(37):
            add(
                session,
                thread_for("blog", "/2026/01/co-production/", SHOWCASE[0][2]),
                S.approved,
                f"Approved comment {n}",
                now - timedelta(days=2, minutes=n),
                ip="203.0.113.24" if n < 2 else "",
            )
        for n in range(212):
            add(
                session,
                thread_for("blog", "/2025/11/ward-budgets/", SHOWCASE[2][2]),
                S.spam,
                f"Buy now {n}",
                now - timedelta(days=1, minutes=n),
                discarded=n % 3 == 0,
            )
        for n in range(4):
            add(
                session,
                thread_for("docs", "/guide/install/", "Installing"),
                S.deleted,
                f"Deleted {n}",
                now - timedelta(days=3, minutes=n),
            )
        for i, row in enumerate(SHOWCASE):
            site, uri, title, kind, author, email, website, ip, text, verdict, signals = row
            comment = add(
                session,
                thread_for(site, uri, title),
                S.pending,
                text,
                now - timedelta(minutes=(len(SHOWCASE) - i) * 7 + 3),
                kind=CommentKind(kind),
                author=author,
                email=email,
                website=website,
                ip=ip,
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
                source="https://notes.example/2026/01/second-year" if kind != "comment" else None,
                verified=True if kind != "comment" else None,
            )
            if i == 0:
                check(
                    session,
                    comment,
                    Verdict.ham,
                    -0.2,
                    [("classifier", -0.2, "classifier: 0.09 spam probability", None)],
                    now - timedelta(hours=1),
                )
            check(session, comment, verdict, sum(s[1] for s in signals), signals, now)
            ids[author] = comment.id
    with database.write() as session:
        first = session.get(Comment, ids["Priya Natarajan"])
        moderator = session.scalars(select(Moderator).where(Moderator.email == EMAIL)).one()
        actor = Actor.moderator(moderator.id, moderator.email)
        from moderation.domain.states import Action

        apply_action(session, ctx, first, Action.approve, actor)
        apply_action(session, ctx, first, Action.hold, actor, "wants a second look at the link")
    return ids


def add(
    session: Any, thread: Thread, status: CommentStatus, text: str, when: Any, **kw: Any
) -> Comment:
    kw.setdefault("author", "Reader")
    kw.setdefault("email", "reader@example.org")
    comment = Comment(
        thread=thread,
        status=status,
        text=text,
        html=markup.render(text),
        kind=kw.pop("kind", CommentKind.comment),
        created_at=when,
        approved_at=when if status is S.approved else None,
        deleted_at=when if status is S.deleted else None,
        **kw,
    )
    if status is S.approved:
        thread.approved_count += 1
    session.add(comment)
    session.flush()
    return comment


def check(
    session: Any, comment: Comment, verdict: Verdict, score: float, signals: list[Any], when: Any
) -> None:
    rows = [
        {"name": n, "score": s, "reason": r, **({"verdict": v} if v else {})}
        for n, s, r, v in signals
    ]
    session.add(
        SpamCheck(
            comment_id=comment.id,
            verdict=verdict,
            score=round(score, 2),
            signals=rows,
            submitted={},
            created_at=when,
        )
    )


def test_screenshots(browser, showcase, tmp_path):
    """docs/dashboard-{queue,detail}.png: written when MODERATION_SCREENSHOTS=1, else to tmp."""
    out = DOCS if os.environ.get("MODERATION_SCREENSHOTS") == "1" else tmp_path
    base, ids = showcase
    dashboard = Dashboard(browser, base, viewport={"width": 1280, "height": 980})
    page = dashboard.page
    dashboard.login()
    dashboard.queue()
    expect(page.locator(".row")).to_have_count(len(SHOWCASE))
    dashboard.press("j")
    page.locator(".row").nth(2).locator("input[name=ids]").check()
    page.locator(".row").nth(3).locator("input[name=ids]").check()
    page.mouse.move(0, 0)
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "dashboard-queue.png"))
    page.goto(f"{base}/moderate/comments/{ids['Priya Natarajan']}")
    expect(page.locator("#checks")).to_contain_text("first-time author gives a website")
    page.screenshot(path=str(out / "dashboard-detail.png"), full_page=True)
    dashboard.close()
    assert not dashboard.errors, dashboard.errors
