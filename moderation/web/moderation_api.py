"""Blueprint ``moderation_api`` (``/api/v1/moderation``): the queue and its actions for scripts.

Authentication is ``Authorization: Bearer <token>`` (tokens from ``moderation tokens create``, stored
as SHA-256); there is no session cookie, so the blueprint is exempt from CSRF. Every answer is JSON;
a missing, unknown or revoked token is 401 before anything else is looked at.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from moderation.db import get_session
from moderation.domain.states import Action, CommentKind
from moderation.models import Comment, SpamCheck
from moderation.services import Context, accounts, queue_filters
from moderation.services import queue as queue_service
from moderation.services.moderation import Actor, apply_action
from moderation.services.threads import public_comment
from moderation.web.errors import json_error

bp = Blueprint("moderation_api", __name__, url_prefix="/api/v1/moderation")

API_ACTIONS = ("approve", "spam", "ham", "delete", "restore")


def _ctx() -> Context:
    return current_app.extensions["moderation.context"]


def moderator_comment(ctx: Context, comment: Comment, check: SpamCheck | None) -> dict[str, Any]:
    """M, a moderator's view of a comment: the public C plus what only moderators see."""
    data = public_comment(ctx, comment)
    data.update(
        status=comment.status.value,
        site=comment.thread.site,
        uri=comment.thread.uri,
        email=comment.email,
        ip=comment.ip,
        user_agent=comment.user_agent,
        text=comment.text,
        spam={
            "verdict": check.verdict.value if check else None,
            "score": check.score if check else None,
            "signals": list(check.signals) if check else [],
        },
    )
    if comment.kind is not CommentKind.comment:
        data.update(source=comment.source, verified=comment.verified)
    return data


def bearer_token() -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ``""``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@bp.before_request
def _authenticate() -> Response | None:
    """401 unless the request carries a valid, unrevoked token; the token names the actor."""
    token = accounts.find_api_token(get_session(), _ctx(), bearer_token())
    if token is None:
        response = json_error(401, "unauthorized", "send a valid API token: Authorization: Bearer")
        response.headers["WWW-Authenticate"] = 'Bearer realm="moderation"'
        return response
    g.api_actor = Actor(f"token:{token.name}")
    return None


@bp.get("/comments")
def list_comments() -> Response:
    """The queue, newest first: ``status``, ``site``, ``kind``, ``q``, ``limit``, ``cursor``."""
    sites = _ctx().settings.sites
    f = queue_filters.parse_filter(request.args, sites)
    limit, cursor = queue_filters.parse_page(request.args)
    page = queue_service.list_queue(get_session(), f, limit=limit, cursor=cursor)
    comments = [moderator_comment(_ctx(), i.comment, i.check) for i in page.items]
    return jsonify({"comments": comments, "next": str(page.next) if page.next else None})


@bp.post(f"/comments/<int:comment_id>/<any({','.join(API_ACTIONS)}):action>")
def act(comment_id: int, action: str) -> Response:
    """One action on one comment: 200 with the updated comment, 409 when it does not apply."""
    session = get_session()
    comment = queue_service.find_comment(session, comment_id)
    apply_action(session, _ctx(), comment, Action(action), g.api_actor)
    check = queue_service.latest_checks(session, [comment.id]).get(comment.id)
    return jsonify(moderator_comment(_ctx(), comment, check))
