"""Verifying linkbacks: the ``verify_linkback`` outbox job, which checks the source of every
linkback that `services.linkbacks` received, and what a linkback shows once its source is read.

The job fetches the source with the hardened `Fetcher` outside any transaction, then, in one unit of
work: a source that links to the exact target is marked verified, its title, excerpt and author are
read (an h-entry through mf2py, else the page title and the text around the link), the new content
is scored again, and the site's policy decides; any other answer marks it spam (or removes it, for
a published mention whose source is gone or no longer links). A source that is down or slow is
retried with the outbox's back-off (the handler raises) until `linkbacks.GIVE_UP_AFTER`, then
rejected. Nothing here is ever approved unverified.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import html as html_lib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation import markup
from moderation.config import FetchSettings
from moderation.domain import inputs, pages
from moderation.domain import linkbacks as lb
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Assessment, Submission, Verdict, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import InvalidTransition
from moderation.models import Comment, ModerationEvent
from moderation.runtime import metrics
from moderation.scorers.rules import SOURCE_ADDRESSES
from moderation.services import Context, outbox
from moderation.services.comments import record_check
from moderation.services.moderation import SYSTEM, apply_action, bump_thread, record_event
from moderation.storage.db import Database

# Sending reuses the fetcher's URL checks, pinned connections and error mapping (the underscored
# names) rather than a second copy of that security-critical code; a public `Fetcher.post` would
# be the tidier home for it.
if TYPE_CHECKING:
    from moderation.net.fetcher import Fetcher

log = logging.getLogger(__name__)

VERIFY = "verify_linkback"
NO_LINK = "source does not link to the target"
NO_LONGER = "source no longer links to the target"
# How a `SourceCheck.reason` starts when the source was not read; the rest is for moderators only
# (host names, addresses, error text): `public_reason` turns it into words anyone may read.
NOT_FETCHED = "the source was not fetched"
COULD_NOT_FETCH = "could not fetch the source"
ANSWERED = "the source answered HTTP"
GONE = "the source is gone"
SHORT_CONTENT = 500  # an h-entry's content up to this many characters is shown whole


class SourceUnavailable(Exception):
    """The source could not be fetched this time; the outbox tries again later."""


@dataclass(frozen=True)
class Content:
    """What a linkback shows: `html` is sanitized, `text` is plain."""

    author: str
    text: str
    html: str


def content_html(title: str, excerpt: str) -> str:
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
    """The context's `Fetcher`, or else the process's one for its fetch settings."""
    return ctx.fetcher or shared_fetcher(ctx.settings.fetch)


@functools.cache
def shared_fetcher(settings: FetchSettings) -> Fetcher:
    """One `Fetcher` per fetch settings for the whole process (its rate limits are per process).
    The fetcher (and httpx) is imported here: a server worker that never fetches never carries
    it (docs/performance.md, Memory)."""
    from moderation.net.fetcher import Fetcher

    return Fetcher(settings)


def check_source(fetcher: Fetcher, source: str, target: str) -> SourceCheck:
    """Fetch `source` and look for a link to exactly `target` (WM-11, WM-12, PB-9, PB-10)."""
    from moderation.net.guarded import FetchError, FetchFailed, HostRateLimited, Timeout

    try:
        result = fetcher.fetch(source)
    except (Timeout, FetchFailed, HostRateLimited) as exc:
        return SourceCheck(Outcome.unavailable, f"{COULD_NOT_FETCH}: {exc.reason}")
    except FetchError as exc:
        return SourceCheck(Outcome.refused, f"{NOT_FETCHED}: {exc.reason}")
    except LookupError as exc:  # the fetcher lets a non-text charset (rot13, base64) through
        return SourceCheck(Outcome.refused, f"{NOT_FETCHED}: bad charset ({exc})")
    if result.status == 410:
        return SourceCheck(Outcome.gone, f"{GONE} (HTTP 410)")
    if result.status >= 400:
        return SourceCheck(Outcome.unavailable, f"{ANSWERED} {result.status}")
    page = pages.analyse_page(result.text, result.url)
    link = pages.find_link(page, target)
    if link is None:
        cut = f" (in its first {len(result.text)} characters)" if result.truncated else ""
        return SourceCheck(Outcome.no_link, f"no link to {target} on {result.url}{cut}")
    content = read_content(result.text, page, link, target)
    return SourceCheck(Outcome.verified, f"{result.url} links to {target}", content)


def public_reason(reason: str) -> str:
    """The generic words for a verification's audit `reason`, for anyone to read (the Webmention
    status resource): why the source failed, never which host, address or error it was, since a
    sender could otherwise map the private network through us (WM-14, finding 10)."""
    detail = reason.split(": ", 1)[1] if ": " in reason else ""
    if detail.startswith((NOT_FETCHED, COULD_NOT_FETCH, ANSWERED)):
        return "the source could not be fetched"
    if detail.startswith(GONE):
        return "the source is gone"
    if reason.startswith(NO_LONGER):
        return "the source no longer links to the target"
    if reason.startswith(NO_LINK):
        return "the source does not link to the target"
    return "the source could not be verified"


@outbox.handler(VERIFY)
def verify_linkback(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """The background check of one linkback's source. Raises `SourceUnavailable` (so the outbox
    tries again with back-off) while the source is down and the time to give up has not come."""
    with database.read() as session:
        comment = session.get(Comment, payload["comment_id"])
        if comment is None or comment.status is CommentStatus.deleted or not comment.source:
            return
        source, kind = comment.source, comment.kind
    fetcher = fetcher_for(ctx)
    check = check_source(fetcher, source, payload["target"])
    metrics.VERIFICATIONS.labels(kind.value, check.outcome.value).inc()
    if kind is CommentKind.trackback and check.outcome is Outcome.verified:
        check = dataclasses.replace(check, source_addresses=tuple(fetcher.addresses_of(source)))
    give_up_at = datetime.fromisoformat(payload.get("give_up_at") or ctx.clock().isoformat())
    if check.outcome is Outcome.unavailable and ctx.clock() < give_up_at:
        raise SourceUnavailable(check.reason)
    scored = None
    if check.outcome is Outcome.verified:
        with database.read() as session:  # score with no lock held: Akismet may be slow
            comment = session.get(Comment, payload["comment_id"])
            if comment is None or comment.status is CommentStatus.deleted:
                return
            scored = score_verified(session, ctx, comment, check)
    with database.write() as tx:
        comment = tx.get(Comment, payload["comment_id"])
        if comment is not None and comment.status is not CommentStatus.deleted:
            record_verification(tx, ctx, comment, check, scored)


def record_verification(
    session: Session,
    ctx: Context,
    comment: Comment,
    check: SourceCheck,
    scored: tuple[Submission, Assessment] | None = None,
) -> None:
    """Apply a final `SourceCheck` to `comment`, with an audit row saying why. A verified one
    needs its `score_verified` result, worked out before the write."""
    if check.outcome is Outcome.verified:
        if scored is None:
            raise ValueError("a verified linkback is scored before the write: score_verified()")
        _accept(session, ctx, comment, check, *scored)
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


def score_verified(
    session: Session, ctx: Context, comment: Comment, check: SourceCheck
) -> tuple[Submission, Assessment]:
    """Score a verified linkback with the content it takes from its source (no writes: run it
    before the write, since a scorer may call Akismet)."""
    assert check.content is not None
    author, text, _html = _content_after(comment, check.content)
    scored = _scored_submission(comment)
    extra = dict(scored.extra)
    if check.source_addresses:
        extra[SOURCE_ADDRESSES] = ",".join(check.source_addresses)
    submission = dataclasses.replace(scored, text=text, author=author, extra=extra)
    scorers = ctx.scorers_for(session, comment.thread.site)
    return submission, run_pipeline(submission, scorers, ctx.thresholds)


def _accept(
    session: Session,
    ctx: Context,
    comment: Comment,
    check: SourceCheck,
    submission: Submission,
    assessment: Assessment,
) -> None:
    """Verified: take the source's content and let the site's policy decide on its score."""
    assert check.content is not None
    comment.verified = True
    if _update_content(comment, check.content):
        bump_thread(session, comment.thread_id)  # in SQL: two changes at once make two versions
    site_id = comment.thread.site
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
        .where(
            ModerationEvent.comment_id == comment.id,
            ModerationEvent.to_status == CommentStatus.spam,
        )
        .order_by(ModerationEvent.id.desc())
        .limit(1)
    )
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


def _content_after(comment: Comment, content: Content) -> tuple[str, str, str]:
    """(author, text, html) once the source's content is taken: a trackback keeps what its sender
    wrote and only gets an author when it came without a blog name."""
    author, text, html = comment.author, comment.text, comment.html
    if comment.kind is CommentKind.trackback:
        if author in ("", lb.host_of(comment.source or "")) and content.author:
            author = content.author
    else:
        author = content.author or author
        text, html = content.text, content.html
    return author, text, html


def _update_content(comment: Comment, content: Content) -> bool:
    """Take the source's author, text and HTML (`_content_after`); whether anything changed."""
    before = (comment.author, comment.text, comment.html)
    comment.author, comment.text, comment.html = _content_after(comment, content)
    return before != (comment.author, comment.text, comment.html)


def read_content(html: str, page: pages.Page, link: pages.Link, target: str) -> Content:
    """Author, text and HTML from a verified source: its h-entry (mf2py) when it has one, else
    the page title and the text around the link (PB-10, WM-13). Everything is sanitized."""
    entry = h_entry(html, page.url, target) if "h-entry" in html else None
    excerpt, body_html = pages.excerpt_around(page, link), ""
    author, title = page.title, ""
    if entry is not None:
        author = entry.get("author") or author
        title = entry.get("name", "")
        if entry.get("action"):
            excerpt = entry["action"]
        elif entry.get("text") and len(entry["text"]) <= SHORT_CONTENT:
            excerpt, body_html = entry["text"], markup.clean(entry.get("html", ""))
    # The source's words, like a TrackBack's fields: no control characters (`lb.plain_line`).
    author = pages.truncate(lb.plain_line(author) or lb.host_of(page.url), lb.MAX_AUTHOR_CHARS)
    title = pages.truncate(lb.plain_line(title), lb.MAX_TITLE_CHARS)
    excerpt = inputs.clean_text(excerpt)
    html_out = content_html(title, "" if body_html else excerpt) + body_html
    text = "\n\n".join(part for part in (title, excerpt) if part)
    return Content(author, text, markup.clean(html_out))


def h_entry(html: str, url: str, target: str) -> dict[str, str] | None:
    """`pages.h_entry` of the page, parsed by mf2py from the HTML we fetched ourselves
    (``mf2py.parse(url=...)`` alone would fetch it with no timeout and no size cap)."""
    import mf2py  # imports requests and bs4: loaded only for pages that carry microformats

    try:
        parsed = mf2py.parse(doc=html, url=url, html_parser="html.parser")
    except Exception as exc:  # a parser bug on hostile HTML: fall back to the plain page reading
        log.warning("mf2py could not parse %s: %s", url, exc)
        return None
    return pages.h_entry(parsed, target)
