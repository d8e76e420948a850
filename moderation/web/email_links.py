"""Blueprint ``email_links``: the one-click links in moderator mails, ``/moderate/act/<token>``.

GET only shows what the link would do and a confirmation form; it changes nothing, because mail
scanners and link previews fetch every link in a mail. The form's POST (CSRF-checked like every
other POST) acts. The token itself is the credential: no sign-in is needed.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template
from markupsafe import Markup

from moderation import markup
from moderation.domain.states import Action, CommentStatus
from moderation.errors import (
    InvalidTransition,
    ModerationError,
    NotFound,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import Comment
from moderation.services import notify, spam_filter
from moderation.web import current
from moderation.web.security import set_page_security_headers

bp = Blueprint("email_links", __name__)

# (exception class, HTTP status, page title); the first class that matches wins.
REFUSALS: list[tuple[type[ModerationError], int, str]] = [
    (notify.LinkUsed, 410, "This link was already used"),
    (TokenExpired, 410, "This link has expired"),
    (TokenInvalid, 403, "This link is not valid"),
    (NotFound, 404, "This comment no longer exists"),
    (InvalidTransition, 409, "This comment was moderated in the meantime"),
]
ASKS = {
    Action.approve: "approve this {kind} and publish it",
    Action.spam: "mark this {kind} as spam",
    Action.delete: "delete this {kind}",
}
DONE = {
    CommentStatus.approved: "Approved: the comment is published.",
    CommentStatus.spam: "Marked as spam: the comment is hidden.",
    CommentStatus.deleted: "Deleted: the comment is gone from the page.",
}


def _page(template: str, status: int = 200, **values: object) -> Response:
    """A page that search engines skip; the security headers are `_security_headers`'."""
    comment = values.get("comment")
    if isinstance(comment, Comment):
        values["comment_html"] = comment_html(comment)
    response = make_response(render_template(f"email_links/{template}", **values), status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def comment_html(comment: Comment) -> Markup:
    """The comment's HTML cleaned again as it is shown: rows stored before today's rules (a
    protocol-relative link, say) are shown by today's (`markup.clean`)."""
    return markup.sanitized(comment.html)


@bp.after_request
def _security_headers(response: Response) -> Response:
    """Every page here, refusals and CSRF errors included, sends the dashboard's headers: it shows
    a stranger's text, and its URL is a credential (no cache, no Referer to other sites)."""
    return set_page_security_headers(response)


@bp.get("/moderate/act/<token>")
def confirm(token: str) -> Response:
    """What the link would do, and a button to do it."""
    ctx = current.context()
    link, comment = notify.check_link(current.session(), ctx, token)
    site = ctx.settings.sites.get(comment.thread.site)
    ask = ASKS[link.action].format(kind=comment.kind.value)
    return _page(
        "confirm.html",
        link=link,
        comment=comment,
        site=site,
        ask=ask,
        label=notify.ACTION_LABELS[link.action],
    )


@bp.post("/moderate/act/<token>")
def act(token: str) -> Response:
    """Carry out the confirmed link and say what happened."""
    ctx = current.context()
    with current.write() as tx, spam_filter.watch_spam_cutoffs(tx) as rose:
        link, comment = notify.act_on_link(tx, ctx, token)
        site = ctx.settings.sites.get(comment.thread.site)
    return _page(
        "done.html",
        link=link,
        comment=comment,
        site=site,
        message=DONE[comment.status],
        raised=[spam_filter.raise_words(*entry) for entry in rose],
    )


@bp.errorhandler(ModerationError)
def refused(exc: ModerationError) -> Response:
    """A link that cannot act, as a page that says why (the request's changes are rolled back)."""
    status, title = next(
        ((status, title) for cls, status, title in REFUSALS if isinstance(exc, cls)),
        (400, "This link cannot be used"),
    )
    return _page("refused.html", status, title=title, message=_sentence(exc.message))


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
