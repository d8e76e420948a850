"""What a site's spam filter has learned from its moderators, as the dashboard's Spam filter page
shows it: the classifier's cut-offs against the shipped ones, the reserve of decisions they were
calibrated on, and the approved comments that hold the spam cut-off up.

A site's spam cut-off is the lowest that would have flagged at most `[spam]
max_false_positive_share` of the approved comments in its reserve (`calibration.calibrate`). So one
spam approved by mistake, which the classifier had scored near 1, lifts the cut-off over most spam:
the filter then holds spam it would have caught. Listing the approvals the classifier was surest
were spam lets a moderator find such a mistake; marking it spam takes it out of the reserve's
approved comments, teaches the filter, and calibrates the cut-off again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderation.domain.states import CommentStatus
from moderation.models import ClassifierCutoff, ClassifierDecision, Comment, Thread
from moderation.scorers.classifier import Cutoffs
from moderation.services import Context
from moderation.services.spam import base_model

HOLDING_SHOWN = 20  # the approvals listed per site, highest probability first
EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Approval:
    """An approved comment in the reserve that the classifier, just before learning it, scored at
    or above the shipped spam cut-off."""

    comment_id: int | None  # None once the comment is purged (the decision stays in the reserve)
    probability: float
    decided_at: datetime
    author: str
    excerpt: str
    status: CommentStatus | None  # the comment's status now (a later decision may have moved it)
    uri: str


@dataclass(frozen=True)
class SiteFilter:
    """One site's classifier cut-offs and the decisions behind them."""

    site: str
    shipped: Cutoffs
    cutoffs: Cutoffs
    calibrated: bool  # False: no decision yet, the shipped cut-offs apply
    updated_at: datetime | None
    ham_decisions: int
    spam_decisions: int
    max_fp_share: float
    needed_to_lower: int  # approved decisions before the spam cut may fall below the shipped one
    flagged: int  # approved comments in the reserve at or above the site's spam cut-off now
    allowed: int  # how many of them the share allows
    holding: list[Approval]  # the first `HOLDING_SHOWN`, highest probability first
    holding_total: int

    @property
    def raised(self) -> bool:
        """True when the site's spam cut-off is above the shipped one."""
        return self.cutoffs.spam > self.shipped.spam

    @property
    def lowered(self) -> bool:
        """True when the site's approved comments let its spam cut-off fall below the shipped one."""
        return self.cutoffs.spam < self.shipped.spam


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def site_filter(session: Session, ctx: Context, site: str) -> SiteFilter:
    """The site's cut-offs, its reserve's counts, and its approvals at or above the shipped spam
    cut-off (a read: nothing is calibrated or written here)."""
    shipped = base_model().cutoffs
    share = ctx.settings.spam.max_false_positive_share
    row = session.get(ClassifierCutoff, site)
    cutoffs = Cutoffs(unsure=row.unsure, spam=row.spam) if row is not None else shipped
    table = ClassifierDecision.__table__
    ham = (table.c.site == site) & (table.c.is_spam.is_(False))
    counts: dict[bool, int] = {
        bool(is_spam): n
        for is_spam, n in session.execute(
            select(table.c.is_spam, func.count())
            .where(table.c.site == site)
            .group_by(table.c.is_spam)
        ).all()
    }
    n_ham, n_spam = counts.get(False, 0), counts.get(True, 0)
    flagged = session.scalar(select(func.count()).where(ham, table.c.probability >= cutoffs.spam))
    above_shipped = ham & (table.c.probability >= shipped.spam)
    holding_total = session.scalar(select(func.count()).where(above_shipped)) or 0
    rows = session.execute(
        select(
            table.c.comment_id,
            table.c.probability,
            table.c.decided_at,
            Comment.author,
            Comment.text,
            Comment.status,
            Thread.uri,
        )
        .select_from(table)
        .outerjoin(Comment, Comment.id == table.c.comment_id)
        .outerjoin(Thread, Thread.id == Comment.thread_id)
        .where(above_shipped)
        .order_by(table.c.probability.desc(), table.c.id.desc())
        .limit(HOLDING_SHOWN)
    ).all()
    return SiteFilter(
        site=site,
        shipped=shipped,
        cutoffs=cutoffs,
        calibrated=row is not None,
        updated_at=row.updated_at if row is not None else None,
        ham_decisions=n_ham,
        spam_decisions=n_spam,
        max_fp_share=share,
        needed_to_lower=math.ceil(1 / share - 1e-9) if share > 0 else 0,
        flagged=flagged or 0,
        allowed=math.floor(share * n_ham + 1e-9),
        holding=[
            Approval(
                comment_id=r.comment_id,
                probability=r.probability,
                decided_at=r.decided_at,
                author=r.author or "",
                excerpt=_excerpt(r.text or ""),
                status=r.status,
                uri=r.uri or "",
            )
            for r in rows
        ],
        holding_total=holding_total,
    )


def spam_cutoffs(session: Session) -> dict[str, float]:
    """Each calibrated site's spam cut-off now (a site without a row has the shipped one)."""
    rows = session.execute(select(ClassifierCutoff.site, ClassifierCutoff.spam)).all()
    return {site: spam for site, spam in rows}


def cutoffs_raised(
    before: dict[str, float], after: dict[str, float]
) -> list[tuple[str, float, float]]:
    """The sites whose spam cut-off went up from ``before`` to ``after`` and now stands above the
    shipped one, as (site, was, now): an approval the classifier was sure was spam did it."""
    shipped = base_model().cutoffs.spam
    out = []
    for site, now in sorted(after.items()):
        was = before.get(site, shipped)
        if now > was and now > shipped:
            out.append((site, was, now))
    return out


def prob(p: float) -> str:
    """A probability or cut-off to four places, never rounded up: 0.99996 prints 0.9999, not 1.0000
    (a cut-off above 1 means the classifier alone flags nothing)."""
    return "above 1" if p > 1 else f"{math.floor(p * 10_000) / 10_000:.4f}"


def raise_words(site: str, was: float, now: float) -> str:
    """What a `cutoffs_raised` entry means, in a sentence for the moderator who just approved."""
    return (
        f"The spam cut-off of {site} rose from {prob(was)} to {prob(now)}: the filter was sure an"
        " approved comment was spam, so it now calls less spam on its own."
    )


@contextmanager
def watch_spam_cutoffs(tx: Session) -> Iterator[list[tuple[str, float, float]]]:
    """Within a write: the list it yields is filled, when the block ends without an error, with
    the sites whose spam cut-off the block raised (`cutoffs_raised`)."""
    before = spam_cutoffs(tx)
    rose: list[tuple[str, float, float]] = []
    yield rose
    rose.extend(cutoffs_raised(before, spam_cutoffs(tx)))


def site_filters(session: Session, ctx: Context, sites: list[str]) -> list[SiteFilter]:
    """`site_filter` for each of ``sites``, in that order."""
    return [site_filter(session, ctx, site) for site in sites]
