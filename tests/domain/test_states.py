import itertools

import pytest

from moderation.domain.states import (
    TRANSITIONS,
    Action,
    CommentStatus,
    allowed_actions,
    is_correction,
    transition,
)
from moderation.errors import InvalidTransition

S = CommentStatus


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, Action)))
def test_transition_every_pair_follows_the_table(status, action):
    if (status, action) in TRANSITIONS:
        assert transition(status, action) is TRANSITIONS[(status, action)]
    else:
        with pytest.raises(InvalidTransition):
            transition(status, action)


def test_transition_table_never_leaves_deleted_except_by_restore_to_pending():
    assert allowed_actions(S.deleted) == [Action.restore]
    assert transition(S.deleted, Action.restore) is S.pending


def test_transition_approve_and_ham_from_spam_publish():
    assert transition(S.spam, Action.approve) is S.approved
    assert transition(S.spam, Action.ham) is S.approved


def test_transition_ham_on_pending_is_invalid():
    with pytest.raises(InvalidTransition, match="cannot ham a comment that is pending"):
        transition(S.pending, Action.ham)


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (S.pending, Action.spam, False),
        (S.approved, Action.spam, False),
        (S.spam, Action.ham, True),
        (S.spam, Action.approve, True),
        (S.pending, Action.approve, None),
        (S.approved, Action.delete, None),
    ],
)
def test_is_correction_names_what_scorers_should_learn(status, action, expected):
    assert is_correction(status, action) is expected
