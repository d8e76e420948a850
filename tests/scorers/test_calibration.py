"""Per-site cut-offs from a reserve of decisions: cold start, bounds, and the false-positive cap."""

from __future__ import annotations

import random

import pytest

from moderation.scorers.classifier import Cutoffs
from moderation.scorers.classifier.calibration import (
    CEILING,
    Bounds,
    calibrate,
    cut_above,
    flagged_share,
)

SHIPPED = Cutoffs(unsure=0.8, spam=0.98)
BOUNDS = Bounds.around(SHIPPED)


def within_bounds(cutoffs: Cutoffs) -> bool:
    return (
        BOUNDS.spam_floor <= cutoffs.spam <= CEILING
        and BOUNDS.unsure_floor <= cutoffs.unsure <= min(BOUNDS.unsure_ceiling, cutoffs.spam)
    )


def test_no_decisions_keep_the_shipped_cut_offs():
    assert calibrate([], SHIPPED, 0.01, 0.05) == SHIPPED


def test_few_ham_can_raise_the_spam_cut_but_never_lower_it():
    plain = calibrate([0.1] * 50, SHIPPED, 0.01, 0.05)  # 50 < 1 / 1 %: cannot measure the share
    assert plain.spam == SHIPPED.spam
    spammy = calibrate([0.1] * 49 + [0.99], SHIPPED, 0.01, 0.05)
    assert spammy.spam > 0.99  # the one approved comment at 0.99 would no longer be flagged
    assert flagged_share([0.1] * 49 + [0.99], spammy) == 0.0


def test_enough_plain_ham_lowers_the_cuts_down_to_their_floors():
    ham = [0.05] * 300
    cutoffs = calibrate(ham, SHIPPED, 0.01, 0.05)
    assert cutoffs.spam == BOUNDS.spam_floor
    assert cutoffs.unsure == BOUNDS.unsure_floor
    assert within_bounds(cutoffs)


def test_the_spam_cut_sits_where_at_most_the_share_of_ham_is_flagged():
    ham = [0.1] * 195 + [0.85, 0.9, 0.95, 0.97, 0.999]  # 200 ham: 1 % allows 2 at or above
    cutoffs = calibrate(ham, SHIPPED, 0.01, 0.05)
    assert cutoffs.spam == pytest.approx(0.95, abs=1e-9)
    assert cutoffs.spam > 0.95  # only 0.97 and 0.999 are flagged
    assert flagged_share(ham, cutoffs) <= 0.01
    assert within_bounds(cutoffs)


def test_ham_that_scored_one_turns_the_spam_verdict_off():
    cutoffs = calibrate([1.0], SHIPPED, 0.01, 0.05)
    assert cutoffs.spam == CEILING
    assert flagged_share([1.0], cutoffs) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_no_reserve_flags_more_than_the_share_of_its_ham(seed):
    rng = random.Random(seed)
    share = rng.choice([0.0, 0.005, 0.01, 0.05])
    ham = [rng.random() ** rng.choice([0.2, 1, 5]) for _ in range(rng.randint(1, 600))]
    cutoffs = calibrate(ham, SHIPPED, share, 0.05)
    assert flagged_share(ham, cutoffs) <= share
    assert within_bounds(cutoffs)


def test_cut_above_leaves_the_allowed_number_of_values_at_or_above():
    values = [0.1, 0.2, 0.3, 0.4]
    assert cut_above(values, 0.0) > 0.4
    assert 0.3 < cut_above(values, 0.25) <= 0.4
    assert cut_above(values, 1.0) == 0.0
