"""Blueprint ``moderation_api`` (``/api/v1/moderation``): the queue and its actions for scripts.

Authentication is ``Authorization: Bearer <token>`` (tokens from ``moderation tokens create``, stored
as SHA-256); there is no session cookie, so the blueprint is exempt from CSRF. Every answer is JSON;
a missing, unknown or revoked token, or one whose moderator is deactivated, is 401 before anything
else is looked at. A moderator's token sees their sites only (`accounts.token_sites`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.orm import Session

from moderation.domain.states import Action, CommentKind
from moderation.models import Comment, SpamCheck
from moderation.services import Context, accounts, queue_filters
from moderation.services import queue as queue_service
from moderation.services.moderation import Actor, apply_action
from moderation.services.threads import public_comment
from moderation.web import current
from moderation.web.errors import json_error

bp = Blueprint("moderation_api", __name__, url_prefix="/api/v1/moderation")

API_ACTIONS = ("approve", "spam", "ham", "delete", "restore")


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
    """401 unless the request carries a valid, unrevoked token of no moderator or of an active
    one (`accounts.find_api_token`); the token names the actor."""
    token = accounts.find_api_token(current.session(), bearer_token())
    if token is None:
        response = json_error(401, "unauthorized", "send a valid API token: Authorization: Bearer")
        response.headers["WWW-Authenticate"] = 'Bearer realm="moderation"'
        return response
    g.api_actor = Actor(f"token:{token.name}")
    g.api_sites = accounts.token_sites(current.session(), token)  # a moderator's token: theirs
    g.api_token_use = token.id if accounts.token_use_due(current.context(), token) else None
    return None


def _record_token_use(tx: Session) -> None:
    """Inside the request's write: when the token was last used (at most once a minute)."""
    if g.api_token_use is not None:
        accounts.record_token_use(tx, current.context(), g.api_token_use)


@bp.get("/comments")
def list_comments() -> Response:
    """The queue, newest first: ``status``, ``site``, ``kind``, ``q``, ``limit``, ``cursor``."""
    sites = current.context().settings.sites
    f = queue_filters.parse_filter(request.args, sites).but(scope=g.api_sites)
    limit, cursor = queue_filters.parse_page(request.args)
    page = queue_service.list_queue(current.session(), f, limit=limit, cursor=cursor)
    if g.api_token_use is not None:
        with current.write() as tx:
            _record_token_use(tx)
    comments = [moderator_comment(current.context(), i.comment, i.check) for i in page.items]
    return jsonify({"comments": comments, "next": str(page.next) if page.next else None})


@bp.post(f"/comments/<int:comment_id>/<any({','.join(API_ACTIONS)}):action>")
def act(comment_id: int, action: str) -> Response:
    """One action on one comment: 200 with the updated comment, 409 when it does not apply."""
    with current.write() as tx:
        _record_token_use(tx)
        comment = queue_service.find_comment(tx, comment_id, g.api_sites)
        apply_action(tx, current.context(), comment, Action(action), g.api_actor)
        check = queue_service.latest_checks(tx, [comment.id]).get(comment.id)
        answer = moderator_comment(current.context(), comment, check)
    return jsonify(answer)
