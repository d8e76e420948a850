"""The moderation queue: listing, search, keyset pages, counts, author history, the audit log, and
the queue's actions (bulk, select-all-matching, undo, edit). Spam-and-block is in `services.lists`.

Listing is keyset-paginated, newest first by id: a page is ``WHERE status = ? AND id < cursor ORDER BY
id DESC LIMIT n``, which walks the ``ix_comments_status_id_discarded (status, id, discarded)`` index
backwards and costs the same on page 1 and page 10,000, whatever the table's size. The tab counts are
capped walks of that index that read nothing else (`discarded` is in it for the spam tab's). Search
is a case-insensitive substring match (`FoldedLike`, with ``%`` and ``_`` escaped) over text, author,
e-mail, website and IP. SQLite folds ASCII letters only, so there non-ASCII letters match in their
exact case; PostgreSQL folds every letter. From three characters on, a trigram index finds the
candidates (`queue_filters.IndexedSearch`): on SQLite a search page walks the FTS5 table's
matches newest first and joins each to its comment (so a common word stops at the page's last hit
and a rare one reads only its few matches); on PostgreSQL the planner chooses between the GIN index
and the status index. `search_counts` says where else a search matches (the other tabs).

Every status change goes through `services.moderation.apply_action`, one comment at a time: each is
checked by the state machine, audited, and teaches the scorers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, false, func, literal, select, update
from sqlalchemy.orm import Session, selectinload

from moderation import markup
from moderation.domain.states import TRANSITIONS, Action, CommentStatus
from moderation.errors import InvalidInput, InvalidTransition, NotFound
from moderation.models import Comment, ModerationEvent, SpamCheck, Thread
from moderation.services import Context
from moderation.services.moderation import Actor, apply_action, get_comment, record_event
from moderation.services.queue_filters import (
    DEFAULT_LIMIT,
    FTS,
    MAX_ID,
    QueueFilter,
    exact_clause,
    fts_match,
    indexed,
    search_clause,
    with_rarest,
)

SEARCH_COUNT_CAP = 1_000  # search_counts look at this many matches at most, newest first
COUNT_CAP = 10_000  # tab counts stop here ("10,000+"): exact counts of millions cost a full scan
BATCH = 200  # select-all-matching works through the matches this many at a time
MAX_MATCHING = 5_000  # ... and stops after this many per request, saying how many remain
HISTORY_LIMIT = 20
S = CommentStatus


# --- filters ---------------------------------------------------------------------------------------


def _status_clauses(status: CommentStatus, discarded: bool) -> list[ColumnElement[bool]]:
    clauses = [Comment.status == status]
    if status is S.spam and not discarded:
        clauses.append(Comment.discarded == false())
    return clauses


def _narrowing(f: QueueFilter, *, search: bool = True) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.site or f.uri or f.scope is not None:
        threads = select(Thread.id)
        if f.site:
            threads = threads.where(Thread.site == f.site)
        if f.scope is not None:  # the moderator's sites: one is an equality, like `site`
            only = next(iter(f.scope)) if len(f.scope) == 1 else None
            scoped = Thread.site == only if only else Thread.site.in_(sorted(f.scope))
            threads = threads.where(scoped)
        if f.uri:
            threads = threads.where(Thread.uri == f.uri)
        clauses.append(Comment.thread_id.in_(threads))
    if f.kind:
        clauses.append(Comment.kind == f.kind)
    if search and f.q:
        clauses.append(search_clause(f.q, f.fts))
    return clauses


def matching(f: QueueFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the comments `f` selects."""
    return [*_status_clauses(f.status, f.discarded), *_narrowing(f)]


# --- listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One row of the queue: the comment (its thread loaded) and its latest spam check."""

    comment: Comment
    check: SpamCheck | None


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue, and the cursor of the next page (None on the last)."""

    items: list[QueueItem]
    next: int | None


def queue_query(f: QueueFilter, *, limit: int, cursor: int | None = None, dialect: str = "") -> Any:
    """The SELECT of one queue page (exposed so tests and the benchmark can EXPLAIN it).

    A search on SQLite (`dialect`) is driven by the FTS5 table: ``comments_fts JOIN comments``,
    ``MATCH``, newest match first, each match then checked exactly (`_fts_query`)."""
    if dialect == "sqlite" and indexed(f.q):
        return _fts_query(select(Comment), f, limit=limit, cursor=cursor)
    query = select(Comment).where(*matching(f))
    if cursor is not None:
        query = query.where(Comment.id < cursor)
    return query.order_by(Comment.id.desc()).limit(limit)


def _fts_query(
    query: Any, f: QueueFilter, *, limit: int, cursor: int | None = None, status: bool = True
) -> Any:
    """`query` (a SELECT of comment columns) over the FTS5 matches of `f`'s search, newest first.

    FTS5 returns its matches in descending rowid order by itself and takes the cursor as a rowid
    bound, so the page stops at its last hit without collecting every match first (an ``id IN
    (matches)`` would: 40-70 ms for a common word at 300,000 rows)."""
    clauses = [
        fts_match(f.q, f.fts),
        *(_status_clauses(f.status, f.discarded) if status else []),
        *_narrowing(f, search=False),
        exact_clause(f.q),
    ]
    if cursor is not None:
        clauses.append(FTS.c.rowid < cursor)
    query = query.select_from(FTS).join(Comment, Comment.id == FTS.c.rowid).where(*clauses)
    return query.order_by(FTS.c.rowid.desc()).limit(limit)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def list_queue(
    session: Session, f: QueueFilter, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None
) -> QueuePage:
    """The comments `f` selects, newest first, `limit` at a time, after `cursor` (an id)."""
    f = with_rarest(session, f)
    query = queue_query(f, limit=limit + 1, cursor=cursor, dialect=_dialect(session))
    query = query.options(selectinload(Comment.thread))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    checks = latest_checks(session, [c.id for c in rows])
    items = [QueueItem(c, checks.get(c.id)) for c in rows]
    return QueuePage(items, rows[-1].id if more else None)


# What a row of the dashboard's queue shows: the comment's columns and its thread's, no ORM objects.
ROW_COLUMNS = (
    Comment.id,
    Comment.kind,
    Comment.status,
    Comment.author,
    Comment.email,
    Comment.website,
    Comment.ip,
    Comment.html,
    Comment.created_at,
    Comment.source,
    Comment.verified,
    Comment.discarded,
    Thread.site,
    Thread.uri,
    Thread.title,
)


@dataclass(frozen=True)
class QueueRows:
    """A page of the queue as plain rows (the dashboard's: it renders 50 of them per request).

    Each row has the `ROW_COLUMNS` as attributes; `checks` holds the latest spam check's
    ``verdict``, ``score`` and ``signals`` by comment id; `next` is the next page's cursor."""

    rows: list[Row[Any]]
    checks: dict[int, Row[Any]]
    next: int | None


def list_rows(
    session: Session, f: QueueFilter, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None
) -> QueueRows:
    """`list_queue` read as rows: one query for the page and its threads, one for the checks."""
    f = with_rarest(session, f)
    query = queue_query(f, limit=limit + 1, cursor=cursor, dialect=_dialect(session))
    query = query.with_only_columns(*ROW_COLUMNS).join(Thread, Thread.id == Comment.thread_id)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [row.id for row in rows]
    checks: dict[int, Row[Any]] = {}
    if ids:
        newest = (
            select(func.max(SpamCheck.id))
            .where(SpamCheck.comment_id.in_(ids))
            .group_by(SpamCheck.comment_id)
        )
        found = session.execute(
            select(
                SpamCheck.comment_id, SpamCheck.verdict, SpamCheck.score, SpamCheck.signals
            ).where(SpamCheck.id.in_(newest))
        )
        checks = {check.comment_id: check for check in found}
    return QueueRows(list(rows), checks, ids[-1] if more else None)


def latest_checks(session: Session, ids: Sequence[int]) -> dict[int, SpamCheck]:
    """The newest spam check of each comment in `ids` (comments without one are left out)."""
    if not ids:
        return {}
    newest = (
        select(func.max(SpamCheck.id))
        .where(SpamCheck.comment_id.in_(ids))
        .group_by(SpamCheck.comment_id)
    )
    rows = session.scalars(select(SpamCheck).where(SpamCheck.id.in_(newest)))
    return {check.comment_id: check for check in rows}


def _capped(clauses: list[ColumnElement[bool]], cap: int) -> Any:
    """``count(*)`` of the comments `clauses` select, stopping at ``cap + 1``: a walk of at most
    that many entries of an index (the LIMIT is inside, so the count never scans further)."""
    inner = select(literal(1)).select_from(Comment).where(*clauses).limit(cap + 1).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def _capped_count(session: Session, clauses: list[ColumnElement[bool]], cap: int) -> int:
    return session.scalar(select(_capped(clauses, cap))) or 0


def status_counts(session: Session, f: QueueFilter, cap: int = COUNT_CAP) -> dict[str, int]:
    """How many comments each tab holds under `f`'s site, thread and kind (not its search), and,
    on the spam tab, how many discards it hides (key ``discarded``). Counts stop at ``cap + 1``.

    One statement, a capped walk of the status index per tab."""
    narrowing = _narrowing(f, search=False)
    counts = {
        status.value: _capped([*_status_clauses(status, f.discarded), *narrowing], cap)
        for status in CommentStatus
    }
    if f.status is S.spam:  # only the spam tab shows it
        hidden = [Comment.status == S.spam, Comment.discarded.is_not(false()), *narrowing]
        counts["discarded"] = _capped(hidden, cap)
    row = session.execute(select(*(count.label(name) for name, count in counts.items()))).one()
    return {"discarded": 0} | dict(row._mapping)


@dataclass(frozen=True)
class SearchCounts:
    """Where a search matches, by tab: ``pending``, ``approved``, ``spam`` (Akismet's discards
    left out unless the filter shows them), ``deleted``, and ``discarded`` (the spam tab's hidden
    discards, when they are hidden). Counted over the newest ``cap + 1`` matches at most: when
    `more` is set there are more matches than `total` and each count is a lower bound."""

    by_status: dict[str, int]
    more: bool

    @property
    def total(self) -> int:
        """How many matches were counted (``cap + 1`` when there are more)."""
        return sum(self.by_status.values())

    def elsewhere(self, f: QueueFilter) -> dict[str, int]:
        """The counts of the tabs other than `f`'s that hold matches (the dashboard's hint)."""
        here = f.status.value
        return {k: n for k, n in self.by_status.items() if n and k not in (here, "discarded")}


def search_counts(session: Session, f: QueueFilter, cap: int = SEARCH_COUNT_CAP) -> SearchCounts:
    """How many comments `f`'s search matches in each tab, under its site, thread and kind.

    One statement: the newest ``cap + 1`` matches of every status, grouped by status (through the
    FTS5 table on SQLite, the trigram index or a backward walk of the id on PostgreSQL)."""
    counts = {status.value: 0 for status in CommentStatus} | {"discarded": 0}
    if not f.q:
        return SearchCounts(counts, False)
    f = with_rarest(session, f)
    columns = select(Comment.status, Comment.discarded)
    if _dialect(session) == "sqlite" and indexed(f.q):
        inner = _fts_query(columns, f, limit=cap + 1, status=False)
    else:
        inner = columns.where(*_narrowing(f)).order_by(Comment.id.desc()).limit(cap + 1)
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.status, sub.c.discarded, func.count()).group_by(sub.c.status, sub.c.discarded)
    )
    seen = 0
    for status, discarded, n in rows:
        key = CommentStatus(status).value
        if key == S.spam.value and discarded and not f.discarded:
            key = "discarded"
        counts[key] += n
        seen += n
    return SearchCounts(counts, seen > cap)  # (every counted row is a match: lower bounds)


def newest_id(session: Session) -> int:
    """The highest comment id now: select-all-matching acts on nothing that arrives later."""
    return session.scalar(select(func.max(Comment.id))) or 0


# --- one comment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorHistory:
    """The other comments by the same e-mail address and from the same IP, newest first."""

    by_email: list[Comment]
    by_ip: list[Comment]


def author_history(
    session: Session,
    comment: Comment,
    limit: int = HISTORY_LIMIT,
    sites: frozenset[str] | None = None,
) -> AuthorHistory:
    """The author's other comments (exact e-mail and exact IP, each through its index), on
    `sites` only (the moderator's; None: all)."""
    scoped = (
        []
        if sites is None
        else [Comment.thread_id.in_(select(Thread.id).where(Thread.site.in_(sorted(sites))))]
    )

    def others(column: Any, value: str) -> list[Comment]:
        if not value:
            return []
        query = (
            select(Comment)
            .where(column == value, Comment.id != comment.id, *scoped)
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(limit)
            .options(selectinload(Comment.thread))
        )
        return list(session.scalars(query))

    return AuthorHistory(others(Comment.email, comment.email), others(Comment.ip, comment.ip))


@dataclass(frozen=True)
class AuditPage:
    """A page of the audit log, newest first, and the cursor of the next page."""

    events: list[ModerationEvent]
    next: int | None


def audit_log(
    session: Session,
    *,
    comment_id: int | None = None,
    moderator_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
    sites: frozenset[str] | None = None,
) -> AuditPage:
    """Audit rows (who, what, when, from which state, why), newest first, keyset by id. With
    `sites` (a moderator's, None: all) only the rows about comments on those sites: a row whose
    comment was purged has no site left and is shown to those who see every site only."""
    query = select(ModerationEvent)
    if sites is not None:
        on_sites = (
            select(Comment.id)
            .join(Thread, Thread.id == Comment.thread_id)
            .where(Comment.id == ModerationEvent.comment_id, Thread.site.in_(sorted(sites)))
        )
        query = query.where(on_sites.exists())
    if comment_id is not None:
        query = query.where(ModerationEvent.comment_id == comment_id)
    if moderator_id is not None:
        query = query.where(ModerationEvent.moderator_id == moderator_id)
    if cursor is not None:
        query = query.where(ModerationEvent.id < cursor)
    rows = list(session.scalars(query.order_by(ModerationEvent.id.desc()).limit(limit + 1)))
    return AuditPage(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


# --- actions ---------------------------------------------------------------------------------------


@dataclass
class Batch:
    """What a queue action did: how many comments moved, how many were skipped because the action
    did not apply (or they were gone), the audit rows it wrote, how many matches remain unprocessed,
    and a block-list entry it added (undo removes it)."""

    done: int = 0
    skipped: int = 0
    events: list[int] = field(default_factory=list)
    remaining: int = 0
    entry_id: int | None = None

    def add(self, other: Batch) -> None:
        """Fold another batch's counts into this one."""
        self.done += other.done
        self.skipped += other.skipped
        self.events += other.events


def find_comment(session: Session, comment_id: int, sites: frozenset[str] | None = None) -> Comment:
    """The comment with `comment_id` (any integer a URL may carry); raise `NotFound`, also for a
    comment outside `sites` (the moderator's, None: all): not 403, which would say it exists."""
    if not 0 < comment_id <= MAX_ID:
        raise NotFound(f"no comment {comment_id}")
    comment = get_comment(session, comment_id)
    if sites is not None and comment.thread.site not in sites:
        raise NotFound(f"no comment {comment_id}")
    return comment


def act_on(
    session: Session,
    ctx: Context,
    comment_id: int,
    action: Action,
    actor: Actor,
    sites: frozenset[str] | None = None,
) -> Batch:
    """One comment (of `sites`, None: any) through `action`; raise `NotFound` or
    `InvalidTransition`."""
    event = apply_action(session, ctx, find_comment(session, comment_id, sites), action, actor)
    return Batch(done=1, events=[event.id])


def act_on_many(
    session: Session,
    ctx: Context,
    ids: Sequence[int],
    action: Action,
    actor: Actor,
    sites: frozenset[str] | None = None,
) -> Batch:
    """`action` on each comment of `ids`; those it does not apply to (or that are gone) are skipped.
    A comment outside `sites` (None: any) raises `NotFound` before any is acted on."""
    batch = Batch()
    wanted = [i for i in ids if 0 < i <= MAX_ID]
    query = select(Comment).where(Comment.id.in_(wanted))
    found = {c.id: c for c in session.scalars(query)}
    if sites is not None and found:
        found_sites = session.scalars(
            select(Thread.site)
            .distinct()
            .join(Comment, Comment.thread_id == Thread.id)
            .where(Comment.id.in_(list(found)))
        )
        if any(site not in sites for site in found_sites):
            raise NotFound("a selected comment is not there")
    for comment_id in dict.fromkeys(ids):
        comment = found.get(comment_id)
        try:
            if comment is None:
                raise NotFound(f"no comment {comment_id}")
            event = apply_action(session, ctx, comment, action, actor)
        except (InvalidTransition, NotFound):
            batch.skipped += 1
        else:
            batch.done += 1
            batch.events.append(event.id)
    return batch


def act_on_matching(
    session: Session,
    ctx: Context,
    f: QueueFilter,
    action: Action,
    actor: Actor,
    *,
    upto: int,
    limit: int = MAX_MATCHING,
) -> Batch:
    """`action` on every comment `f` selects with an id up to `upto`, `BATCH` at a time.

    Each batch is fetched by keyset below the last id seen, so comments that left the filter
    (because we just moved them) are never fetched twice. Stops after `limit` comments and reports
    how many still match in `remaining` (counted up to `COUNT_CAP`).
    """
    total, cursor = Batch(), upto + 1
    f = with_rarest(session, f)  # read before the first write: the page's probes, kept
    while total.done + total.skipped < limit:
        size = min(BATCH, limit - total.done - total.skipped)
        ids = list(
            session.scalars(
                select(Comment.id)
                .where(*matching(f), Comment.id < cursor)
                .order_by(Comment.id.desc())
                .limit(size)
            )
        )
        if not ids:
            return total
        total.add(act_on_many(session, ctx, ids, action, actor))
        cursor = ids[-1]
        session.flush()  # what the hooks changed (the classifier's label) is written first,
        session.expunge_all()  # then memory stays flat over thousands of comments
    total.remaining = _capped_count(session, [*matching(f), Comment.id < cursor], COUNT_CAP)
    return total


def reverse_actions(current: CommentStatus, target: CommentStatus) -> list[Action]:
    """The actions that lead from `current` back to `target`: directly when the state machine has
    one (not-spam, rather than approve, undoes a spam mark: it says the verdict was wrong), else
    through pending (a deleted comment is restored, then approved or marked spam again)."""
    if current is target:
        return []
    if (current, target) == (S.spam, S.approved):
        return [Action.ham]
    direct = [a for (s, a), t in TRANSITIONS.items() if s is current and t is target]
    if direct:
        return direct[:1]
    out = [a for (s, a), t in TRANSITIONS.items() if s is current and t is S.pending]
    back = [a for (s, a), t in TRANSITIONS.items() if s is S.pending and t is target]
    if not (out and back):
        raise InvalidTransition(f"no way back from {current.value} to {target.value}")
    return [out[0], back[0]]


def undo(session: Session, ctx: Context, event_ids: Sequence[int], actor: Actor) -> Batch:
    """Reverse the status changes recorded in `event_ids` (newest first), each through the state
    machine, so the undo is audited too. A comment that has moved on since is skipped."""
    batch = Batch()
    events = session.scalars(
        select(ModerationEvent)
        .where(
            ModerationEvent.id.in_(event_ids),
            ModerationEvent.from_status.is_not(None),
            ModerationEvent.from_status != ModerationEvent.to_status,  # not edits
        )
        .order_by(ModerationEvent.id.desc())
    ).all()
    changed: set[int] = set()
    for event in events:
        comment = session.get(Comment, event.comment_id) if event.comment_id else None
        if comment is None or comment.status is not event.to_status or event.from_status is None:
            batch.skipped += 1
            continue
        for action in reverse_actions(comment.status, event.from_status):
            batch.events.append(apply_action(session, ctx, comment, action, actor, "undo").id)
        changed.add(comment.id)
    batch.done = len(changed)
    return batch


def events_between(session: Session, first: int, last: int, actor: Actor) -> list[int]:
    """The ids of `actor`'s audit rows from `first` to `last`: a large batch is remembered as its
    range, since a session cookie cannot hold thousands of ids."""
    return list(
        session.scalars(
            select(ModerationEvent.id).where(
                ModerationEvent.id.between(first, last), ModerationEvent.actor == actor.label
            )
        )
    )


def edit_comment(
    session: Session,
    ctx: Context,
    comment_id: int,
    text: str,
    actor: Actor,
    sites: frozenset[str] | None = None,
) -> ModerationEvent | None:
    """A moderator's edit of a comment's text: re-rendered, the thread's version bumped (its public
    JSON changed), an ``edit`` audit row. None when the text is unchanged; `InvalidInput` when empty
    or too long."""
    comment = find_comment(session, comment_id, sites)
    text = text.strip()
    if not text:
        raise InvalidInput("the text is empty", fields={"text": "write something"})
    if len(text.encode()) > ctx.settings.comments.max_text_bytes:
        raise InvalidInput("the text is too long", fields={"text": "too long"})
    if text == comment.text:
        return None
    html = markup.render_as(text, comment.text_format)
    comment.text, comment.html, comment.modified_at = text, html, ctx.clock()
    session.execute(
        update(Thread).where(Thread.id == comment.thread_id).values(version=Thread.version + 1)
    )
    return record_event(session, ctx, comment, "edit", comment.status, actor, "text edited")


def approve_and_trust(
    session: Session,
    ctx: Context,
    comment_id: int,
    actor: Actor,
    sites: frozenset[str] | None = None,
) -> tuple[Batch, bool]:
    """Approve the comment; returns the batch and whether its author is now trusted.

    Trust needs no flag of its own: the first-time policy already publishes authors with an approved
    comment under the same name and e-mail (`moderation.services.comments.author_trusted`), so the
    approval itself is the trust. Without a name and an e-mail there is no one to trust.
    """
    comment = find_comment(session, comment_id, sites)
    event = apply_action(
        session, ctx, comment, Action.approve, actor, "approved and trusted the author"
    )
    return Batch(done=1, events=[event.id]), bool(comment.author and comment.email)
