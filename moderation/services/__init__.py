"""The application layer: functions that receive a Session and collaborators, flush, never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from moderation.config import Settings
from moderation.db import utcnow
from moderation.domain.scoring import NullScorer, Scorer, Thresholds
from moderation.services.tokens import Tokens


@dataclass
class Context:
    """What services need besides a Session: settings, scorers, tokens, a clock, hooks.

    Built once per app by `moderation.app.create_app` (and by the CLI and jobs the same way), so that
    services never read Flask's globals.
    """

    settings: Settings
    tokens: Tokens
    scorers: Sequence[Scorer] = (NullScorer(),)
    thresholds: Thresholds = field(default_factory=Thresholds)
    clock: Callable[[], datetime] = utcnow
    # Called inside the unit of work after every status change: (session, comment, event).
    transition_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Called inside the unit of work after a new submission is stored: (session, comment, check).
    submission_hooks: list[Callable[..., None]] = field(default_factory=list)


def build_context(settings: Settings) -> Context:
    """The default context for `settings`."""
    return Context(settings=settings, tokens=Tokens.from_settings(settings))
