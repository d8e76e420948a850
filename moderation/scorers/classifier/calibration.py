"""Cut-offs that fit one site, calibrated from its moderators' recent decisions.

The shipped cut-offs (`SpamModel.cutoffs`) were calibrated on YouTube ham. A site's own traffic
scores differently: its readers' comments may look spammier (long, link-heavy) or much plainer. Each
moderator decision is scored just before the classifier learns it, and the probability is kept in
a reserve of the site's recent decisions (`services.spam` keeps it in the database, so every worker
calibrates from the same reserve). `calibrate` then places the cut-offs on the reserve's ham:

* the spam cut is the lowest that would have flagged at most ``max_fp_share`` of the approved ham;
* the unsure cut (held for a moderator) the lowest that would have held at most ``held_share``.

Lowering a cut below the shipped one needs enough ham to measure the share at all (``1 / share``
decisions): until then a cut only rises, never falls. Raising is always allowed, because a reader's
comment sent to spam is the expensive mistake. Spam decisions never move a cut: a burst of them (or
of anything) cannot make more than the share of the reserve's ham flagged. Within that, the cuts stay
within `Bounds` derived from the shipped ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from moderation.scorers.classifier.model import Cutoffs

# Above 1.0: a site whose approved ham scores 1.0 gets no spam verdict from the classifier alone.
CEILING = math.nextafter(1.0, math.inf)


@dataclass(frozen=True)
class Bounds:
    """How far a site's cut-offs may move from the shipped ones.

    The spam cut never falls below the shipped unsure cut (what the base model would not even hold
    is never called spam), and the unsure cut never rises above the shipped one (a site never holds
    less than the cold start would) nor falls below an even chance.
    """

    spam_floor: float
    unsure_floor: float
    unsure_ceiling: float

    @classmethod
    def around(cls, shipped: Cutoffs) -> Bounds:
        """The bounds for a model shipped with ``shipped`` cut-offs."""
        return cls(spam_floor=shipped.unsure, unsure_floor=0.5, unsure_ceiling=shipped.unsure)


def cut_above(probs: Sequence[float], share: float) -> float:
    """The lowest cut that leaves at most ``share`` of ``probs`` at or above it."""
    ordered = sorted(probs, reverse=True)
    allowed = math.floor(share * len(ordered) + 1e-9)
    if allowed >= len(ordered):
        return 0.0
    return math.nextafter(ordered[allowed], math.inf)


def _measurable(n: int, share: float) -> bool:
    """True when ``n`` decisions can resolve ``share`` (at least one may lie above the cut)."""
    return share > 0 and n * share >= 1 - 1e-9


def calibrate(
    ham: Sequence[float],
    shipped: Cutoffs,
    max_fp_share: float,
    held_share: float,
) -> Cutoffs:
    """The cut-offs for a site whose recent approved ham scored ``ham`` (each just before learning).

    No ham: the shipped cut-offs (the cold start).
    """
    if not ham:
        return shipped
    bounds = Bounds.around(shipped)
    spam = cut_above(ham, max_fp_share)
    if not _measurable(len(ham), max_fp_share):
        spam = max(spam, shipped.spam)
    spam = min(max(spam, bounds.spam_floor), CEILING)
    unsure = cut_above(ham, held_share) if _measurable(len(ham), held_share) else shipped.unsure
    unsure = min(max(unsure, bounds.unsure_floor), bounds.unsure_ceiling, spam)
    return Cutoffs(unsure=unsure, spam=spam)


def flagged_share(ham: Sequence[float], cutoffs: Cutoffs) -> float:
    """The share of ``ham`` the spam cut would flag (0 for no ham)."""
    return sum(1 for p in ham if p >= cutoffs.spam) / len(ham) if ham else 0.0
