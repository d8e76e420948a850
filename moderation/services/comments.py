"""Readers' comments: submit, edit and delete their own, read threads and counts."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, distinct, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation import markup
from moderation.config import SiteSettings
from moderation.domain import threads
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Assessment, Submission, Verdict, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import (
    Duplicate,
    InvalidInput,
    ModerationError,
    NotFound,
    RateLimited,
    ThreadClosed,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import Comment, ModerationEvent, SpamCheck, Thread
from moderation.runtime import metrics
from moderation.scorers.rules.text import text_fingerprint
from moderation.services import Context
from moderation.services.moderation import AUTHOR, SYSTEM, apply_action, bump_thread
from moderation.services.tokens import AUTHOR_EDIT
from moderation.storage.prepared import Prepared, insert_row


class EditLimitReached(ModerationError):
    """The comment was edited ``[comments] max_edits`` times already (HTTP 409): each edit is
    scored and stored, so edits are not free."""

    code = "too_many_edits"


#: `Submission.extra` key that marks a spam check as an edit's (`count_edits` counts them).
EDIT_MARK = "edit"


@dataclass(frozen=True)
class ClientInfo:
    """Where a submission came from."""

    ip: str = ""
    user_agent: str = ""
    referrer: str = ""


@dataclass(frozen=True)
class NewComment:
    """A reader's comment, already checked for shape and length by the web layer."""

    site: str
    uri: str
    text: str
    title: str = ""
    parent: int | None = None
    author: str = ""
    email: str = ""
    website: str = ""
    honeypot: str = ""
    notify: str = "none"  # "replies" or "thread": mail me (double opt-in), needs `email`
    reader_id: int | None = None  # a signed-in reader (author and email are their identity's)
    email_verified: bool = False  # the identity's provider vouched for `email`: no opt-in mail


@dataclass(frozen=True)
class Scored:
    """A submission scored and decided, before anything is written."""

    submission: Submission
    assessment: Assessment
    status: CommentStatus
    reason: str


@dataclass(frozen=True)
class CommentDraft:
    """A reader's comment worked out with no lock held (`prepare_comment`): what `store_comment`
    writes. The thread is None when the page has no thread yet."""

    new: NewComment
    client: ClientInfo
    thread_id: int | None
    gives_title: bool  # the thread has no title yet and this comment brings one
    html: str
    scored: Scored
    fingerprint: str = ""  # `text_fingerprint` of the text ("" for a short one)


def site_settings(ctx: Context, site: str) -> SiteSettings:
    """The configured site `site`; raise `InvalidInput` for an unknown one."""
    try:
        return ctx.settings.sites[site]
    except KeyError:
        raise InvalidInput("unknown site", fields={"site": "no such site"}) from None


# The submission path's queries are built once: building a statement costs more than running it.
_FIND_THREAD = select(Thread).where(
    Thread.site == bindparam("site"), Thread.uri == bindparam("uri")
)
_threads = cast(Table, Thread.__table__)
_THREAD_TO_POST = Prepared(
    select(_threads.c.id, _threads.c.created_at, _threads.c.closed, _threads.c.title).where(
        _threads.c.site == bindparam("site"), _threads.c.uri == bindparam("uri")
    )
)
_SET_TITLE = Prepared(
    update(_threads)
    .where(_threads.c.id == bindparam("thread_id"))
    .values(title=bindparam("new_title"), version=_threads.c.version + 1)
)
_TRUSTED = Prepared(
    select(
        exists(
            select(Comment.id).where(
                Comment.author == bindparam("author"),
                Comment.email == bindparam("email"),
                Comment.status == CommentStatus.approved,
                Comment.reader_id.is_(None),  # an identity's comments vouch for it alone
            )
        )
    )
)


def find_thread(session: Session, site: str, uri: str) -> Thread | None:
    """The thread of page `uri` on `site`, if it has one."""
    return session.scalars(_FIND_THREAD, {"site": site, "uri": uri}).first()


def get_or_create_thread(session: Session, ctx: Context, site: str, uri: str, title: str) -> Thread:
    """The page's thread, created with its first submission.

    Two first comments racing on PostgreSQL both try the INSERT; the loser's savepoint rolls back on
    the unique constraint and it reads the winner's row. (SQLite writers are already serialized.)
    """
    thread = find_thread(session, site, uri)
    if thread is None:
        try:
            with session.begin_nested():
                thread = Thread(site=site, uri=uri, title=title, created_at=ctx.clock())
                session.add(thread)
        except IntegrityError:
            thread = find_thread(session, site, uri)
            assert thread is not None
    if title and not thread.title:
        thread.title = title
    return thread


def thread_open(ctx: Context, site: SiteSettings, created_at: datetime, closed: bool) -> bool:
    """Whether a thread of `site` takes comments now (`domain.threads.is_open`)."""
    return threads.is_open(ctx.clock(), created_at, closed, site.close_after_days)


def check_open(ctx: Context, site: SiteSettings, created_at: datetime, closed: bool) -> None:
    """Raise `ThreadClosed` when the thread no longer takes comments."""
    if not thread_open(ctx, site, created_at, closed):
        raise ThreadClosed("comments are closed for this page")


def prepare_comment(
    session: Session, ctx: Context, new: NewComment, client: ClientInfo
) -> CommentDraft:
    """Everything a reader's comment needs before it is written, with no lock held: the checks
    (site, thread open, parent, duplicate, flood), the Markdown, the scoring (Akismet included)
    and the policy's decision.

    Raises `InvalidInput` (unknown site or parent), `ThreadClosed`, `Duplicate`, `RateLimited`.
    """
    site = site_settings(ctx, new.site)
    html = markup.render(new.text)
    thread = _THREAD_TO_POST.first(session, {"site": new.site, "uri": new.uri})
    thread_id, title = (thread[0], thread[3]) if thread is not None else (None, "")
    if thread is not None:
        check_open(ctx, site, thread[1], thread[2])
    _check_parent(session, thread_id, new.parent)
    _check_guards(session, ctx, thread_id, new, client)
    if new.reader_id is not None:  # an identity is trusted by its own approved comments
        from moderation.services.readers import reader_trusted

        trusted = reader_trusted(session, new.reader_id)
    else:
        trusted = author_trusted(session, new.author, new.email)
    fingerprint = text_fingerprint(new.text)
    pages, spam_pages = repeat_counts(session, ctx, fingerprint, thread_id)
    submission = _submission(ctx, site, new, client, trusted)
    submission = replace(submission, repeat_pages=pages, repeat_spam_pages=spam_pages)
    assessment = run_pipeline(submission, ctx.scorers_for(session, new.site), ctx.thresholds)
    status, reason = decide(assessment.verdict, Policy(site.moderation), author_trusted=trusted)
    scored = Scored(submission, assessment, status, reason)
    gives_title = bool(new.title) and not title
    return CommentDraft(new, client, thread_id, gives_title, html, scored, fingerprint)


def store_comment(tx: Session, ctx: Context, draft: CommentDraft) -> Comment:
    """Write a prepared comment, inside ``with database.write() as tx``: its thread (made with the
    first comment), the guards again (another post may have landed since `prepare_comment`), the
    comment, its spam check and its audit row. The comment returned is not in `tx`."""
    new = draft.new
    thread_id = draft.thread_id
    if thread_id is None:
        thread_id = get_or_create_thread(tx, ctx, new.site, new.uri, new.title).id
    elif draft.gives_title:
        _SET_TITLE.execute(tx, {"thread_id": thread_id, "new_title": new.title})
    _check_guards(tx, ctx, thread_id, new, draft.client)
    row = {
        "parent_id": new.parent,
        "kind": CommentKind.comment,
        "author": new.author,
        "email": new.email,
        "website": new.website,
        "ip": draft.client.ip,
        "user_agent": draft.client.user_agent,
        "referrer": draft.client.referrer,
        "text": new.text,
        "html": draft.html,
        "source": None,
        "verified": None,
        "recheck_reason": draft.scored.assessment.recheck_reason,
        "fingerprint": draft.fingerprint,
    }
    if new.reader_id is not None:  # (anonymous posts keep their prepared INSERT as it was)
        row["reader_id"] = new.reader_id
    comment = insert_submission(tx, ctx, thread_id, row, draft.scored)
    if new.notify != "none":
        from moderation.services import subscriptions

        subscriptions.subscribe_with_comment(
            tx, ctx, comment, new.notify, verified=new.email_verified
        )
    return comment


_COMMENTS, _CHECKS, _EVENTS = (
    cast(Table, Comment.__table__),
    cast(Table, SpamCheck.__table__),
    cast(Table, ModerationEvent.__table__),
)


def insert_submission(
    tx: Session, ctx: Context, thread_id: int, row: dict[str, Any], scored: Scored
) -> Comment:
    """Insert a new submission of any channel (a comment, a linkback) in its first status, with
    its spam check and its "create" audit row, then run the submission hooks (mail, re-check).

    `row` holds the comment's own columns; its thread, status and times are filled in here, the
    time in the order the write lock gives (a thread lists by it). One prepared INSERT each: the
    unit of work's bookkeeping would cost several times the INSERT itself.
    """
    now = ctx.clock()
    published = scored.status is CommentStatus.approved
    row = {
        **row,
        "thread_id": thread_id,
        "status": scored.status,
        "discarded": scored.assessment.verdict is Verdict.discard,
        "created_at": now,
        "approved_at": now if published else None,
    }
    comment = Comment(id=insert_row(tx, _COMMENTS, row), **row)
    check_row = spam_check_row(ctx, scored.submission, scored.assessment)
    check_row["comment_id"] = comment.id
    check = SpamCheck(id=insert_row(tx, _CHECKS, check_row), **check_row)
    insert_row(
        tx,
        _EVENTS,
        {
            "comment_id": comment.id,
            "moderator_id": SYSTEM.moderator_id,
            "actor": SYSTEM.label,
            "action": "create",
            "from_status": None,
            "to_status": scored.status,
            "reason": scored.reason,
            "created_at": now,
        },
    )
    if published:  # what pages show changed (a held one changes nothing)
        bump_thread(tx, thread_id, 1)
    for hook in ctx.submission_hooks:
        hook(tx, ctx, comment, check, scored.assessment)
    submission = scored.submission
    counted = metrics.SUBMISSIONS.labels(
        submission.site, submission.kind.value, scored.assessment.verdict.value, scored.status.value
    )
    metrics.count_after_commit(tx, counted.inc)
    return comment


def edit_token(ctx: Context, comment: Comment) -> str:
    """The token that lets a comment's author edit or delete it within the edit window."""
    return ctx.tokens.sign(AUTHOR_EDIT, {"id": comment.id})


def record_check(
    session: Session, ctx: Context, comment: Comment, submission: Submission, assessment: Assessment
) -> int:
    """Keep one run of the pipeline: verdict, every signal, and the submission as it was scored."""
    row = spam_check_row(ctx, submission, assessment)
    row["comment_id"] = comment.id
    return insert_row(session, _CHECKS, row)


def spam_check_row(ctx: Context, submission: Submission, assessment: Assessment) -> dict[str, Any]:
    """The columns of a spam check (all but its comment)."""
    return {
        "created_at": ctx.clock(),
        "verdict": assessment.verdict,
        "score": assessment.score,
        "signals": [s.as_dict() for s in assessment.signals],
        "submitted": submission_record(submission),
        "recheck_reason": assessment.recheck_reason,
    }


def submission_record(submission: Submission) -> dict[str, object]:
    """The submission as scored, JSON-ready, kept for later feedback and re-checks."""
    return {
        "kind": submission.kind.value,
        "site": submission.site,
        "site_url": submission.site_url,
        "permalink": submission.permalink,
        "text": submission.text,
        "author": submission.author,
        "email": submission.email,
        "website": submission.website,
        "ip": submission.ip,
        "user_agent": submission.user_agent,
        "referrer": submission.referrer,
        "created": submission.created.isoformat() if submission.created else None,
        "language": submission.language,
        "honeypot": submission.honeypot,
        "source": submission.source,
        "author_trusted": submission.author_trusted,
        "repeat_pages": submission.repeat_pages,
        "repeat_spam_pages": submission.repeat_spam_pages,
        "extra": dict(submission.extra),
    }


def author_trusted(session: Session, author: str, email: str, besides: int | None = None) -> bool:
    """WordPress's "previously approved": an approved comment with the same name and e-mail
    (other than comment `besides`: an edit is not vouched for by the comment it changes)."""
    if not author or not email:
        return False
    if besides is None:
        return bool(_TRUSTED.scalar(session, {"author": author, "email": email.lower()}))
    other = select(Comment.id).where(
        Comment.author == author,
        Comment.email == email.lower(),
        Comment.status == CommentStatus.approved,
        Comment.reader_id.is_(None),
        Comment.id != besides,
    )
    return bool(session.scalar(select(exists(other))))


@dataclass(frozen=True)
class EditDraft:
    """An author's edit worked out with no lock held (`prepare_edit`): what `store_edit` writes."""

    comment_id: int
    text: str
    html: str
    submission: Submission
    assessment: Assessment
    status: CommentStatus  # what the site's policy makes of the edited text
    reason: str
    fingerprint: str = ""  # of the edited text


def count_edits(session: Session, comment_id: int) -> int:
    """How often the comment's text was edited: its spam checks marked as an edit's (re-checks
    and the first check are not edits). No column of its own: the checks are kept anyway."""
    records = session.scalars(select(SpamCheck.submitted).where(SpamCheck.comment_id == comment_id))
    return sum(1 for r in records if isinstance(r, dict) and (r.get("extra") or {}).get(EDIT_MARK))


def check_edit_allowance(session: Session, ctx: Context, comment_id: int) -> None:
    """Raise `EditLimitReached` when the comment has had its ``[comments] max_edits``."""
    cap = ctx.settings.comments.max_edits
    if count_edits(session, comment_id) >= cap:
        raise EditLimitReached(f"a comment can be edited at most {cap} times")


def prepare_edit(
    session: Session,
    ctx: Context,
    comment_id: int,
    token: str | None,
    text: str,
    reader_id: int | None = None,
) -> EditDraft:
    """Check the token (or that signed-in reader `reader_id` wrote it), the edit window and the
    number of edits, render and score the new text and let the site's policy judge it as it
    would a new comment of the author (no lock held).

    Raises `TokenInvalid`/`TokenExpired` (403), `NotFound` and `EditLimitReached`.
    """
    comment = _own_comment(session, ctx, comment_id, token, reader_id)
    check_edit_allowance(session, ctx, comment_id)
    thread = comment.thread
    site = site_settings(ctx, thread.site)
    if comment.reader_id is not None:
        from moderation.services.readers import reader_trusted

        trusted = reader_trusted(session, comment.reader_id, besides=comment.id)
    else:
        trusted = author_trusted(session, comment.author, comment.email, besides=comment.id)
    submission = _submission(
        ctx,
        site,
        NewComment(
            site=thread.site,
            uri=thread.uri,
            text=text,
            author=comment.author,
            email=comment.email,
            website=comment.website,
        ),
        ClientInfo(comment.ip, comment.user_agent, comment.referrer),
        trusted,
    )
    fingerprint = text_fingerprint(text)
    pages, spam_pages = repeat_counts(session, ctx, fingerprint, thread.id)
    submission = replace(
        submission,
        repeat_pages=pages,
        repeat_spam_pages=spam_pages,
        extra={**submission.extra, EDIT_MARK: "1"},
    )
    assessment = run_pipeline(submission, ctx.scorers_for(session, thread.site), ctx.thresholds)
    status, reason = decide(assessment.verdict, Policy(site.moderation), author_trusted=trusted)
    html = markup.render(text)
    return EditDraft(comment_id, text, html, submission, assessment, status, reason, fingerprint)


def store_edit(tx: Session, ctx: Context, draft: EditDraft) -> Comment:
    """Write a prepared edit; the window never slides. An approved comment goes back to the queue
    when the site's policy would hold the edited text as a new comment (every edit under
    ``moderation = "all"``, an untrusted author's under "first-time", any text not scored ham);
    the hold's transition hooks mail the moderators. Raises `NotFound` when the comment went
    meanwhile, `EditLimitReached` when other edits used up the allowance meanwhile."""
    comment = tx.get(Comment, draft.comment_id)
    if comment is None or comment.status is CommentStatus.deleted:
        raise NotFound(f"no comment {draft.comment_id}")
    check_edit_allowance(tx, ctx, draft.comment_id)
    comment.text = draft.text
    comment.html = draft.html
    comment.fingerprint = draft.fingerprint
    comment.modified_at = ctx.clock()
    tx.flush()
    record_check(tx, ctx, comment, draft.submission, draft.assessment)
    bump_thread(tx, comment.thread_id)
    if comment.status is CommentStatus.approved and draft.status is not CommentStatus.approved:
        apply_action(tx, ctx, comment, Action.hold, SYSTEM, f"edited: {draft.reason}")
    return comment


def delete_own_comment(
    session: Session,
    ctx: Context,
    comment_id: int,
    token: str | None,
    reader_id: int | None = None,
) -> None:
    """Delete one's own comment within the edit window, or signed-in reader `reader_id`'s within
    ``[comments] signed_in_edit_days`` (replies keep a placeholder)."""
    comment = _own_comment(session, ctx, comment_id, token, reader_id)
    apply_action(session, ctx, comment, Action.delete, AUTHOR, "deleted by its author")


def check_edit_token(ctx: Context, comment_id: int, token: str) -> None:
    """Raise `TokenInvalid`/`TokenExpired` unless `token` lets its bearer change `comment_id`."""
    payload = ctx.tokens.load(AUTHOR_EDIT, token)
    if not isinstance(payload, dict) or payload.get("id") != comment_id:
        raise TokenInvalid("this token is for another comment")


def _own_comment(
    session: Session, ctx: Context, comment_id: int, token: str | None, reader_id: int | None = None
) -> Comment:
    if reader_id is not None:
        comment = session.get(Comment, comment_id)
        if comment is None or comment.status is CommentStatus.deleted:
            raise NotFound(f"no comment {comment_id}")
        if comment.reader_id != reader_id:
            raise TokenInvalid("this comment is not yours")
        days = timedelta(days=ctx.settings.comments.signed_in_edit_days)
        if ctx.clock() - comment.created_at > days:
            raise TokenExpired("the time to edit this comment is over")
        return comment
    if token is None:
        raise TokenInvalid("send the comment's edit token in X-Edit-Token")
    check_edit_token(ctx, comment_id, token)
    comment = session.get(Comment, comment_id)
    if comment is None or comment.status is CommentStatus.deleted:
        raise NotFound(f"no comment {comment_id}")
    window = timedelta(seconds=ctx.settings.comments.edit_window_seconds)
    if ctx.clock() - comment.created_at > window:
        # The token's own max_age says the same; this also holds if clocks or keys disagree.
        raise TokenExpired("the time to edit this comment is over")
    return comment


def _check_guards(
    session: Session, ctx: Context, thread_id: int | None, new: NewComment, client: ClientInfo
) -> None:
    """Duplicate and flood checks (run twice: before scoring, and again under the write lock)."""
    if thread_id is not None:
        _check_duplicate(session, thread_id, new)
    check_flood(session, ctx, client.ip, new.email)


def _check_parent(session: Session, thread_id: int | None, parent_id: int | None) -> Comment | None:
    if parent_id is None:
        return None
    parent = session.get(Comment, parent_id)
    if (
        parent is None
        or thread_id is None
        or parent.thread_id != thread_id
        or parent.status is not CommentStatus.approved
    ):
        raise InvalidInput("cannot reply to that comment", fields={"parent": "no such comment"})
    return parent


def _check_duplicate(session: Session, thread_id: int, new: NewComment) -> None:
    """WordPress's ``comment_duplicate``: same thread, parent, author (and e-mail), and text."""
    params = {
        "thread": thread_id,
        "parent": new.parent,
        "author": new.author,
        "text": new.text,
        "email": new.email.lower(),
    }
    query = _duplicate_query(new.parent is not None, bool(new.email))
    if query.scalar(session, params):
        raise Duplicate("duplicate comment: it looks as though you have already said that")


@functools.cache
def _duplicate_query(has_parent: bool, has_email: bool) -> Prepared:
    # With an e-mail, (e-mail, author) narrows best; SQLite has no statistics to tell, and the
    # order of the indexes (which its ties fall to) differs between databases, so ``+ 0`` keeps
    # the thread's index out of the race (the SQLite manual's trick of a term no index can serve).
    thread = Comment.thread_id + 0 if has_email else Comment.thread_id
    query = select(Comment.id).where(
        thread == bindparam("thread"),
        Comment.parent_id == bindparam("parent") if has_parent else Comment.parent_id.is_(None),
        Comment.author == bindparam("author"),
        Comment.text == bindparam("text"),
        Comment.status != CommentStatus.deleted,
    )
    if has_email:
        query = query.where(Comment.email == bindparam("email"))
    return Prepared(select(exists(query)))


def check_flood(session: Session, ctx: Context, ip: str, email: str) -> None:
    """WordPress's flood check: a minimum gap between two posts from one IP or one e-mail (every
    channel: a linkback is keyed by the pinging server's IP). Raises `RateLimited`."""
    gap = ctx.settings.guard.flood_seconds
    if gap <= 0:
        return
    now = ctx.clock()
    if not ip and not email:
        return
    last: datetime | None = _flood_query(bool(ip), bool(email)).scalar(
        session, {"ip": ip, "email": email.lower(), "since": now - timedelta(seconds=gap)}
    )
    if last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
        wait = gap - (now - last).total_seconds()
        raise RateLimited("you are posting comments too quickly", retry_after=int(wait + 0.999))


@functools.cache
def _flood_query(by_ip: bool, by_email: bool) -> Prepared:
    who = [Comment.ip == bindparam("ip")] if by_ip else []
    if by_email:
        who.append(Comment.email == bindparam("email"))
    return Prepared(
        select(func.max(Comment.created_at)).where(
            or_(*who), Comment.created_at > bindparam("since", type_=Comment.created_at.type)
        )
    )


#: How many of the newest copies `repeat_counts` reads at most (a campaign may have thousands).
REPEAT_SCAN = 50
_COPIES = (
    select(Comment.thread_id, Comment.status)
    .where(
        Comment.fingerprint == bindparam("fingerprint"),
        Comment.created_at > bindparam("since", type_=Comment.created_at.type),
        Comment.thread_id != bindparam("thread"),
        Comment.status != CommentStatus.deleted,
    )
    .order_by(Comment.created_at.desc())
    .limit(REPEAT_SCAN)
    .subquery()
)
_REPEATS = Prepared(
    select(
        func.count(distinct(_COPIES.c.thread_id)),
        func.count(distinct(case((_COPIES.c.status == CommentStatus.spam, _COPIES.c.thread_id)))),
    )
)


def repeat_counts(
    session: Session, ctx: Context, fingerprint: str, thread_id: int | None
) -> tuple[int, int]:
    """On how many pages other than thread `thread_id`'s (of any site) a comment with this text
    fingerprint was posted within ``[spam] repeat_window_days``, deleted ones aside; and on how
    many of those a copy is marked spam. (0, 0) for a short text ("" fingerprint) or with the
    window 0. Reads the newest `REPEAT_SCAN` copies at most, in one range of the fingerprint's
    index."""
    days = ctx.settings.spam.repeat_window_days
    if not fingerprint or days <= 0:
        return 0, 0
    params = {
        "fingerprint": fingerprint,
        "since": ctx.clock() - timedelta(days=days),
        "thread": -1 if thread_id is None else thread_id,
    }
    row = _REPEATS.first(session, params)
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def _submission(
    ctx: Context, site: SiteSettings, new: NewComment, client: ClientInfo, trusted: bool
) -> Submission:
    return Submission(
        kind=CommentKind.comment,
        site=new.site,
        site_url=site.url,
        permalink=site.page_url(new.uri),
        text=new.text,
        author=new.author,
        email=new.email,
        website=new.website,
        ip=client.ip,
        user_agent=client.user_agent,
        referrer=client.referrer,
        created=ctx.clock(),
        language=site.language,
        honeypot=new.honeypot,
        author_trusted=trusted,
    )
