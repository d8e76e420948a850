"""Helpers for the moderation queue's tests: `S` for `CommentStatus`, a pending comment, the ids on
a page."""

from __future__ import annotations

from moderation.domain.states import CommentStatus
from tests.factories import make_comment

S = CommentStatus


def pending(session, thread, **kw):
    return make_comment(session, thread, status=S.pending, **kw)


def ids(page):
    return [item.comment.id for item in page.items]
