"""The spam pipeline as the service runs it: which scorers judge a submission, what moderators'
decisions teach them, and the background work (re-checks, Akismet feedback, purges)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from moderation.config import Settings, SiteSettings
from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Scorer, Signal, Submission, Thresholds, Verdict, run_pipeline
from moderation.domain.states import Action, CommentKind, CommentStatus, is_correction
from moderation.errors import InvalidTransition, ScorerUnavailable
from moderation.models import (
    ClassifierCount,
    ClassifierCutoff,
    ClassifierDecision,
    Comment,
    ListEntry,
    ListKind,
    ModerationEvent,
    Thread,
)
from moderation.scorers.classifier import ClassifierScorer, Cutoffs, SpamModel, load_base_model
from moderation.scorers.classifier.calibration import calibrate
from moderation.scorers.classifier.features import features
from moderation.scorers.classifier.model import BIAS, Delta
from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings
from moderation.services import Context, outbox
from moderation.services.comments import record_check
from moderation.services.moderation import SYSTEM, apply_action
from moderation.storage.db import Database
from moderation.storage.prepared import Prepared, in_list, spread

log = logging.getLogger(__name__)

TOTALS = ""  # the classifier_counts row that holds the totals
# classifier_counts rows under this prefix hold a logistic weight's (weight, squared gradients)
# increments; the row of the prefix alone holds the intercept's.
WEIGHT_PREFIX = "lr:"
_KEY_MAX = (
    255  # classifier_counts.feature's length (a longer feature, say a huge host, is not kept)
)
LEARNING_ACTIONS = {Action.approve: False, Action.ham: False, Action.spam: True}


def install(ctx: Context) -> Context:
    """`ctx` with the production scorers and the learning and feedback hooks."""
    akismet = build_akismet(ctx.settings)
    return replace(
        ctx,
        thresholds=Thresholds(ctx.settings.spam.unsure_threshold, ctx.settings.spam.spam_threshold),
        scorer_factory=functools.partial(scorers_for, ctx.settings, akismet),
        transition_hooks=(*ctx.transition_hooks, learn_from_decision, queue_akismet_feedback),
        submission_hooks=(*ctx.submission_hooks, queue_recheck),
        akismet=akismet,
    )


def build_akismet(settings: Settings) -> Any:
    """The one Akismet scorer of this process, or None without a key (no network call here)."""
    if not settings.akismet.key:
        return None
    from moderation.scorers.akismet import AkismetScorer

    return AkismetScorer.from_settings(settings.akismet)


# --- scorers -----------------------------------------------------------------------------------


def scorers_for(settings: Settings, akismet: Any, session: Session, site: str) -> Sequence[Scorer]:
    """Rules with this site's lists, the shared learned classifier, then Akismet when configured."""
    limits = RuleSettings(
        max_links=settings.spam.max_links,
        count_website_as_link=settings.spam.count_website_as_link,
    )
    rules = RuleScorer(limits, rule_lists(session, settings, site))
    scorers: list[Scorer] = [rules]
    if settings.spam.classifier:
        scorers.append(SharedClassifier(session, site))
    if akismet is not None:
        scorers.append(akismet)
    return scorers


def rule_lists(session: Session, settings: Settings, site: str) -> RuleLists:
    """The config's starting lists merged with the entries admins added (for all sites or `site`)."""
    spam = settings.spam
    starting = (
        spam.moderation_keys,
        spam.disallowed_keys,
        spam.blocked_ips,
        spam.blocked_emails,
        spam.blocked_domains,
    )
    rows = tuple(_LIST_ENTRIES.rows(session, {"site": site}))
    return _merged_lists(tuple(tuple(values) for values in starting), rows)


@functools.lru_cache(maxsize=64)
def _merged_lists(
    starting: tuple[tuple[str, ...], ...], rows: tuple[tuple[ListKind, str], ...]
) -> RuleLists:
    """`RuleLists` of the starting lists plus `rows`, built once per distinct content: the lists
    change when an admin edits them, and building them parses every IP network and domain."""
    kinds = (
        ListKind.moderation_key,
        ListKind.disallowed_key,
        ListKind.blocked_ip,
        ListKind.blocked_email,
        ListKind.blocked_domain,
    )
    lists: dict[ListKind, list[str]] = {
        kind: list(values) for kind, values in zip(kinds, starting, strict=True)
    }
    for kind, value in rows:
        lists[kind].append(value)
    return RuleLists(
        moderation_keys=tuple(lists[ListKind.moderation_key]),
        disallowed_keys=tuple(lists[ListKind.disallowed_key]),
        blocked_ips=tuple(lists[ListKind.blocked_ip]),
        blocked_emails=tuple(lists[ListKind.blocked_email]),
        blocked_domains=tuple(lists[ListKind.blocked_domain]),
    )


# Statements of the submission path, built once (building one costs more than running it).
_entries = ListEntry.__table__
_LIST_ENTRIES = Prepared(
    select(_entries.c.kind, _entries.c.value).where(
        or_(_entries.c.site.is_(None), _entries.c.site == bindparam("site"))
    )
)
_counts = ClassifierCount.__table__
_cutoffs = ClassifierCutoff.__table__
_SITE_CUTOFFS = Prepared(
    select(_cutoffs.c.unsure, _cutoffs.c.spam).where(_cutoffs.c.site == bindparam("site"))
)


@functools.cache
def _learned_counts(length: int) -> Prepared:
    """The learned counts of `length` features (`learned_counts` rounds lengths up to a power of
    two, so a handful of statements serve every submission)."""
    return Prepared(
        select(_counts.c.feature, _counts.c.spam, _counts.c.ham).where(
            _counts.c.feature.in_(in_list("feature", length))
        )
    )


def learned_counts(session: Session, features: list[str]) -> list[tuple[Any, ...]]:
    """(feature, spam, ham) of each of `features` that moderators' decisions taught."""
    length = 1 << max(len(features) - 1, 0).bit_length()
    padded = features + features[-1:] * (length - len(features))  # a repeat matches nothing new
    return _learned_counts(length).rows(session, spread("feature", padded))


@functools.cache
def base_model() -> SpamModel:
    """The shipped base model, loaded once per process."""
    return load_base_model()


class SharedClassifier:
    """The classifier as every worker sees it: the shipped base model plus what this installation's
    moderators taught it (`classifier_counts`), read per submission for just its features, with
    the cut-offs calibrated for the site (`classifier_cutoffs`)."""

    name = "classifier"

    def __init__(self, session: Session, site: str) -> None:
        self.session = session
        self.site = site

    def score(self, submission: Submission) -> list[Signal]:
        """Score with a model made of exactly the rows this submission's features need."""
        feats = features(submission)
        cutoffs = site_cutoffs(self.session, self.site)
        return [ClassifierScorer(model_for(self.session, feats), cutoffs).judge(feats)[0]]


def site_cutoffs(session: Session, site: str) -> Cutoffs:
    """The site's calibrated cut-offs, or the shipped ones until its moderators have decided."""
    rows = _SITE_CUTOFFS.rows(session, {"site": site})
    return Cutoffs(unsure=rows[0][0], spam=rows[0][1]) if rows else base_model().cutoffs


def model_for(session: Session, feats: Sequence[str]) -> SpamModel:
    """Base counts and logistic weights plus learned ones, for `feats` and the totals only."""
    base = base_model()
    unique = list(dict.fromkeys(feats))
    keys = [TOTALS, *unique]
    if base.params.logistic:
        keys += [WEIGHT_PREFIX + f for f in (BIAS, *unique)]
    learned = {feature: (spam, ham) for feature, spam, ham in learned_counts(session, keys)}
    totals = learned.get(TOTALS, (0.0, 0.0))
    weights = _added(base.weights, learned, [BIAS, *unique], WEIGHT_PREFIX)
    return SpamModel(
        _added(base.counts, learned, unique, ""),
        base.spam_total + totals[0],
        base.ham_total + totals[1],
        base.params,
        base.cutoffs,
        base.meta,
        weights if base.params.logistic else None,
    )


def _added(
    base: dict[str, list[float]],
    learned: dict[str, tuple[float, float]],
    keys: Sequence[str],
    prefix: str,
) -> dict[str, tuple[float, float]]:
    """Each key's base pair plus its learned pair (stored under ``prefix + key``), where either is
    known."""
    out = {}
    for key in keys:
        b = base.get(key, (0.0, 0.0))
        extra = learned.get(prefix + key, (0.0, 0.0))
        if b != (0.0, 0.0) or extra != (0.0, 0.0):
            out[key] = (b[0] + extra[0], b[1] + extra[1])
    return out


def learn(
    session: Session,
    submission: Submission,
    is_spam: bool,
    weight: float = 1.0,
    model: SpamModel | None = None,
) -> Delta:
    """Add one moderator decision (`weight` of them; a negative weight takes one back) to the
    shared counts and take the logistic step, from `model` when the caller has just read it for
    these features; a decision counts `DECISION_WEIGHT` training examples of the shipped model.
    Returns what was added.

    Increments are done in SQL (``spam = spam + w``), so concurrent decisions on several workers
    or nodes all count. A logistic step is computed from the weights this transaction read.
    """
    feats = features(submission)
    if model is None:
        logistic = base_model().params.logistic and weight > 0
        model = model_for(session, feats) if logistic else SpamModel(params=base_model().params)
    delta = model.learn_decision(feats, is_spam, weight)
    add_delta(session, delta)
    return delta


def add_delta(session: Session, delta: Delta) -> None:
    """Add `delta` (counts and logistic increments) to the shared counts in one statement."""
    rows: list[dict[str, Any]] = [
        {"feature": TOTALS, "spam": delta.spam_total, "ham": delta.ham_total}
    ]
    rows += [{"feature": f, "spam": s, "ham": h} for f, (s, h) in delta.counts.items()]
    rows += [
        {"feature": WEIGHT_PREFIX + f, "spam": change, "ham": squared}
        for f, (change, squared) in delta.weights.items()
    ]
    upsert = _upsert(session, ClassifierCount)
    stmt = upsert.on_conflict_do_update(
        index_elements=[ClassifierCount.feature],
        set_={
            "spam": ClassifierCount.spam + upsert.excluded.spam,
            "ham": ClassifierCount.ham + upsert.excluded.ham,
        },
    )
    session.execute(stmt, [row for row in rows if len(row["feature"]) <= _KEY_MAX])


def _upsert(session: Session, model: type[Any]) -> Any:
    """The dialect's INSERT for `model`, which has ``on_conflict_do_update`` on both engines."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def held_ham_share() -> float:
    """The share of ham the unsure cut may hold: the shipped model's calibration target."""
    targets = base_model().meta.get("targets")
    held = targets.get("held_ham") if isinstance(targets, dict) else None
    return float(held) if isinstance(held, int | float) else 0.05


def _step_json(step: dict[str, tuple[float, float]]) -> str:
    """A step's weight changes as compact JSON, each to 17 significant digits (a float's own)."""
    return json.dumps({feat: change for feat, (change, _) in step.items()}, separators=(",", ":"))


def take_back_step(session: Session, comment_id: int) -> bool:
    """Subtract the logistic step kept with the comment's decision from the shared weights (its
    squared gradients stay: AdaGrad only ever slows down). False when no step was kept (the
    decision is older than the reserve, or took none): the counts alone are taken back then."""
    kept = session.scalar(
        select(ClassifierDecision.step).where(ClassifierDecision.comment_id == comment_id)
    )
    if not kept:
        return False
    delta = Delta()
    delta.weights = {feat: (-change, 0.0) for feat, change in json.loads(kept).items()}
    add_delta(session, delta)
    return True


def record_decision(
    session: Session,
    ctx: Context,
    site: str,
    comment_id: int | None,
    is_spam: bool,
    prob: float,
    calibrate_now: bool = True,
    step: dict[str, tuple[float, float]] | None = None,
) -> Cutoffs | None:
    """Keep a decision and its probability (scored before learning) in the site's reserve, drop
    the reserve's oldest beyond `decision_reserve`, and calibrate the site's cut-offs again (a
    bulk caller passes ``calibrate_now=False`` and calls `calibrate_site` once at the end).
    `step` (a `Delta`'s weights) is kept so that reversing the decision takes it back.

    Two decisions committed at the same moment on PostgreSQL may each miss the other's row; the
    next decision on the site calibrates with both.
    """
    table = ClassifierDecision.__table__
    if comment_id is not None:  # a reversed decision replaces the earlier one
        session.execute(delete(ClassifierDecision).where(table.c.comment_id == comment_id))
    session.execute(
        insert(ClassifierDecision).values(
            site=site,
            comment_id=comment_id,
            is_spam=is_spam,
            probability=prob,
            decided_at=ctx.clock(),
            step=_step_json(step) if step else None,
        )
    )
    kept = ctx.settings.spam.decision_reserve
    same = (table.c.site == site) & (table.c.is_spam == is_spam)
    oldest_kept = session.scalar(
        select(table.c.id).where(same).order_by(table.c.id.desc()).offset(kept - 1).limit(1)
    )
    if oldest_kept is not None:
        session.execute(delete(ClassifierDecision).where(same, table.c.id < oldest_kept))
    return calibrate_site(session, ctx, site) if calibrate_now else None


def calibrate_site(session: Session, ctx: Context, site: str) -> Cutoffs:
    """Calibrate the site's cut-offs on its reserve's ham and store them for every worker."""
    table = ClassifierDecision.__table__
    rows = session.execute(
        select(table.c.is_spam, table.c.probability).where(table.c.site == site)
    ).all()
    ham = [prob for is_spam, prob in rows if not is_spam]
    cutoffs = calibrate(
        ham, base_model().cutoffs, ctx.settings.spam.max_false_positive_share, held_ham_share()
    )
    values = {
        "unsure": cutoffs.unsure,
        "spam": cutoffs.spam,
        "ham_decisions": len(ham),
        "spam_decisions": len(rows) - len(ham),
        "updated_at": ctx.clock(),
    }
    upsert = _upsert(session, ClassifierCutoff)
    session.execute(
        upsert.values(site=site, **values).on_conflict_do_update(
            index_elements=[ClassifierCutoff.site], set_=values
        )
    )
    return cutoffs


# --- hooks --------------------------------------------------------------------------------------


def submission_from_record(record: dict[str, Any]) -> Submission:
    """A `Submission` back from `SpamCheck.submitted`."""
    created = record.get("created")
    return Submission(
        kind=CommentKind(record["kind"]),
        site=record["site"],
        site_url=record["site_url"],
        permalink=record["permalink"],
        text=record["text"],
        author=record.get("author", ""),
        email=record.get("email", ""),
        website=record.get("website", ""),
        ip=record.get("ip", ""),
        user_agent=record.get("user_agent", ""),
        referrer=record.get("referrer", ""),
        created=datetime.fromisoformat(created) if created else None,
        language=record.get("language", "en"),
        honeypot=record.get("honeypot", ""),
        source=record.get("source", ""),
        author_trusted=bool(record.get("author_trusted")),
        repeat_pages=int(record.get("repeat_pages") or 0),
        repeat_spam_pages=int(record.get("repeat_spam_pages") or 0),
        extra={str(k): str(v) for k, v in (record.get("extra") or {}).items()},
    )


def submission_of(comment: Comment, thread: Thread, site: SiteSettings) -> Submission:
    """A stored comment as the widget would have sent it (no honeypot, not a trusted author): what
    the classifier learns from a comment the spam check never saw (an imported one)."""
    return Submission(
        kind=comment.kind,
        site=thread.site,
        site_url=site.url,
        permalink=site.page_url(thread.uri),
        text=comment.text,
        author=comment.author,
        email=comment.email,
        website=comment.website,
        ip=comment.ip,
        user_agent=comment.user_agent,
        referrer=comment.referrer,
        created=comment.created_at,
        language=site.language,
    )


def learn_from_decision(
    session: Session, ctx: Context, comment: Comment, event: ModerationEvent
) -> None:
    """A moderator's approve / spam / not-spam teaches the classifier at once, replacing whatever
    an earlier decision on the same comment taught it (an imported comment too, or what
    `learn-history` taught from it); the comment, scored just before, joins the site's reserve and
    the site's cut-offs are calibrated again."""
    if event.moderator_id is None and not event.actor.startswith(("moderator:", "token:")):
        return
    try:
        action = Action(event.action)
    except ValueError:
        return
    if action not in LEARNING_ACTIONS:
        return
    is_spam = LEARNING_ACTIONS[action]
    label = "spam" if is_spam else "ham"
    if comment.learned == label:
        return
    if comment.checks:
        submission = submission_from_record(comment.checks[-1].submitted)
    else:  # imported: the row itself, as `spam_history` teaches it
        site = ctx.settings.sites.get(comment.thread.site)
        if site is None:
            return
        submission = submission_of(comment, comment.thread, site)
    if comment.learned is not None:  # the earlier lesson goes: its counts and its step
        learn(session, submission, comment.learned == "spam", weight=-1.0)
        take_back_step(session, comment.id)
    feats = features(submission)  # scored before learning: the reserve measures unseen comments
    model = model_for(session, feats)
    prob = model.score(feats)
    delta = learn(session, submission, is_spam, model=model)
    record_decision(session, ctx, submission.site, comment.id, is_spam, prob, step=delta.weights)
    comment.learned = label


def queue_akismet_feedback(
    session: Session, ctx: Context, comment: Comment, event: ModerationEvent
) -> None:
    """When a moderator overrules a verdict, tell Akismet after the commit (submit-spam/-ham)."""
    if ctx.akismet is None or event.from_status is None:
        return
    try:
        correction = is_correction(event.from_status, Action(event.action))
    except ValueError:  # "create" and other non-actions
        return
    if correction is None or event.actor == SYSTEM.label or not comment.checks:
        return
    verdict = "ham" if correction else "spam"
    outbox.enqueue(session, ctx, "akismet_feedback", {"comment_id": comment.id, "verdict": verdict})


def queue_recheck(
    session: Session, ctx: Context, comment: Comment, check: Any, assessment: Any
) -> None:
    """A submission scored while a scorer was unavailable is checked again later."""
    if assessment.recheck_reason:
        outbox.enqueue(session, ctx, "recheck", {"comment_id": comment.id})


# --- background work ----------------------------------------------------------------------------


@outbox.handler("akismet_feedback")
def send_akismet_feedback(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """submit-spam / submit-ham with the data stored when the comment was checked."""
    akismet = ctx.akismet
    if akismet is None:
        return
    with database.read() as session:
        comment = session.get(Comment, payload["comment_id"])
        if comment is None or not comment.checks:
            return
        submission = submission_from_record(comment.checks[0].submitted)
    if not submission.ip:  # blanked by the retention rule (services.privacy): Akismet needs it
        log.info("no Akismet feedback for comment %s: its IP is no longer kept", comment.id)
        return
    params = akismet.params_for(submission)
    if payload["verdict"] == "spam":
        akismet.submit_spam(params)
    else:
        akismet.submit_ham(params)


@outbox.handler("recheck")
def recheck(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Score a held comment again; raise (so it is retried) while a scorer is still unavailable.

    Only a comment still pending is moved, and only as its site's policy says; a moderator's
    decision in the meantime always wins.
    """
    comment_id = payload["comment_id"]
    with database.read() as session:  # score with no lock held: Akismet may be slow
        comment = session.get(Comment, comment_id)
        if comment is None or comment.recheck_reason is None:
            return
        submission = submission_from_record(comment.checks[-1].submitted)
        assessment = run_pipeline(
            submission, ctx.scorers_for(session, submission.site), ctx.thresholds
        )
    with database.write() as tx:
        comment = tx.get(Comment, comment_id)
        if comment is None or comment.recheck_reason is None:  # settled meanwhile
            return
        record_check(tx, ctx, comment, submission, assessment)
        if assessment.recheck_reason:
            comment.recheck_reason = assessment.recheck_reason
        else:
            comment.recheck_reason = None
            _settle(tx, ctx, comment, submission, assessment.verdict)
    if assessment.recheck_reason:
        raise ScorerUnavailable(assessment.recheck_reason)


def _settle(
    session: Session, ctx: Context, comment: Comment, submission: Submission, verdict: Verdict
) -> None:
    if comment.status is not CommentStatus.pending:
        return
    site = ctx.settings.sites.get(submission.site)
    policy = Policy(site.moderation) if site else Policy.all
    unverified = comment.kind is not CommentKind.comment and comment.verified is not True
    status, reason = decide(
        verdict, policy, author_trusted=submission.author_trusted, needs_verification=unverified
    )
    if verdict is Verdict.discard:
        comment.discarded = True
    action = {CommentStatus.spam: Action.spam, CommentStatus.approved: Action.approve}.get(status)
    if action is not None:
        with contextlib.suppress(InvalidTransition):  # a moderator got there first
            apply_action(session, ctx, comment, action, SYSTEM, f"re-checked: {reason}")


def purge(database: Database, ctx: Context) -> int:
    """Delete for good: spam after `purge_spam_days`, Akismet's discards after
    `purge_discarded_days`, deleted comments after `purge_deleted_days`. A comment with replies is
    kept (its replies need it as their placeholder). Returns how many were removed."""
    spam = ctx.settings.spam
    now = ctx.clock()
    child = aliased(Comment)
    old = or_(
        (Comment.status == CommentStatus.spam)
        & Comment.discarded
        & (Comment.created_at < now - timedelta(days=spam.purge_discarded_days)),
        (Comment.status == CommentStatus.spam)
        & (Comment.created_at < now - timedelta(days=spam.purge_spam_days)),
        (Comment.status == CommentStatus.deleted)
        & (Comment.deleted_at < now - timedelta(days=spam.purge_deleted_days)),
    )
    with database.write() as session:
        ids = list(
            session.scalars(
                select(Comment.id)
                .where(old, ~exists().where(child.parent_id == Comment.id))
                .limit(5000)
            )
        )
        if ids:  # spam checks go with them (CASCADE); audit rows stay (SET NULL)
            # and the reserve keeps their decisions (SET NULL), without the step that names
            # their author's words: with the comment gone, there is nothing to take it back for
            session.execute(
                update(ClassifierDecision)
                .where(ClassifierDecision.comment_id.in_(ids))
                .values(step=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(delete(Comment).where(Comment.id.in_(ids)))
    if ids:
        log.info("purged %d comments", len(ids))
    return len(ids)
