"""Helpers for the dashboard's tests: a moderator's browser on Flask's test client, and reads of a
comment's status and audit trail."""

from __future__ import annotations

import re

from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment, ModerationEvent
from tests.factories import make_comment

S = CommentStatus
PASSWORD = "correct horse battery"
META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
ROW = re.compile(r'<li class="row" id="c(\d+)"')


class Dashboard:
    """A moderator's browser: signs in through the form, reads CSRF tokens off the pages."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def csrf(self, path="/moderate/login"):
        html = self.client.get(path).get_data(as_text=True)
        return META_CSRF.search(html).group(1)

    def login(self, email, password=PASSWORD, **kw):
        data = {"csrf_token": self.csrf(), "email": email, "password": password}
        response = self.client.post("/moderate/login", data=data, **kw)
        if response.status_code == 303:
            self.token = self.csrf("/moderate/audit")
        return response

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def post(self, path, data=None, follow=False, **kw):
        body = {"csrf_token": self.token, **(data or {})}
        return self.client.post(path, data=body, follow_redirects=follow, **kw)

    def rows(self, path):
        response = self.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


def pending(session, thread, **kw):
    return make_comment(session, thread, status=S.pending, **kw)


def status_of(session, comment):
    session.expire_all()
    return session.get(Comment, comment.id).status


def audit(session, comment):
    session.expire_all()
    query = select(ModerationEvent).where(ModerationEvent.comment_id == comment.id)
    return list(session.scalars(query.order_by(ModerationEvent.id)))


def text(response):
    return response.get_data(as_text=True)
