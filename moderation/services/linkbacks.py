"""Linkbacks: receive TrackBack, Pingback and Webmention, answer a webmention's status, and
advertise our endpoints (verifying sources is `services.verification`, sending is
`services.sending`).

Receipt is two steps, as a comment's: `prepare_trackback` / `prepare_pingback` /
`prepare_webmention` check the request (length → duplicate → closed → flood) and score it by the
same pipeline as a comment, with no lock held; `store_linkback`, inside the caller's
``with database.write() as tx``, checks again, stores it as pending ("source not verified yet") and
queues a ``verify_linkback`` outbox job; `services.verification` carries it out, so nothing here
is ever approved unverified.
"""

from __future__ import annotations

import dataclasses
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
from moderation.models import Comment, ModerationEvent
from moderation.services import Context, outbox
from moderation.services.comments import (
    ClientInfo,
    Scored,
    check_flood,
    check_open,
    find_thread,
    get_or_create_thread,
    insert_submission,
)
from moderation.services.moderation import SYSTEM, apply_action
from moderation.services.tokens import Tokens, ping_key
from moderation.services.verification import VERIFY, Content, content_html, public_reason

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


@dataclass(frozen=True)
class LinkbackDraft:
    """A linkback checked and scored with no lock held (`prepare_*`): what `store_linkback` writes.

    `resend` names the mention a webmention sent again refers to: it is verified again instead.
    """

    target: Target
    kind: CommentKind
    source: str
    content: Content
    client: ClientInfo
    duplicate_message: str
    scored: Scored | None = None
    resend: int | None = None


def prepare_trackback(
    session: Session,
    ctx: Context,
    site_id: str,
    uri: str,
    ping: lb.TrackbackPing,
    client: ClientInfo,
    key: str = "",
) -> LinkbackDraft:
    """Check and score a TrackBack ping to page `uri` of `site_id`. `key` is the ping URL's key,
    which a site that signs its ping URLs requires (TB-D8).

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
    text = "\n\n".join(
        part for part in (ping.title if ping.title_given else "", ping.excerpt) if part
    )
    content = Content(
        ping.blog_name or lb.host_of(ping.url),
        text or ping.title,
        content_html(ping.title, ping.excerpt),
    )
    draft = LinkbackDraft(
        target, CommentKind.trackback, ping.url, content, client, lb.TRACKBACK_DUPLICATE
    )
    return _scored(session, ctx, draft)


def prepare_pingback(
    session: Session, ctx: Context, source: str, target: str, client: ClientInfo
) -> LinkbackDraft:
    """Check and score a pingback (PB-5…8, PB-12).

    Raises `LinkbackRefused` with the Pingback fault to answer (16, 32, 33, 0), `Duplicate` (48)
    and `ThreadClosed` (33).
    """
    source = lb.check_url(
        source, name="sourceURI", max_chars=lb.MAX_SOURCE_CHARS, fault=lb.FAULT_SOURCE_MISSING
    )
    target = lb.check_url(
        target, name="targetURI", max_chars=lb.MAX_TARGET_CHARS, fault=lb.FAULT_TARGET_MISSING
    )
    if pages.same_resource(source, target):
        raise lb.LinkbackRefused("the source and the target are the same page")
    located = locate_target(ctx, target)
    content = Content(lb.host_of(source), "", "")
    draft = LinkbackDraft(
        located,
        CommentKind.pingback,
        source,
        content,
        client,
        "the pingback has already been registered",
    )
    return _scored(session, ctx, draft)


def prepare_webmention(
    session: Session, ctx: Context, source: str, target: str, client: ClientInfo
) -> LinkbackDraft:
    """Check and score a webmention; a (source, target) pair sent again re-verifies and updates
    the mention it already made (WM-4…7, WM-15).

    Raises `LinkbackRefused` (400) and `ThreadClosed`.
    """
    source, target = lb.check_webmention(source, target)
    located = locate_target(ctx, target)
    content = Content(lb.host_of(source), "", "")
    draft = LinkbackDraft(located, CommentKind.webmention, source, content, client, "")
    thread = find_thread(session, located.site_id, located.uri)
    existing = _existing(session, thread.id, source) if thread else None
    if existing is not None:
        return dataclasses.replace(draft, resend=existing.id)
    return _scored(session, ctx, draft)


def store_linkback(tx: Session, ctx: Context, draft: LinkbackDraft) -> Comment:
    """Write a prepared linkback, inside ``with database.write() as tx``: checked again (another
    may have landed since), stored as pending (never approved before its source is verified),
    its verification queued."""
    if draft.resend is not None:
        existing = tx.get(Comment, draft.resend)
        if existing is not None:
            return _resend(tx, ctx, existing, draft.target)
        draft = _scored(tx, ctx, dataclasses.replace(draft, resend=None))
    _check_new(tx, ctx, draft)
    assert draft.scored is not None
    target = draft.target
    thread = get_or_create_thread(tx, ctx, target.site_id, target.uri, "")
    client, content = draft.client, draft.content
    row = {
        "parent_id": None,
        "kind": draft.kind,
        "author": content.author,
        "email": "",
        "website": draft.source,
        "ip": client.ip,
        "user_agent": client.user_agent,
        "referrer": client.referrer,
        "text": content.text,
        "html": content.html,
        "source": draft.source,
        "verified": None,
        # Verification scores the linkback again with the source's content, and queues a
        # re-check itself if a scorer is still down then. Set, the re-check job could publish
        # the linkback before its source was verified.
        "recheck_reason": None,
    }
    comment = insert_submission(tx, ctx, thread.id, row, draft.scored)
    _queue_verification(tx, ctx, comment, target.url)
    return comment


def _scored(session: Session, ctx: Context, draft: LinkbackDraft) -> LinkbackDraft:
    """The draft checked (duplicate, closed, flood) and scored by the comments' pipeline."""
    _check_new(session, ctx, draft)
    target, client, content = draft.target, draft.client, draft.content
    site = target.site
    submission = Submission(
        kind=draft.kind,
        site=target.site_id,
        site_url=site.url,
        permalink=site.page_url(target.uri),
        text=content.text,
        author=content.author,
        website=draft.source,
        ip=client.ip,
        user_agent=client.user_agent,
        referrer=client.referrer,
        created=ctx.clock(),
        language=site.language,
        source=draft.source,
    )
    assessment = run_pipeline(submission, ctx.scorers_for(session, target.site_id), ctx.thresholds)
    status, reason = decide(
        assessment.verdict, Policy(site.moderation), author_trusted=False, needs_verification=True
    )
    return dataclasses.replace(draft, scored=Scored(submission, assessment, status, reason))


def locate_target(ctx: Context, target: str) -> Target:
    """The site and thread uri a target URL names (its fragment aside); the site with the longest
    base path wins. Raises `LinkbackRefused` (fault 33) for anything else (PB-5, WM-6)."""
    url = target.split("#", 1)[0]
    owners = [(i, s) for i, s in ctx.settings.sites.items() if s.owns(url)]
    if not owners:
        raise lb.LinkbackRefused(
            "the target is not a page of a site served here",
            fault=lb.FAULT_TARGET_INVALID,
            field="target",
        )
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
        raise lb.LinkbackRefused(
            "the target is not a page that takes linkbacks",
            fault=lb.FAULT_TARGET_INVALID,
            field="target",
        )


def _check_new(session: Session, ctx: Context, draft: LinkbackDraft) -> None:
    """Duplicate (TB-9), then closed (§7.1), then WordPress's flood rule by the pinger's IP
    (TB-D5)."""
    target = draft.target
    thread = find_thread(session, target.site_id, target.uri)
    if thread is not None:
        if _existing(session, thread.id, draft.source) is not None:
            raise Duplicate(draft.duplicate_message or "this source was already received")
        check_open(ctx, target.site, thread.created_at, thread.closed)
    check_flood(session, ctx, draft.client.ip, "")


def _existing(session: Session, thread_id: int, source: str) -> Comment | None:
    """The linkback `source` already made on the thread, whatever its protocol or status (TB-9)."""
    query = select(Comment).where(
        Comment.thread_id == thread_id, Comment.source == source, Comment.kind.in_(LINKBACK_KINDS)
    )
    return session.scalars(query.order_by(Comment.id)).first()


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
    reason = _public_status_reason(session, comment, status)
    site = ctx.settings.sites.get(comment.thread.site)
    return {
        "status": status,
        "published": comment.status is CommentStatus.approved,
        "source": comment.source,
        "target": site.page_url(comment.thread.uri) if site else None,
        "reason": reason,
    }


def _public_status_reason(session: Session, comment: Comment, status: str) -> str | None:
    """Why a mention was rejected or deleted, in generic words (`verification.public_reason`):
    the audit log's detail (host names, private addresses, error text) is for moderators only.
    A moderator's own reason is never shown either."""
    if status not in ("rejected", "deleted"):
        return None
    events = session.execute(
        select(ModerationEvent.actor, ModerationEvent.reason, ModerationEvent.to_status)
        .where(ModerationEvent.comment_id == comment.id)
        .order_by(ModerationEvent.id.desc())
    ).all()
    if status == "deleted":
        deletion = next((e for e in events if e.to_status is CommentStatus.deleted), None)
        if deletion is not None and deletion.actor != SYSTEM.label:
            return "removed by a moderator"
    system = next((e for e in events if e.actor == SYSTEM.label), None)
    return public_reason(system.reason if system is not None else "")


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
