"""Comment statuses and the one table of allowed moderation transitions."""

from __future__ import annotations

import enum

from moderation.errors import InvalidTransition


class CommentStatus(enum.StrEnum):
    """Where a comment stands. Stored by value."""

    pending = "pending"
    approved = "approved"
    spam = "spam"
    deleted = "deleted"


class CommentKind(enum.StrEnum):
    """What was received."""

    comment = "comment"
    trackback = "trackback"
    pingback = "pingback"
    webmention = "webmention"


class Action(enum.StrEnum):
    """What a moderator (or the author, or the system) does to a comment."""

    approve = "approve"
    spam = "spam"
    ham = "ham"
    hold = "hold"
    delete = "delete"
    restore = "restore"


S = CommentStatus
# (current status, action) -> new status. Anything missing is an invalid transition (409).
# `ham` is "not spam": it publishes, like approve, and also teaches the scorers the verdict was wrong.
# `restore` brings a deleted comment back to the queue, never straight onto the page.
TRANSITIONS: dict[tuple[CommentStatus, Action], CommentStatus] = {
    (S.pending, Action.approve): S.approved,
    (S.spam, Action.approve): S.approved,
    (S.pending, Action.spam): S.spam,
    (S.approved, Action.spam): S.spam,
    (S.spam, Action.ham): S.approved,
    (S.approved, Action.hold): S.pending,
    (S.spam, Action.hold): S.pending,
    (S.pending, Action.delete): S.deleted,
    (S.approved, Action.delete): S.deleted,
    (S.spam, Action.delete): S.deleted,
    (S.deleted, Action.restore): S.pending,
}


def transition(current: CommentStatus, action: Action) -> CommentStatus:
    """The status that `action` leads to from `current`; raise `InvalidTransition` when none."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise InvalidTransition(
            f"cannot {action.value} a comment that is {current.value}"
        ) from None


def allowed_actions(current: CommentStatus) -> list[Action]:
    """The actions that apply to a comment in `current`, in table order."""
    return [action for (status, action) in TRANSITIONS if status == current]


def is_correction(current: CommentStatus, action: Action) -> bool | None:
    """Whether a transition overrides a spam verdict: True = was spam, now ham; False = now spam.

    None when the action says nothing about spamminess. Corrections are what Akismet's submit-ham and
    submit-spam and the local classifier learn from.
    """
    if action is Action.spam:
        return False
    if current is S.spam and action in (Action.ham, Action.approve):
        return True
    if action is Action.ham:
        return True
    return None
