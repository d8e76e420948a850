import pytest

from moderation.domain.policy import Policy, decide
from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentStatus as S


@pytest.mark.parametrize("policy", list(Policy))
@pytest.mark.parametrize("trusted", [True, False])
def test_decide_spam_and_discard_go_to_spam_under_every_policy(policy, trusted):
    for verdict in (Verdict.spam, Verdict.discard):
        assert decide(verdict, policy, author_trusted=trusted)[0] is S.spam


@pytest.mark.parametrize("policy", list(Policy))
def test_decide_unsure_waits_under_every_policy(policy):
    assert decide(Verdict.unsure, policy, author_trusted=True)[0] is S.pending


@pytest.mark.parametrize(
    ("policy", "trusted", "expected"),
    [
        (Policy.all, True, S.pending),
        (Policy.all, False, S.pending),
        (Policy.first_time, True, S.approved),
        (Policy.first_time, False, S.pending),
        (Policy.none, False, S.approved),
        (Policy.none, True, S.approved),
    ],
)
def test_decide_ham_follows_the_site_policy(policy, trusted, expected):
    status, reason = decide(Verdict.ham, policy, author_trusted=trusted)
    assert status is expected
    assert reason


def test_decide_unverified_linkback_waits_even_when_ham():
    assert decide(Verdict.ham, Policy.none, author_trusted=True, needs_verification=True) == (
        S.pending,
        "source not verified yet",
    )
