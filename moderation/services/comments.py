"""Readers' comments: submit, edit and delete their own, read threads and counts."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation import markup
from moderation.config import SiteSettings
from moderation.db import (
    StagedInsert,
    begin_lean_write,
    deferred_reads,
    insert_now,
    stage_insert,
)
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Assessment, Submission, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus
from moderation.errors import (
    Duplicate,
    InvalidInput,
    NotFound,
    RateLimited,
    ThreadClosed,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import Comment, ModerationEvent, SpamCheck, Thread
from moderation.services import Context
from moderation.services.moderation import AUTHOR, SYSTEM, apply_action, bump_thread
from moderation.services.tokens import AUTHOR_EDIT, Tokens
from moderation.statements import Prepared


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


@dataclass
class Submitted:
    """The outcome of a submission: the stored comment and the author's edit token."""

    comment: Comment
    tokens: Tokens = field(repr=False)

    @functools.cached_property
    def edit_token(self) -> str:
        """Signed on first use, so a caller can sign after its commit: the token needs only the
        comment's id, and signing takes longer than any of the submission's INSERTs."""
        return self.tokens.sign(AUTHOR_EDIT, {"id": self.comment.id})

    @property
    def published(self) -> bool:
        """Whether readers see it now (201) or it waits (202, also for spam)."""
        return self.comment.status is CommentStatus.approved


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
_threads = Thread.__table__
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


def is_open(ctx: Context, site: SiteSettings, created_at: datetime, closed: bool) -> bool:
    """Whether a thread takes comments: not closed by hand, not older than the site allows."""
    if closed:
        return False
    if not site.close_after_days:
        return True
    return ctx.clock() - created_at <= timedelta(days=site.close_after_days)


def check_open(ctx: Context, site: SiteSettings, thread: Thread | Row[Any]) -> None:
    """Raise `ThreadClosed` when the thread no longer takes comments."""
    if not is_open(ctx, site, thread.created_at, thread.closed):
        raise ThreadClosed("comments are closed for this page")


def submit_comment(
    session: Session, ctx: Context, new: NewComment, client: ClientInfo, *, attach: bool = True
) -> Submitted:
    """Receive a reader's comment: guard, score, decide its first status, store it.

    Raises `InvalidInput` (unknown site or parent), `ThreadClosed`, `Duplicate`, `RateLimited`.
    Whatever the verdict, the caller learns only "published" or "waiting". The new comment is in
    `session`; with ``attach=False`` it is left out, for a caller that commits and closes the
    session next (attaching it would only cost time under SQLite's write lock).
    """
    site = site_settings(ctx, new.site)
    # Everything slow (rendering, scoring, Akismet's answer, building the row) happens before the
    # write lock is taken.
    html = markup.render(new.text)
    with deferred_reads(session):
        where = {"site": new.site, "uri": new.uri}
        thread = _THREAD_TO_POST.first(session, where)
        thread_id, title = (thread[0], thread[3]) if thread is not None else (None, "")
        if thread is not None and not is_open(ctx, site, thread[1], thread[2]):
            raise ThreadClosed("comments are closed for this page")
        parent = _check_parent(session, thread_id, new.parent)
        _check_guards(session, ctx, thread_id, new, client)
        trusted = author_trusted(session, new.author, new.email)
        submission = _submission(ctx, site, new, client, trusted)
        assessment = run_pipeline(submission, ctx.scorers_for(session, new.site), ctx.thresholds)
    status, reason = decide(assessment.verdict, Policy(site.moderation), author_trusted=trusted)
    comment = Comment(
        parent_id=parent.id if parent else None,
        kind=CommentKind.comment,
        status=CommentStatus.pending,
        author=new.author,
        email=new.email,
        website=new.website,
        ip=client.ip,
        user_agent=client.user_agent,
        referrer=client.referrer,
        text=new.text,
        html=html,
    )
    staged = stage_submission(session, comment, submission_rows(ctx, submission, assessment,
                                                                 status, reason))  # fmt: skip
    # Under the lock: the guards again (another post may have landed meanwhile), then write.
    if thread_id is None:
        thread_id = get_or_create_thread(session, ctx, new.site, new.uri, new.title).id
    else:
        begin_lean_write(session)  # what follows writes through prepared statements only
        if new.title and not title:
            _SET_TITLE.execute(session, {"thread_id": thread_id, "new_title": new.title})
    _check_guards(session, ctx, thread_id, new, client)
    # The time is taken in the order the lock gives: a thread lists by it.
    store_staged(session, ctx, staged, thread_id, ctx.clock(), attach=attach)
    return Submitted(comment, ctx.tokens)


@dataclass(frozen=True)
class SubmissionRows:
    """What a submission stores besides the comment: its spam check and its first audit row, made
    before the write lock is taken (`submission_rows`) and inserted under it (`store_submission`)."""

    check: SpamCheck
    event: ModerationEvent
    assessment: Assessment
    status: CommentStatus


def submission_rows(
    ctx: Context, submission: Submission, assessment: Assessment, status: CommentStatus, reason: str
) -> SubmissionRows:
    """The spam check and the "create" audit row of a comment about to be stored in `status`."""
    event = ModerationEvent(moderator_id=SYSTEM.moderator_id, actor=SYSTEM.label, action="create",
                            from_status=None, to_status=status, reason=reason)  # fmt: skip
    return SubmissionRows(_new_check(ctx, submission, assessment), event, assessment, status)


def store_submission(
    session: Session, ctx: Context, comment: Comment, rows: SubmissionRows
) -> None:
    """Insert a new comment in its first status, its spam check and its first audit row.

    Shared by every channel (widget comments and linkbacks), so all of them land the same way.
    The comment's thread (``thread_id`` or ``thread``) and ``created_at`` are set already.
    """
    thread_id = comment.thread_id if comment.thread is None else comment.thread.id
    store_staged(session, ctx, stage_submission(session, comment, rows), thread_id,
                 comment.created_at)  # fmt: skip


@dataclass(frozen=True)
class StagedSubmission:
    """A submission's three INSERTs, worked out before the write lock is taken."""

    comment: StagedInsert[Comment]
    check: StagedInsert[SpamCheck]
    event: StagedInsert[ModerationEvent]
    rows: SubmissionRows


def stage_submission(session: Session, comment: Comment, rows: SubmissionRows) -> StagedSubmission:
    """Stage the comment (in its first status), its spam check and its audit row: what is left
    for under the lock is the thread, the time and the comment's id (`store_staged`)."""
    comment.status = rows.status
    comment.discarded = rows.assessment.verdict.value == "discard"
    comment.recheck_reason = rows.assessment.recheck_reason
    return StagedSubmission(
        stage_insert(session, comment, later=("thread_id", "created_at", "approved_at")),
        stage_insert(session, rows.check, later=("comment_id",)),
        stage_insert(session, rows.event, later=("comment_id", "created_at")),
        rows,
    )


def store_staged(
    session: Session,
    ctx: Context,
    staged: StagedSubmission,
    thread_id: int,
    now: datetime,
    *,
    attach: bool = True,
) -> Comment:
    """Insert a staged submission into `thread_id`, created `now`; then the submission hooks.
    The comment is attached to `session` unless `attach` is false (see `insert_now`)."""
    # Single-statement INSERTs (and an UPDATE of the thread when it is published): the hot path
    # skips the unit of work's flush. A spam wave leaves the threads' cached JSON alone. The
    # check and the audit row are written and left out of the session: nothing changes them.
    published = staged.rows.status is CommentStatus.approved
    comment = staged.comment.run(session, attach=attach, thread_id=thread_id, created_at=now,
                                 approved_at=now if published else None)  # fmt: skip
    check = staged.check.run(session, attach=False, comment_id=comment.id)
    staged.event.run(session, attach=False, comment_id=comment.id, created_at=now)
    if published:  # what pages show changed (a held one changes nothing)
        bump_thread(session, thread_id, 1)
    for hook in ctx.submission_hooks:
        hook(session, ctx, comment, check, staged.rows.assessment)
    return comment


def record_check(
    session: Session, ctx: Context, comment: Comment, submission: Submission, assessment: Assessment
) -> SpamCheck:
    """Keep one run of the pipeline: verdict, every signal, and the submission as it was scored."""
    check = _new_check(ctx, submission, assessment)
    check.comment_id = comment.id
    return insert_now(session, check)


def _new_check(ctx: Context, submission: Submission, assessment: Assessment) -> SpamCheck:
    return SpamCheck(
        created_at=ctx.clock(),
        verdict=assessment.verdict,
        score=assessment.score,
        signals=[s.as_dict() for s in assessment.signals],
        submitted=submission_record(submission),
        recheck_reason=assessment.recheck_reason,
    )


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
        "extra": dict(submission.extra),
    }


def author_trusted(session: Session, author: str, email: str) -> bool:
    """WordPress's "previously approved": an approved comment with the same name and e-mail."""
    if not author or not email:
        return False
    return bool(_TRUSTED.scalar(session, {"author": author, "email": email.lower()}))


def edit_own_comment(
    session: Session, ctx: Context, comment_id: int, token: str, text: str
) -> Comment:
    """Change the text of one's own comment within the edit window; the window never slides.

    Raises `TokenInvalid`/`TokenExpired` (403) and `NotFound`. The new text is scored again; an
    approved comment whose new text is not ham goes back to the queue.
    """
    comment = _own_comment(session, ctx, comment_id, token)
    site = site_settings(ctx, comment.thread.site)
    comment.text = text
    comment.html = markup.render(text)
    comment.modified_at = ctx.clock()
    submission = _submission(
        ctx,
        site,
        NewComment(site=comment.thread.site, uri=comment.thread.uri, text=text,
                   author=comment.author, email=comment.email, website=comment.website),
        ClientInfo(comment.ip, comment.user_agent, comment.referrer),
        author_trusted(session, comment.author, comment.email),
    )  # fmt: skip
    assessment = run_pipeline(
        submission, ctx.scorers_for(session, comment.thread.site), ctx.thresholds
    )
    record_check(session, ctx, comment, submission, assessment)
    bump_thread(session, comment.thread_id)
    if comment.status is CommentStatus.approved and assessment.verdict.value != "ham":
        apply_action(session, ctx, comment, Action.hold, SYSTEM, "edited text scored unsure")
    session.flush()
    return comment


def delete_own_comment(session: Session, ctx: Context, comment_id: int, token: str) -> None:
    """Delete one's own comment within the edit window (replies keep a placeholder)."""
    comment = _own_comment(session, ctx, comment_id, token)
    apply_action(session, ctx, comment, Action.delete, AUTHOR, "deleted by its author")


def check_edit_token(ctx: Context, comment_id: int, token: str) -> None:
    """Raise `TokenInvalid`/`TokenExpired` unless `token` lets its bearer change `comment_id`."""
    payload = ctx.tokens.load(AUTHOR_EDIT, token)
    if not isinstance(payload, dict) or payload.get("id") != comment_id:
        raise TokenInvalid("this token is for another comment")


def _own_comment(session: Session, ctx: Context, comment_id: int, token: str) -> Comment:
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
    params = {"thread": thread_id, "parent": new.parent, "author": new.author, "text": new.text,
              "email": new.email.lower()}  # fmt: skip
    query = _duplicate_query(new.parent is not None, bool(new.email))
    if query.scalar(session, params):
        raise Duplicate("duplicate comment: it looks as though you have already said that")


@functools.cache
def _duplicate_query(has_parent: bool, has_email: bool) -> Prepared:
    query = select(Comment.id).where(
        Comment.thread_id == bindparam("thread"),
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
