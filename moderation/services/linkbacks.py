"""Linkbacks: receive TrackBack, Pingback and Webmention, answer a webmention's status, and
advertise our endpoints (verifying sources is `services.verification`, sending is
`services.sending`).

Receipt is synchronous and cheap: the request is checked (length → duplicate → closed), scored by
the same pipeline as a comment, stored as pending ("source not verified yet") and a
``verify_linkback`` outbox job is queued; `services.verification` carries it out, so nothing here
is ever approved unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.config import Settings, SiteSettings
from moderation.domain import linkbacks as lb
from moderation.domain import pages
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Submission, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import Duplicate, InvalidInput, NotFound
from moderation.models import Comment, ModerationEvent, Thread
from moderation.services import Context, outbox
from moderation.services.comments import (
    ClientInfo,
    check_flood,
    check_open,
    find_thread,
    get_or_create_thread,
    store_submission,
    submission_rows,
)
from moderation.services.moderation import SYSTEM, apply_action
from moderation.services.tokens import Tokens, ping_key
from moderation.services.verification import VERIFY, Content, content_html

GIVE_UP_AFTER = timedelta(minutes=30)  # with the default back-off: about six tries
STATUS_SALT = "webmention-status"
LINKBACK_KINDS = (CommentKind.trackback, CommentKind.pingback, CommentKind.webmention)


@dataclass(frozen=True)
class Target:
    """A page of a configured site that a linkback points at, and the URL as the sender wrote it."""

    site_id: str
    site: SiteSettings
    uri: str
    url: str


# --- receiving ----------------------------------------------------------------------------------


def receive_trackback(
    session: Session, ctx: Context, site_id: str, uri: str, ping: lb.TrackbackPing,
    client: ClientInfo, key: str = "",
) -> Comment:  # fmt: skip
    """Store a TrackBack ping to page `uri` of `site_id` as pending, and queue its verification.
    `key` is the ping URL's key, which a site that signs its ping URLs requires (TB-D8).

    Raises `LinkbackRefused` (unknown site or page, a page pinging itself, a missing or wrong
    key), `Duplicate` (TB-9), `ThreadClosed` (TB-8).
    """
    site = ctx.settings.sites.get(site_id)
    if site is None:
        raise lb.LinkbackRefused("no such site", fault=lb.FAULT_TARGET_INVALID)
    _check_uri(uri)
    if site.signed_trackback_urls and not ctx.tokens.check_page_key(site_id, uri, key):
        raise lb.LinkbackRefused("not a TrackBack URL of this site: ping the one the page gives")
    target = Target(site_id, site, uri, site.page_url(uri))
    if pages.same_resource(ping.url, target.url):
        raise lb.LinkbackRefused("a page cannot ping itself", field="url")
    _check_new(session, ctx, target, ping.url, lb.TRACKBACK_DUPLICATE)
    text = "\n\n".join(
        part for part in (ping.title if ping.title_given else "", ping.excerpt) if part
    )
    content = Content(ping.blog_name or lb.host_of(ping.url), text or ping.title,
                      content_html(ping.title, ping.excerpt))  # fmt: skip
    return _receive(session, ctx, target, CommentKind.trackback, ping.url, content, client)


def receive_pingback(
    session: Session, ctx: Context, source: str, target: str, client: ClientInfo
) -> Comment:
    """Store a pingback as pending and queue its verification (PB-5…8, PB-12).

    Raises `LinkbackRefused` with the Pingback fault to answer (16, 32, 33, 0), `Duplicate` (48)
    and `ThreadClosed` (33).
    """
    source = lb.check_url(source, name="sourceURI", max_chars=lb.MAX_SOURCE_CHARS,
                          fault=lb.FAULT_SOURCE_MISSING)  # fmt: skip
    target = lb.check_url(target, name="targetURI", max_chars=lb.MAX_TARGET_CHARS,
                          fault=lb.FAULT_TARGET_MISSING)  # fmt: skip
    if pages.same_resource(source, target):
        raise lb.LinkbackRefused("the source and the target are the same page")
    located = locate_target(ctx, target)
    _check_new(session, ctx, located, source, "the pingback has already been registered")
    content = Content(lb.host_of(source), "", "")
    return _receive(session, ctx, located, CommentKind.pingback, source, content, client)


def receive_webmention(
    session: Session, ctx: Context, source: str, target: str, client: ClientInfo
) -> Comment:
    """Store a webmention as pending and queue its verification; a (source, target) pair sent
    again re-verifies and updates the mention it already made (WM-4…7, WM-15).

    Raises `LinkbackRefused` (400) and `ThreadClosed`.
    """
    source, target = lb.check_webmention(source, target)
    located = locate_target(ctx, target)
    thread = find_thread(session, located.site_id, located.uri)
    existing = _existing(session, thread, source) if thread else None
    if existing is not None:
        return _resend(session, ctx, existing, located)
    if thread is not None:
        check_open(ctx, located.site, thread)
    content = Content(lb.host_of(source), "", "")
    return _receive(session, ctx, located, CommentKind.webmention, source, content, client)


def locate_target(ctx: Context, target: str) -> Target:
    """The site and thread uri a target URL names (its fragment aside); the site with the longest
    base path wins. Raises `LinkbackRefused` (fault 33) for anything else (PB-5, WM-6)."""
    url = target.split("#", 1)[0]
    owners = [(i, s) for i, s in ctx.settings.sites.items() if s.owns(url)]
    if not owners:
        raise lb.LinkbackRefused("the target is not a page of a site served here",
                                 fault=lb.FAULT_TARGET_INVALID, field="target")  # fmt: skip
    site_id, site = max(owners, key=lambda pair: len(urlsplit(pair[1].url).path))
    uri = site.uri_of(url)
    _check_uri(uri)
    return Target(site_id, site, uri, target)


def _check_uri(uri: str) -> None:
    if (
        not uri.startswith("/")
        or uri.startswith("//")
        or len(uri) > 1024
        or any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in uri)
    ):
        raise lb.LinkbackRefused("the target is not a page that takes linkbacks",
                                 fault=lb.FAULT_TARGET_INVALID, field="target")  # fmt: skip


def _check_new(session: Session, ctx: Context, target: Target, source: str, dup: str) -> None:
    """Duplicate, then closed (§7.1), before anything is written: a refusal answers HTTP 200 in
    TrackBack and XML-RPC, so the request's unit of work would commit whatever came before."""
    thread = find_thread(session, target.site_id, target.uri)
    if thread is None:
        return
    if _existing(session, thread, source) is not None:
        raise Duplicate(dup)
    check_open(ctx, target.site, thread)


def _existing(session: Session, thread: Thread, source: str) -> Comment | None:
    """The linkback `source` already made on `thread`, whatever its protocol or status (TB-9)."""
    query = select(Comment).where(
        Comment.thread_id == thread.id, Comment.source == source, Comment.kind.in_(LINKBACK_KINDS)
    )
    return session.scalars(query.order_by(Comment.id)).first()


def _receive(
    session: Session, ctx: Context, target: Target, kind: CommentKind, source: str,
    content: Content, client: ClientInfo,
) -> Comment:  # fmt: skip
    """Flood check, score, store as pending (never approved before verification), queue the check."""
    check_flood(session, ctx, client.ip, "")  # TB-D5: WordPress's flood rule, by the pinger's IP
    site = target.site
    submission = Submission(
        kind=kind, site=target.site_id, site_url=site.url, permalink=site.page_url(target.uri),
        text=content.text, author=content.author, website=source, ip=client.ip,
        user_agent=client.user_agent, referrer=client.referrer, created=ctx.clock(),
        language=site.language, source=source,
    )  # fmt: skip
    assessment = run_pipeline(submission, ctx.scorers_for(session, target.site_id), ctx.thresholds)
    status, reason = decide(assessment.verdict, Policy(site.moderation), author_trusted=False,
                            needs_verification=True)  # fmt: skip
    comment = Comment(
        thread=get_or_create_thread(session, ctx, target.site_id, target.uri, ""),
        kind=kind, status=CommentStatus.pending, author=content.author, website=source,
        ip=client.ip, user_agent=client.user_agent, referrer=client.referrer, text=content.text,
        html=content.html, created_at=ctx.clock(), source=source, verified=None,
    )  # fmt: skip
    store_submission(
        session, ctx, comment, submission_rows(ctx, submission, assessment, status, reason)
    )
    # Verification scores the linkback again with the source's content, and queues a re-check
    # itself if a scorer is still down then. Left set, the re-check job could publish the
    # linkback before its source was verified.
    comment.recheck_reason = None
    _queue_verification(session, ctx, comment, target.url)
    return comment


def _resend(session: Session, ctx: Context, comment: Comment, target: Target) -> Comment:
    """A webmention sent again: verify it again. One the system removed comes back to the queue;
    one a moderator removed stays removed."""
    if comment.status is CommentStatus.deleted:
        if _deleted_by(session, comment) != SYSTEM.label:
            return comment
        apply_action(session, ctx, comment, Action.restore, SYSTEM, "the source was sent again")
    comment.verified = None
    _queue_verification(session, ctx, comment, target.url)
    return comment


def _queue_verification(session: Session, ctx: Context, comment: Comment, target: str) -> None:
    give_up = ctx.clock() + GIVE_UP_AFTER
    payload = {"comment_id": comment.id, "target": target, "give_up_at": give_up.isoformat()}
    outbox.enqueue(session, ctx, VERIFY, payload)


def _deleted_by(session: Session, comment: Comment) -> str | None:
    """Who deleted the comment last (the actor of its latest audit row that deleted it)."""
    query = select(ModerationEvent.actor).where(
        ModerationEvent.comment_id == comment.id, ModerationEvent.to_status == CommentStatus.deleted
    )
    return session.scalars(query.order_by(ModerationEvent.id.desc()).limit(1)).first()


# --- the status resource (webmentions) --------------------------------------------------------------


def _status_serializer(ctx: Context) -> URLSafeSerializer:
    # Not timed: a sender may poll as long as the mention exists. The last key signs (rotation).
    return URLSafeSerializer(list(ctx.settings.server.secret_key), salt=STATUS_SALT)


def status_token(ctx: Context, comment: Comment) -> str:
    """The opaque id of a webmention's status resource (signed, so ids cannot be enumerated)."""
    return str(_status_serializer(ctx).dumps(comment.id))


def webmention_status(session: Session, ctx: Context, token: str) -> dict[str, Any]:
    """``{status: pending|verified|rejected|deleted, published, source, target, reason}`` (WM-14).

    Raises `NotFound` for a bad token or a mention that no longer exists.
    """
    try:
        comment_id = _status_serializer(ctx).loads(token)
    except (BadData, UnicodeError, ValueError):
        raise NotFound("no such webmention") from None
    comment = session.get(Comment, comment_id) if isinstance(comment_id, int) else None
    if comment is None or comment.kind not in LINKBACK_KINDS:
        raise NotFound("no such webmention")
    if comment.status is CommentStatus.deleted:
        status = "deleted"
    else:
        status = {None: "pending", True: "verified", False: "rejected"}[comment.verified]
    reason = session.scalars(
        select(ModerationEvent.reason).where(ModerationEvent.comment_id == comment.id)
        .order_by(ModerationEvent.id.desc()).limit(1)
    ).first()  # fmt: skip
    site = ctx.settings.sites.get(comment.thread.site)
    return {
        "status": status,
        "published": comment.status is CommentStatus.approved,
        "source": comment.source,
        "target": site.page_url(comment.thread.uri) if site else None,
        "reason": reason if status in ("rejected", "deleted") else None,
    }


# --- advertising ---------------------------------------------------------------------------------


def discovery(
    settings: Settings, tokens: Tokens, site_id: str, uri: str, title: str = ""
) -> lb.Discovery:
    """The discovery markup and headers for page `uri` of `site_id` (TB-15)."""
    site = settings.sites.get(site_id)
    if site is None:
        raise InvalidInput("unknown site", fields={"site": "no such site"})
    key = ping_key(tokens, site, site_id, uri)
    public_url = settings.server.public_url
    return lb.discovery_markup(public_url, site_id, uri, site.page_url(uri), title, key)


def page_discovery(session: Session, ctx: Context, site_id: str, uri: str) -> lb.Discovery:
    """`discovery`, with the thread's title when the page has a thread."""
    thread = find_thread(session, site_id, uri)
    return discovery(ctx.settings, ctx.tokens, site_id, uri, thread.title if thread else "")
