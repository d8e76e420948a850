"""Browser tests: the real app on a real SQLite file, served over HTTP, driven by headless Chromium.

Debian's chromium (``/usr/bin/chromium``, or ``MODERATION_CHROMIUM``) is driven by Playwright's Python
package; Playwright's own browser downloads are never used. Without chromium these tests are skipped
with the reason, unless ``MODERATION_REQUIRE_BROWSER=1`` makes that a failure.

The live server serves two sites at its own origin, so the test pages, ``/embed.js`` and the API are
same-origin: ``blog`` (moderation "none") and ``held`` (moderation "all"). Test pages are answered by
Playwright (``page.route``) at ``<server>/t/<n>`` and embed the real script from the server.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from moderation import markup
from moderation.app import create_app
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.models import Comment, Thread
from moderation.services import Context
from moderation.services.moderation import SYSTEM, apply_action
from moderation.services.tokens import Tokens
from moderation.storage.db import Database, utcnow
from moderation.web import current
from tests.conftest import make_settings, reconfigure
from tests.fakes.app_server import app_server

CHROMIUM = os.environ.get("MODERATION_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_BROWSER = os.environ.get("MODERATION_REQUIRE_BROWSER") == "1"
_pages = itertools.count(1)


def chromium_problem() -> str | None:
    """None when chromium and Playwright are usable, else why not."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} does not exist (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed: {exc}"
    return None


@dataclass
class LiveServer:
    """The running app, and shortcuts to arrange data the way moderators and other readers would."""

    url: str
    app: Any
    database: Database
    tmp: Path
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def context(self) -> Any:
        return current.parts(self.app).context

    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """A request from outside the browser: (status, parsed JSON or None, headers)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as err:
            raw, status, hdrs = err.read(), err.code, dict(err.headers)
        return status, json.loads(raw) if raw else None, hdrs

    def post(self, uri: str, text: str, site: str = "blog", **fields: Any) -> dict[str, Any]:
        """Post a comment through the API (as another reader would); returns the JSON answer."""
        status, data, _ = self.api(
            "POST", "/api/v1/comments", {"site": site, "uri": uri, "text": text, **fields}
        )
        assert status in (201, 202), data
        return data

    def add(
        self,
        uri: str,
        text: str = "A comment.",
        *,
        site: str = "blog",
        author: str = "Ann",
        email: str = "",
        website: str = "",
        parent: int | None = None,
        ago: timedelta = timedelta(0),
        html_override: str | None = None,
        status: CommentStatus = CommentStatus.approved,
        kind: CommentKind = CommentKind.comment,
    ) -> int:
        """Store a comment straight in the database (bypassing the API's checks); returns its id."""
        created = utcnow() - ago
        with self.database.write() as session:
            thread = self._thread(session, site, uri)
            comment = Comment(
                thread=thread,
                parent_id=parent,
                kind=kind,
                status=status,
                author=author,
                email=email,
                website=website,
                text=text,
                html=markup.render(text) if html_override is None else html_override,
                created_at=created,
                approved_at=created if status is CommentStatus.approved else None,
                deleted_at=created if status is CommentStatus.deleted else None,
            )
            session.add(comment)
            thread.version += 1
            if status is CommentStatus.approved:
                thread.approved_count += 1
            session.flush()
            return comment.id

    def approve(self, comment_id: int) -> None:
        """What a moderator's "approve" does."""
        with self.database.write() as session:
            comment = session.get(Comment, comment_id)
            assert comment is not None
            apply_action(session, self.context, comment, Action.approve, SYSTEM, "test")

    def close(self, uri: str, site: str = "blog") -> None:
        """Close a thread for new comments."""
        with self.database.write() as session:
            thread = self._thread(session, site, uri)
            session.flush()
            session.execute(
                update(Thread)
                .where(Thread.id == thread.id)
                .values(closed=True, version=Thread.version + 1)
            )

    def _thread(self, session: Any, site: str, uri: str) -> Thread:
        found = session.scalars(select(Thread).where(Thread.site == site, Thread.uri == uri))
        thread = found.first()
        if thread is None:
            thread = Thread(
                site=site,
                uri=uri,
                title=f"Page {uri}",
                created_at=utcnow(),
                version=0,
                approved_count=0,
                closed=False,
            )
            session.add(thread)
        return thread

    @contextmanager
    def settings_override(self, **overrides: Any) -> Iterator[None]:
        """Run with other settings (e.g. a tight rate limit), then restore them."""
        old = self.context.settings
        reconfigure(self.app, settings=make_settings(self.tmp, **{**self.overrides, **overrides}))
        try:
            yield
        finally:
            reconfigure(self.app, settings=old)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The whole app over a migrated SQLite file, on 127.0.0.1 with a free port, in a thread."""
    tmp = tmp_path_factory.mktemp("live")
    with app_server(tmp) as server:
        base = server.url
        overrides = {
            "server.public_url": base,
            "server.demo_site": "blog",
            "database.url": server.db_url,
            "sites": {
                "blog": {"url": base, "origins": [base], "moderation": "none"},
                "held": {"url": base, "origins": [base], "moderation": "all"},
            },
            "guard.flood_seconds": 0,
            "guard.rate_limit": "1000 per minute",
        }
        settings = make_settings(tmp, **overrides)
        # The null scorer, as in the other web tests: every comment is ham, so what the site's
        # policy says decides (the XSS test's payloads would otherwise look like spam to the rules).
        context = Context(settings=settings, tokens=Tokens.from_settings(settings))
        app = create_app(settings, database=server.database, context=context)
        server.serve(app)
        yield LiveServer(url=base, app=app, database=server.database, tmp=tmp, overrides=overrides)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    problem = chromium_problem()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"chromium is required (MODERATION_REQUIRE_BROWSER=1): {problem}")
        pytest.skip(f"chromium not installed: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Browsing:
    """A fresh browser context (its own localStorage: one reader) with page helpers."""

    def __init__(self, browser: Any, server: LiveServer, **options: Any) -> None:
        self.server = server
        self.context = browser.new_context(
            viewport=options.pop("viewport", {"width": 1000, "height": 800}),
            locale=options.pop("locale", "en-US"),
            **options,
        )
        self.context.set_default_timeout(5000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def open(
        self,
        uri: str,
        *,
        site: str = "blog",
        attrs: dict[str, str] | None = None,
        lang: str = "en",
        before: str = "",
        wait: bool = True,
    ) -> Any:
        """Serve a test page embedding the widget for (site, uri) and open it."""
        path = f"/t/{next(_pages)}"
        body = page_html(site, uri, attrs or {}, lang, before)
        self.page.route(
            self.server.url + path,
            lambda route: route.fulfill(status=200, content_type="text/html", body=body),
        )
        self.page.goto(self.server.url + path)
        if wait:
            self.wait_ready()
        return self.page

    def wait_ready(self) -> None:
        self.page.wait_for_selector("#comments[data-state=ready]")

    def reload(self) -> None:
        self.page.reload()
        self.wait_ready()

    def own(self, site: str, uri: str) -> list[dict[str, Any]]:
        """The reader's own-comment entries the widget keeps in localStorage."""
        raw = self.page.evaluate("k => localStorage.getItem(k)", f"moderation:own:{site}:{uri}")
        return json.loads(raw) if raw else []

    def close(self) -> None:
        self.context.close()


PAGE_STYLE = """
body { font: 17px/1.6 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; background: #fff; }
header small { color: #666; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; } header small { color: #9ba4ae; } a { color: #6cb6ff; }
}
"""


def page_html(site: str, uri: str, attrs: dict[str, str], lang: str, before: str) -> str:
    """A blog page embedding the widget, as the contract's "Embedding" section shows."""
    extra = "".join(f' {name}="{html.escape(value)}"' for name, value in attrs.items())
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>A test post</title><style>{PAGE_STYLE}</style></head><body>{before}"
        f'<section id="comments" data-site="{html.escape(site)}" data-uri="{html.escape(uri)}"'
        f'{extra}></section><script src="/embed.js" async></script></body></html>'
    )


@pytest.fixture
def reader(browser: Any, live_server: LiveServer) -> Iterator[Browsing]:
    """One reader in a fresh browser context; the test fails on any uncaught page error."""
    browsing = Browsing(browser, live_server)
    yield browsing
    browsing.close()
    assert not browsing.errors, f"JavaScript errors on the page: {browsing.errors}"


@pytest.fixture
def another_reader(browser: Any, live_server: LiveServer) -> Iterator[Browsing]:
    """A second reader, with a browser context (and localStorage) of their own."""
    browsing = Browsing(browser, live_server)
    yield browsing
    browsing.close()
    assert not browsing.errors, f"JavaScript errors on the page: {browsing.errors}"


@pytest.fixture
def page(reader: Browsing) -> Any:
    """The first reader's page."""
    return reader.page


@pytest.fixture
def new_reader(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Browsing]]:
    """Make readers with context options of one's own (viewport, color scheme, locale)."""
    made: list[Browsing] = []

    def make(**options: Any) -> Browsing:
        browsing = Browsing(browser, live_server, **options)
        made.append(browsing)
        return browsing

    yield make
    for browsing in made:
        browsing.close()
    assert not [e for b in made for e in b.errors]


@pytest.fixture
def unique_uri(request: pytest.FixtureRequest) -> str:
    """A thread uri no other test uses."""
    return f"/{re.sub(r'[^A-Za-z0-9_-]+', '-', request.node.name)}/{next(_pages)}/"
