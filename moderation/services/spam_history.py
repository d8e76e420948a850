"""Teach the local classifier a site's own history: the comments its moderators approved or marked
spam before this service ran (imported from WordPress, Disqus, Isso, Remark42 or a native export).

Imported comments carry no spam check, and `services.spam.learn_from_decision` only sees one when a
moderator decides it anew (it then learns from the row, `spam.submission_of`, as this does).
`learn_history` takes the site's comments (kind comment, not deleted or discarded) approved (ham)
or spam, that were never learned (``learned`` NULL) and never scored by the pipeline (no spam
check: a comment with one that is still unlearned was decided by the pipeline's own verdict, and
teaching the classifier its own verdicts only entrenches its mistakes). Each is scored by the
current model just before it is learned, as a moderator's decision is, and that probability joins
the site's reserve of decisions; the cut-offs are calibrated once at the end.

One-sided histories. WordPress exports leave spam out and Isso and Remark42 have no spam label,
so many histories are ham only. Taught to the model, a ham-only history drags every probability
down while the reserve, scored before each row was learned, still holds the higher ones: on the
open sets (scripts/simulate_history.py, BASE_MODEL.md) the shipped verdicts then caught 14 points less
spam (the same ham kept in the reserve only: 1.6 points), although the ranking improved. The
mirror, spam alone, sent ten times as much ham to spam. So the model learns a balanced history:
as many ham as spam, the newest of each. The rest of the ham only fills the reserve, where it
calibrates the cut-offs (which spam never moves, and which only rise until the reserve holds enough
ham to measure the false-positive share); the rest of the spam waits. Both stay unlearned, so a
later run with the other label to balance them still teaches them.

The reserve is filled, never flushed: only the room left under ``[spam] decision_reserve`` per
label is used, by the newest rows, so history never pushes out the moderators' own decisions. A
second run finds nothing new: learned rows are marked, reserve-only rows already have their entry.

The plan is worked out on a read session first; then each batch of rows is read and its features
extracted on a read session, and in one short write the model for those features is read
(`model_for`), each row scored and learned in memory in order, and the batch's counts and weights,
reserve rows and ``learned`` marks written, so a long history never holds the write lock for long
(bench/learn_history_bench.py: about 0.3 s per 500 comments on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from moderation.config import SiteSettings
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import (
    ClassifierDecision,
    Comment,
    SpamCheck,
    Thread,
)
from moderation.scorers.classifier import Cutoffs, SpamModel
from moderation.scorers.classifier.calibration import calibrate
from moderation.scorers.classifier.features import features
from moderation.scorers.classifier.model import Delta
from moderation.services import Context
from moderation.services.spam import (
    add_delta,
    base_model,
    calibrate_site,
    held_ham_share,
    model_for,
    site_cutoffs,
    submission_of,
)
from moderation.storage.db import Database

BATCH = 500  # rows per write: a few hundred milliseconds of lock at most
# Features per `model_for` read: its statement has two parameters per feature, padded to a power
# of two, and 500 long comments hold tens of thousands of features (PostgreSQL takes 65,535
# parameters, SQLite 32,766 or 250,000 depending on the build).
FEATURES_PER_READ = 4000
_KEY_MAX = 255  # classifier_counts.feature's length (as services.spam.learn)
LABELS = {CommentStatus.approved: False, CommentStatus.spam: True}


class UnknownSite(ValueError):
    """The site is not in the configuration (its URL and language build the submissions)."""


@dataclass
class Plan:
    """What one run does, worked out before any write: each row's id and label, oldest first,
    whether the model learns it and whether it goes into the reserve."""

    ids: list[int] = field(default_factory=list)
    spam: dict[int, bool] = field(default_factory=dict)
    learn: set[int] = field(default_factory=set)
    reserve: set[int] = field(default_factory=set)
    skipped_ham: int = 0  # neither learned nor kept: no spam to balance it, the reserve full
    waiting_spam: int = 0  # not learned: no ham to balance it


@dataclass
class HistoryReport:
    """What `learn_history` did (or, dry, would do)."""

    site: str
    dry_run: bool
    learned_ham: int = 0
    learned_spam: int = 0
    reserve_only_ham: int = 0  # ham kept in the reserve, not learned (no spam to balance it)
    reserve_added: int = 0
    skipped_ham: int = 0  # ham neither learned nor kept (the reserve is full)
    waiting_spam: int = 0  # spam not learned (no ham to balance it)
    before: Cutoffs = field(default_factory=Cutoffs)
    after: Cutoffs = field(default_factory=Cutoffs)

    def lines(self) -> list[str]:
        """The summary for a terminal."""
        verb = "would learn" if self.dry_run else "learned"
        out = [f"{self.site}: {verb} {self.learned_ham} ham and {self.learned_spam} spam"]
        if self.reserve_only_ham:
            out.append(
                f"  {self.reserve_only_ham} more ham only in the reserve (the model learns as many "
                "ham as spam from a history)"
            )
        if self.skipped_ham:
            out.append(f"  {self.skipped_ham} more ham left as they are (no spam, reserve full)")
        if self.waiting_spam:
            out.append(f"  {self.waiting_spam} more spam left as they are (no ham to balance)")
        out.append(f"  reserve: {self.reserve_added} decisions added")
        if not (self.learned_ham or self.learned_spam or self.reserve_added):
            out.append("  nothing new")
        out.append(
            f"  cut-offs before: unsure {self.before.unsure:.6f}, spam {self.before.spam:.6f}"
        )
        label = "would be" if self.dry_run else "after"
        out.append(
            f"  cut-offs {label}: unsure {self.after.unsure:.6f}, spam {self.after.spam:.6f}"
        )
        return out


def _candidates(site: str) -> Any:
    """The site's labelled history not yet learned: (id, status, already in the reserve),
    newest first."""
    checked = exists().where(SpamCheck.comment_id == Comment.id)
    reserved = exists().where(ClassifierDecision.comment_id == Comment.id)
    return (
        select(Comment.id, Comment.status, reserved.label("reserved"))
        .join(Thread, Thread.id == Comment.thread_id)
        .where(
            Thread.site == site,
            Comment.kind == CommentKind.comment,
            Comment.status.in_(list(LABELS)),
            Comment.discarded.is_(False),
            Comment.learned.is_(None),
            ~checked,
        )
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )


def _reserve_room(session: Session, ctx: Context, site: str) -> dict[bool, int]:
    """Per label, how many more decisions the site's reserve keeps without dropping any."""
    table = ClassifierDecision.__table__
    held: dict[bool, int] = dict(
        session.execute(
            select(table.c.is_spam, func.count())
            .where(table.c.site == site)
            .group_by(table.c.is_spam)
        ).all()
    )
    kept = ctx.settings.spam.decision_reserve
    return {label: max(kept - int(held.get(label, 0)), 0) for label in (False, True)}


def plan(session: Session, ctx: Context, site: str, limit: int | None = None) -> Plan:
    """The run for `site`: the newest `limit` unlearned rows (all without one), taught oldest
    first; as many of their newest ham as of their newest spam learned; the newest ham and the
    learned spam that fit in the reserve's room kept there."""
    query = _candidates(site)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()  # newest first
    room = _reserve_room(session, ctx, site)
    n_spam = sum(1 for _, status, _ in rows if LABELS[status])
    budget = dict.fromkeys((False, True), min(n_spam, len(rows) - n_spam))
    out = Plan()
    for comment_id, status, reserved in rows:
        is_spam = LABELS[status]
        learns = budget[is_spam] > 0
        keeps = not reserved and room[is_spam] > 0 and (learns or not is_spam)
        budget[is_spam] -= learns
        room[is_spam] -= keeps
        if learns:
            out.learn.add(comment_id)
        if keeps:
            out.reserve.add(comment_id)
        if learns or keeps:
            out.spam[comment_id] = is_spam
            out.ids.append(comment_id)
        elif is_spam:
            out.waiting_spam += 1
        elif not reserved:
            out.skipped_ham += 1
        # else: ham kept in the reserve by an earlier run and still not learned: nothing to do
    out.ids.reverse()  # oldest first
    return out


@dataclass
class _Step:
    """One row of a batch as scored and learned in memory."""

    comment_id: int
    is_spam: bool
    prob: float
    learned: bool
    reserved: bool


def _teach_batch(
    session: Session,
    feats: dict[int, list[str]],
    todo: Plan,
    earlier: Delta | None = None,
) -> tuple[list[_Step], Delta]:
    """Score each row of `feats` (comment id -> features, oldest first) still unlearned with the
    model (plus `earlier`, a dry run's unwritten increments), then learn it when the plan says so,
    in order, in memory. Returns the steps and the batch's summed increments."""
    labels = _still_labelled(session, list(feats))
    model = _model_for_all(session, [f for i, fs in feats.items() if i in labels for f in fs])
    if earlier is not None:
        model.apply(earlier)
    steps, total = [], Delta()
    for comment_id, feats_of in feats.items():
        if comment_id not in labels:  # learned, decided or deleted since the plan
            continue
        is_spam = labels[comment_id]
        prob = model.score(feats_of)
        learns = comment_id in todo.learn
        if learns:
            _add(total, model.learn_decision(feats_of, is_spam))
        steps.append(_Step(comment_id, is_spam, prob, learns, comment_id in todo.reserve))
    return steps, total


def _model_for_all(session: Session, feats: Sequence[str]) -> SpamModel:
    """`model_for` of any number of features, read `FEATURES_PER_READ` at a time."""
    unique = list(dict.fromkeys(feats))
    model = model_for(session, unique[:FEATURES_PER_READ])
    for start in range(FEATURES_PER_READ, len(unique), FEATURES_PER_READ):
        more = model_for(session, unique[start : start + FEATURES_PER_READ])
        model.counts.update(more.counts)
        model.weights.update(more.weights)
    return model


def _add(total: Delta, delta: Delta) -> None:
    total.spam_total += delta.spam_total
    total.ham_total += delta.ham_total
    for table, extra in ((total.counts, delta.counts), (total.weights, delta.weights)):
        for key, (a, b) in extra.items():
            old = table.get(key, (0.0, 0.0))
            table[key] = (old[0] + a, old[1] + b)


_COMMENTS = cast(Table, Comment.__table__)
_MARK = (
    update(_COMMENTS)
    .where(_COMMENTS.c.id == bindparam("cid"), _COMMENTS.c.learned.is_(None))
    .values(learned=bindparam("label"))
)


def _keep(session: Session, ctx: Context, site_id: str, steps: Sequence[_Step]) -> None:
    """`record_decision` (without calibrating) of a batch in two statements: the plan only keeps
    rows that fit in the reserve's room, so nothing older needs dropping (a moderator's next
    decision drops any excess a concurrent one made). One statement per row, as `record_decision`
    runs three, held the lock three times as long."""
    if not steps:
        return
    table = ClassifierDecision.__table__
    ids = [step.comment_id for step in steps]
    session.execute(delete(ClassifierDecision).where(table.c.comment_id.in_(ids)))
    now = ctx.clock()
    session.execute(
        insert(ClassifierDecision),
        [
            {
                "site": site_id,
                "comment_id": step.comment_id,
                "is_spam": step.is_spam,
                "probability": step.prob,
                "decided_at": now,
            }
            for step in steps
        ],
    )


def _features(
    session: Session, ids: Iterable[int], site_id: str, site: SiteSettings
) -> dict[int, list[str]]:
    """The batch's comments' features, oldest first (read and extracted before the write, so
    that the write lock is held for scoring, learning and writing only)."""
    query = (
        select(Comment, Thread)
        .join(Thread, Thread.id == Comment.thread_id)
        .where(Comment.id.in_(list(ids)), Thread.site == site_id)
        .order_by(Comment.created_at, Comment.id)
    )
    return {c.id: features(submission_of(c, t, site)) for c, t in session.execute(query).all()}


def _still_labelled(session: Session, ids: list[int]) -> dict[int, bool]:
    """Of `ids`, the comments still approved or spam and unlearned, each with its label now."""
    query = select(Comment.id, Comment.status).where(
        Comment.id.in_(ids),
        Comment.status.in_(list(LABELS)),
        Comment.discarded.is_(False),
        Comment.learned.is_(None),
    )
    return {comment_id: LABELS[status] for comment_id, status in session.execute(query).all()}


def learn_history(
    database: Database,
    ctx: Context,
    site_id: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> HistoryReport:
    """Teach the classifier `site_id`'s unlearned history and fill its reserve (see the module
    docstring); with `dry_run`, work it all out and write nothing."""
    site = ctx.settings.sites.get(site_id)
    if site is None:
        raise UnknownSite(site_id)
    report = HistoryReport(site=site_id, dry_run=dry_run)
    with database.read() as session:
        todo = plan(session, ctx, site_id, limit)
        report.skipped_ham, report.waiting_spam = todo.skipped_ham, todo.waiting_spam
        report.before = site_cutoffs(session, site_id)
        reserve_ham = [
            p
            for (p,) in session.execute(
                select(ClassifierDecision.probability).where(
                    ClassifierDecision.site == site_id, ClassifierDecision.is_spam.is_(False)
                )
            ).all()
        ]
    if not todo.ids:
        report.after = report.before
        return report
    unwritten = Delta()  # a dry run's increments, which its later batches score with
    for start in range(0, len(todo.ids), batch):
        ids = todo.ids[start : start + batch]
        with database.read() as session:
            feats = _features(session, ids, site_id, site)
            if dry_run:
                steps, delta = _teach_batch(session, feats, todo, unwritten)
                _add(unwritten, delta)
        if not dry_run:
            with database.write() as tx:
                steps, delta = _teach_batch(tx, feats, todo)
                _keep(tx, ctx, site_id, [step for step in steps if step.reserved])
                marks = [
                    {"cid": s.comment_id, "label": "spam" if s.is_spam else "ham"}
                    for s in steps
                    if s.learned
                ]
                if marks:
                    add_delta(tx, delta)
                    tx.execute(_MARK, marks)
        for step in steps:
            if step.learned:
                if step.is_spam:
                    report.learned_spam += 1
                else:
                    report.learned_ham += 1
            elif not step.is_spam:
                report.reserve_only_ham += 1
            if step.reserved:
                report.reserve_added += 1
                if not step.is_spam:
                    reserve_ham.append(step.prob)
    if dry_run:
        shipped = base_model().cutoffs
        share = ctx.settings.spam.max_false_positive_share
        report.after = calibrate(reserve_ham, shipped, share, held_ham_share())
    else:
        with database.write() as tx:
            report.after = calibrate_site(tx, ctx, site_id)
    return report
