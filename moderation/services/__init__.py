"""The application layer: functions that receive a Session and collaborators, flush, never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moderation.config import Settings
from moderation.domain.scoring import NullScorer, Scorer, Thresholds
from moderation.services.tokens import Tokens
from moderation.storage.db import utcnow


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
    # Builds the scorers for one submission: (session, site id) -> scorers. None: use `scorers`.
    scorer_factory: Callable[..., Sequence[Scorer]] | None = None
    # Called inside the unit of work after every status change: (session, ctx, comment, event).
    transition_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Called inside the unit of work after a new submission is stored: (session, ctx, comment,
    # check, assessment).
    submission_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Hands an outbox entry id to the job queue after the commit: (entry id, delay seconds or None).
    dispatch: Callable[[int, float | None], None] | None = None
    # Process-wide collaborators built once (the Akismet scorer), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def scorers_for(self, session: object, site: str) -> Sequence[Scorer]:
        """The scorers that judge a submission to `site`."""
        if self.scorer_factory is None:
            return self.scorers
        return self.scorer_factory(session, site)


def build_context(settings: Settings) -> Context:
    """The production context for `settings`: rules, the learned classifier and (with a key)
    Akismet; moderators' decisions teach the classifier and go back to Akismet."""
    from moderation.services import notify, spam

    ctx = Context(settings=settings, tokens=Tokens.from_settings(settings))
    spam.install(ctx)
    notify.install(ctx)
    return ctx
