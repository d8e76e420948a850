"""Helpers shared by the linkback service tests (``test_linkbacks_*.py``): the pinged post, the
pinging client, source pages on a `FakeSite`, receiving each protocol and running the verification
jobs the way the worker does.
"""

from __future__ import annotations

from sqlalchemy import select

from moderation.config import FetchSettings
from moderation.domain import linkbacks as lb
from moderation.models import Comment, ModerationEvent, OutboxEntry
from moderation.net.fetcher import Fetcher
from moderation.services import build_context, outbox, verification
from moderation.services import linkbacks as service
from moderation.services.comments import ClientInfo
from moderation.services.moderation import Actor
from tests.conftest import make_settings
from tests.fakes.web_site import MB, FakeSite, default_dns, send
from tests.services.helpers import receive, stored

TARGET = "https://blog.example.org/post/"
PINGER = ClientInfo(ip="198.51.100.20", user_agent="WordPress/6.5; https://pinger.example")
MODERATOR = Actor("moderator:mod@example.org")


def make_fetcher(dns, **kw) -> Fetcher:
    timeout = kw.pop("timeout", 2.0)
    settings = FetchSettings(
        allow_private=False, timeout=timeout, max_bytes=kw.pop("max_bytes", MB)
    )
    return Fetcher(settings, resolver=dns, per_host_per_minute=1000, **kw)


def page(body: str, status: int = 200, ctype: str = "text/html; charset=utf-8", **headers):
    return lambda h: send(h, status, body.encode(), ctype, **headers)


def serve(site: FakeSite, path: str, body: str, **kw) -> str:
    """Put a page on the source site; returns its public URL."""
    site.routes[path] = page(body, **kw)
    return site.url(path)


def linking(target: str = TARGET, title: str = "A reply", extra: str = "") -> str:
    return (
        f"<!doctype html><title>{title}</title><body><p>Some words before. "
        f"As <a href='{target}'>this post</a> says, words after.</p>{extra}</body>"
    )


def verify(session, database, ctx) -> list[float | None]:
    """Run every verification job that is due, as the worker does after the commit."""
    session.flush()
    due = session.scalars(
        select(OutboxEntry.id).where(
            OutboxEntry.kind == verification.VERIFY, OutboxEntry.done_at.is_(None)
        )
    ).all()
    delays = [outbox.run_entry(database, ctx, entry_id) for entry_id in due]
    session.expire_all()
    return delays


def events(session, comment) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(ModerationEvent)
        .where(ModerationEvent.comment_id == comment.id)
        .order_by(ModerationEvent.id)
    )
    return [(e.action, e.to_status.value, e.reason) for e in rows]


def received(session, database, ctx, prepare, *args, **kwargs) -> Comment:
    """A linkback received as its endpoint takes it (`prepare` on a read session, then
    `store_linkback` in one write); the stored row, in `session`."""
    session.flush()  # what the test changed through `session` is committed first
    return stored(session, receive(database, ctx, prepare, *args, **kwargs))


def pingback(session, database, ctx, clock, source: str, target: str = TARGET) -> Comment:
    clock.advance(60)
    return received(session, database, ctx, service.prepare_pingback, source, target, PINGER)


def webmention(session, database, ctx, clock, source: str, target: str = TARGET) -> Comment:
    clock.advance(60)
    return received(session, database, ctx, service.prepare_webmention, source, target, PINGER)


def trackback(session, database, ctx, clock, url: str, uri: str = "/post/", **fields) -> Comment:
    clock.advance(60)
    ping = lb.parse_trackback({"url": url, **fields})
    return received(session, database, ctx, service.prepare_trackback, "blog", uri, ping, PINGER)


def build_ctx(tmp_path, clock, database, **overrides):
    from moderation.runtime.jobs import Jobs

    # Rules and Akismet; the shared classifier needs the built base model, which is not at issue here.
    overrides = {"jobs.immediate": False, "spam.classifier": False, **overrides}
    settings = make_settings(tmp_path, **overrides)
    ctx = build_context(settings, clock=clock, fetcher=make_fetcher(default_dns()))
    return Jobs(settings, database, ctx).ctx
