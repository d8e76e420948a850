"""A site's moderation policy turns a verdict into a comment's first status."""

from __future__ import annotations

import enum

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentStatus


class Policy(enum.StrEnum):
    """What a ham verdict needs before it is published (`[sites.<id>] moderation`)."""

    all = "all"
    first_time = "first-time"
    none = "none"


def decide(
    verdict: Verdict, policy: Policy, *, author_trusted: bool, needs_verification: bool = False
) -> tuple[CommentStatus, str]:
    """The first status of a submission and the reason, for the audit log.

    Under every policy ``unsure`` waits and ``spam``/``discard`` go to spam. A linkback whose source is
    not yet verified waits whatever the verdict says, because it may not be approved before.
    """
    if verdict in (Verdict.spam, Verdict.discard):
        return CommentStatus.spam, f"scored {verdict.value}"
    if verdict is Verdict.unsure:
        return CommentStatus.pending, "scored unsure"
    if needs_verification:
        return CommentStatus.pending, "source not verified yet"
    if policy is Policy.all:
        return CommentStatus.pending, "site moderates every comment"
    if policy is Policy.first_time and not author_trusted:
        return CommentStatus.pending, "first comment of this author"
    return CommentStatus.approved, "scored ham"
