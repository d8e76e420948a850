"""Helpers shared by the linkback endpoint tests (``test_linkbacks_*.py``): the pinged post, the
TrackBack success body, the receiving side's fetcher and source pages on a `FakeSite`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from moderation.config import FetchSettings
from moderation.models import Comment
from moderation.net.fetcher import Fetcher
from tests.fakes.web_site import FakeSite, default_dns, send

TARGET = "https://blog.example.org/post/"
OK_BODY = b'<?xml version="1.0" encoding="utf-8"?>\n<response>\n<error>0</error>\n</response>\n'


def receiving_fetcher() -> Fetcher:
    """The receiving side's fetcher: private addresses refused; public.test is the FakeSite."""
    settings = FetchSettings(allow_private=False, timeout=2.0)
    return Fetcher(settings, resolver=default_dns(), per_host_per_minute=1000)


def linking(target: str = TARGET, title: str = "A reply") -> bytes:
    return (
        f"<!doctype html><title>{title}</title><p>Before. <a href='{target}'>The post</a> "
        "said it well. After.</p>"
    ).encode()


def source(site: FakeSite, path: str = "/reply", body: bytes | None = None, **kw: Any) -> str:
    page = linking() if body is None else body
    site.routes[path] = lambda h: send(h, kw.get("status", 200), page)
    return site.url(path)


def comments(session) -> list[Comment]:
    session.expire_all()
    return list(session.scalars(select(Comment).order_by(Comment.id)))
