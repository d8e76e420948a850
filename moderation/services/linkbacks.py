"""Linkbacks: receive TrackBack, Pingback and Webmention, verify every source in the background,
and advertise our endpoints (sending is `services.sending`).

Receipt is synchronous and cheap: the request is checked (length → duplicate → closed), scored by
the same pipeline as a comment, stored as pending ("source not verified yet") and a
``verify_linkback`` outbox job is queued. The job fetches the source with the hardened `Fetcher`
outside any transaction, then, in one unit of work: a source that links to the exact target is
marked verified, its title, excerpt and author are read (an h-entry through mf2py, else the page
title and the text around the link), the new content is scored again, and the site's policy
decides; any other answer marks it spam (or removes it, for a published mention whose source is
gone or no longer links). A source that is down or slow is retried with the outbox's back-off
(the handler raises) until `GIVE_UP_AFTER`, then rejected. Nothing here is ever approved unverified.
"""

from __future__ import annotations

import dataclasses
import enum
import html as html_lib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation import markup
from moderation.config import Settings, SiteSettings
from moderation.db import Database
from moderation.domain import linkbacks as lb
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Submission, Verdict, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import Duplicate, InvalidInput, InvalidTransition, NotFound

# Sending reuses the fetcher's URL checks, pinned connections and error mapping (the underscored
# names) rather than a second copy of that security-critical code; a public `Fetcher.post` would
# be the tidier home for it.
from moderation.fetch import (
    Fetcher,
    FetchError,
    FetchFailed,
    HostRateLimited,
    Timeout,
)
from moderation.models import Comment, ModerationEvent, Thread
from moderation.scorers.heuristics import SOURCE_ADDRESSES
from moderation.services import Context, outbox
from moderation.services.comments import (
    ClientInfo,
    check_flood,
    check_open,
    find_thread,
    get_or_create_thread,
    record_check,
    store_submission,
)
from moderation.services.moderation import SYSTEM, apply_action, bump_thread, record_event
from moderation.services.tokens import Tokens, ping_key

log = logging.getLogger(__name__)

VERIFY = "verify_linkback"
GIVE_UP_AFTER = timedelta(minutes=30)  # with the default back-off: about six tries
NO_LINK = "source does not link to the target"
NO_LONGER = "source no longer links to the target"
STATUS_SALT = "webmention-status"
LINKBACK_KINDS = (CommentKind.trackback, CommentKind.pingback, CommentKind.webmention)
SHORT_CONTENT = 500  # an h-entry's content up to this many characters is shown whole


class SourceUnavailable(Exception):
    """The source could not be fetched this time; the outbox tries again later."""


@dataclass(frozen=True)
class Target:
    """A page of a configured site that a linkback points at, and the URL as the sender wrote it."""

    site_id: str
    site: SiteSettings
    uri: str
    url: str


@dataclass(frozen=True)
class Content:
    """What a linkback shows: `html` is sanitized, `text` is plain."""

    author: str
    text: str
    html: str


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
    if lb.same_resource(ping.url, target.url):
        raise lb.LinkbackRefused("a page cannot ping itself", field="url")
    _check_new(session, ctx, target, ping.url, lb.TRACKBACK_DUPLICATE)
    text = "\n\n".join(
        part for part in (ping.title if ping.title_given else "", ping.excerpt) if part
    )
    content = Content(ping.blog_name or lb.host_of(ping.url), text or ping.title,
                      _html(ping.title, ping.excerpt))  # fmt: skip
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
    if lb.same_resource(source, target):
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
    store_submission(session, ctx, comment, submission, assessment, status, reason)
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


def _html(title: str, excerpt: str) -> str:
    """Sanitized HTML for a title (bold) and an excerpt, both plain text (TB-10, TB-11)."""
    parts = [f"<p><strong>{html_lib.escape(title)}</strong></p>"] if title else []
    if excerpt:
        parts.append(f"<p>{html_lib.escape(excerpt)}</p>")
    return markup.clean("".join(parts))


# --- verifying ----------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    """What fetching the source showed."""

    verified = "verified"
    no_link = "no_link"
    gone = "gone"  # 410: the source was deleted
    refused = "refused"  # the fetcher would not fetch it (private address, not HTML, ...)
    unavailable = "unavailable"  # down, slow or erroring: worth another try


@dataclass(frozen=True)
class SourceCheck:
    """The outcome, in words for moderators, and (when verified) what the source says."""

    outcome: Outcome
    reason: str
    content: Content | None = None
    # TB-D2: the addresses the source's host resolves to (trackbacks only; empty when unknown).
    source_addresses: tuple[str, ...] = ()


def fetcher_for(ctx: Context) -> Fetcher:
    """The process's one `Fetcher` (tests put theirs in ``ctx.extras["fetcher"]``)."""
    fetcher = ctx.extras.get("fetcher")
    if fetcher is None:
        fetcher = ctx.extras["fetcher"] = Fetcher(ctx.settings.fetch)
    return fetcher


def check_source(fetcher: Fetcher, source: str, target: str) -> SourceCheck:
    """Fetch `source` and look for a link to exactly `target` (WM-11, WM-12, PB-9, PB-10)."""
    try:
        result = fetcher.fetch(source)
    except (Timeout, FetchFailed, HostRateLimited) as exc:
        return SourceCheck(Outcome.unavailable, f"could not fetch the source: {exc.reason}")
    except FetchError as exc:
        return SourceCheck(Outcome.refused, f"the source was not fetched: {exc.reason}")
    except LookupError as exc:  # the fetcher lets a non-text charset (rot13, base64) through
        return SourceCheck(Outcome.refused, f"the source was not fetched: bad charset ({exc})")
    if result.status == 410:
        return SourceCheck(Outcome.gone, "the source is gone (HTTP 410)")
    if result.status >= 400:
        return SourceCheck(Outcome.unavailable, f"the source answered HTTP {result.status}")
    page = lb.analyse_page(result.text, result.url)
    link = lb.find_link(page, target)
    if link is None:
        cut = f" (in its first {len(result.text)} characters)" if result.truncated else ""
        return SourceCheck(Outcome.no_link, f"no link to {target} on {result.url}{cut}")
    content = read_content(result.text, page, link, target)
    return SourceCheck(Outcome.verified, f"{result.url} links to {target}", content)


@outbox.handler(VERIFY)
def verify_linkback(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """The background check of one linkback's source. Raises `SourceUnavailable` (so the outbox
    tries again with back-off) while the source is down and the time to give up has not come."""
    with database.unit_of_work(write=False) as session:
        comment = session.get(Comment, payload["comment_id"])
        if comment is None or comment.status is CommentStatus.deleted or not comment.source:
            return
        source, kind = comment.source, comment.kind
    fetcher = fetcher_for(ctx)
    check = check_source(fetcher, source, payload["target"])
    if kind is CommentKind.trackback and check.outcome is Outcome.verified:
        check = dataclasses.replace(check, source_addresses=tuple(fetcher.addresses_of(source)))
    give_up_at = datetime.fromisoformat(payload.get("give_up_at") or ctx.clock().isoformat())
    if check.outcome is Outcome.unavailable and ctx.clock() < give_up_at:
        raise SourceUnavailable(check.reason)
    with database.unit_of_work() as session:
        comment = session.get(Comment, payload["comment_id"])
        if comment is not None and comment.status is not CommentStatus.deleted:
            record_verification(session, ctx, comment, check)


def record_verification(
    session: Session, ctx: Context, comment: Comment, check: SourceCheck
) -> None:
    """Apply a final `SourceCheck` to `comment`, with an audit row saying why."""
    if check.outcome is Outcome.verified:
        _accept(session, ctx, comment, check)
        return
    published = comment.status is CommentStatus.approved
    if check.outcome is Outcome.gone:
        comment.verified = False
        _act(session, ctx, comment, Action.delete, f"{NO_LINK}: {check.reason}")
    elif published and check.outcome is Outcome.unavailable:
        # A published mention whose source is down is kept (WM-16: a 404 or an outage is no delete).
        _act(session, ctx, comment, None, f"re-verification failed: {check.reason}")
    elif published:
        comment.verified = False
        _act(session, ctx, comment, Action.delete, f"{NO_LONGER}: {check.reason}")
    else:
        comment.verified = False
        _act(session, ctx, comment, Action.spam, f"{NO_LINK}: {check.reason}")


def _accept(session: Session, ctx: Context, comment: Comment, check: SourceCheck) -> None:
    """Verified: take the source's content, score it, and let the site's policy decide."""
    assert check.content is not None
    comment.verified = True
    if _update_content(comment, check.content):
        bump_thread(session, comment.thread_id)  # in SQL: two changes at once make two versions
    site_id = comment.thread.site
    scored = _scored_submission(comment)
    extra = dict(scored.extra)
    if check.source_addresses:
        extra[SOURCE_ADDRESSES] = ",".join(check.source_addresses)
    submission = dataclasses.replace(scored, text=comment.text, author=comment.author, extra=extra)
    assessment = run_pipeline(submission, ctx.scorers_for(session, site_id), ctx.thresholds)
    record_check(session, ctx, comment, submission, assessment)
    if assessment.recheck_reason:  # a scorer is down: the re-check job settles it later
        comment.recheck_reason = assessment.recheck_reason
        outbox.enqueue(session, ctx, "recheck", {"comment_id": comment.id})
    site = ctx.settings.sites.get(site_id)
    policy = Policy(site.moderation) if site else Policy.all
    status, why = decide(assessment.verdict, policy, author_trusted=False)
    reason = f"source links to the target; {why}"
    action = _next_action(session, comment, status, assessment.verdict)
    _act(session, ctx, comment, action, reason)
    if comment.status is CommentStatus.spam and assessment.verdict is Verdict.discard:
        comment.discarded = True


def _next_action(
    session: Session, comment: Comment, status: CommentStatus, verdict: Verdict
) -> Action | None:
    """The move from the comment's status to what the fresh verdict and policy say.

    Spam stays spam unless it was spam only because an earlier verification failed. A published
    mention whose new content scores unsure goes back to the queue, as an edited comment does.
    """
    if status is CommentStatus.spam:
        return None if comment.status is CommentStatus.spam else Action.spam
    if comment.status is CommentStatus.pending:
        return Action.approve if status is CommentStatus.approved else None
    if comment.status is CommentStatus.approved:
        return Action.hold if verdict is Verdict.unsure else None
    if comment.status is CommentStatus.spam and _spam_for_no_link(session, comment):
        return Action.approve if status is CommentStatus.approved else Action.hold
    return None


def _spam_for_no_link(session: Session, comment: Comment) -> bool:
    query = (
        select(ModerationEvent.reason)
        .where(ModerationEvent.comment_id == comment.id,
               ModerationEvent.to_status == CommentStatus.spam)
        .order_by(ModerationEvent.id.desc())
        .limit(1)
    )  # fmt: skip
    reason = session.scalars(query).first() or ""
    return reason.startswith(NO_LINK)


def _act(
    session: Session, ctx: Context, comment: Comment, action: Action | None, reason: str
) -> None:
    """Move the comment by the system, or (no move, or it no longer applies) just log why."""
    if action is not None:
        try:
            apply_action(session, ctx, comment, action, SYSTEM, reason)
            return
        except InvalidTransition:  # a moderator acted in the meantime: theirs stands
            pass
    record_event(session, ctx, comment, "verify", comment.status, SYSTEM, reason)


def _scored_submission(comment: Comment) -> Submission:
    from moderation.services.spam import submission_from_record  # spam imports the scorers

    return submission_from_record(comment.checks[-1].submitted)


def _update_content(comment: Comment, content: Content) -> bool:
    """Take the source's author, text and HTML; a trackback keeps what its sender wrote and only
    gets an author when it came without a blog name. Returns whether anything changed."""
    before = (comment.author, comment.text, comment.html)
    if comment.kind is CommentKind.trackback:
        if comment.author in ("", lb.host_of(comment.source or "")) and content.author:
            comment.author = content.author
    else:
        comment.author = content.author or comment.author
        comment.text, comment.html = content.text, content.html
    return before != (comment.author, comment.text, comment.html)


def read_content(html: str, page: lb.Page, link: lb.Link, target: str) -> Content:
    """Author, text and HTML from a verified source: its h-entry (mf2py) when it has one, else
    the page title and the text around the link (PB-10, WM-13). Everything is sanitized."""
    entry = h_entry(html, page.url, target) if "h-entry" in html else None
    excerpt, body_html = lb.excerpt_around(page, link), ""
    author, title = page.title, ""
    if entry is not None:
        author = entry.get("author") or author
        title = entry.get("name", "")
        if entry.get("action"):
            excerpt = entry["action"]
        elif entry.get("text") and len(entry["text"]) <= SHORT_CONTENT:
            excerpt, body_html = entry["text"], markup.clean(entry.get("html", ""))
    author = lb.truncate(author or lb.host_of(page.url), lb.MAX_AUTHOR_CHARS)
    title = lb.truncate(title, lb.MAX_TITLE_CHARS)
    html_out = _html(title, "" if body_html else excerpt) + body_html
    text = "\n\n".join(part for part in (title, excerpt) if part)
    return Content(author, text, markup.clean(html_out))


def h_entry(html: str, url: str, target: str) -> dict[str, str] | None:
    """`linkbacks.h_entry` of the page, parsed by mf2py from the HTML we fetched ourselves
    (``mf2py.parse(url=...)`` alone would fetch it with no timeout and no size cap)."""
    import mf2py  # imports requests and bs4: loaded only for pages that carry microformats

    try:
        parsed = mf2py.parse(doc=html, url=url, html_parser="html.parser")
    except Exception as exc:  # a parser bug on hostile HTML: fall back to the plain page reading
        log.warning("mf2py could not parse %s: %s", url, exc)
        return None
    return lb.h_entry(parsed, target)


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


def discovery(settings: Settings, site_id: str, uri: str, title: str = "") -> lb.Discovery:
    """The discovery markup and headers for page `uri` of `site_id` (TB-15)."""
    site = settings.sites.get(site_id)
    if site is None:
        raise InvalidInput("unknown site", fields={"site": "no such site"})
    key = ping_key(Tokens.from_settings(settings), site, site_id, uri)
    public_url = settings.server.public_url
    return lb.discovery_markup(public_url, site_id, uri, site.page_url(uri), title, key)


def page_discovery(session: Session, ctx: Context, site_id: str, uri: str) -> lb.Discovery:
    """`discovery`, with the thread's title when the page has a thread."""
    thread = find_thread(session, site_id, uri)
    return discovery(ctx.settings, site_id, uri, thread.title if thread else "")
