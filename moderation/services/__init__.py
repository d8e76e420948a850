"""The application layer: functions that receive a Session and collaborators, flush, never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.domain.scoring import Assessment, NullScorer, Scorer, Thresholds
from moderation.services.tokens import Tokens
from moderation.storage.db import utcnow

if TYPE_CHECKING:
    from moderation.models import Comment, ModerationEvent, SpamCheck


class SubmissionHook(Protocol):
    """Runs inside the write that stored a new submission (mail to moderators, a re-check)."""

    def __call__(
        self,
        session: Session,
        ctx: Context,
        comment: Comment,
        check: SpamCheck,
        assessment: Assessment,
    ) -> None: ...


class TransitionHook(Protocol):
    """Runs inside the write that changed a comment's status (the classifier learns, Akismet
    feedback and mail are queued)."""

    def __call__(
        self, session: Session, ctx: Context, comment: Comment, event: ModerationEvent
    ) -> None: ...


class ScorerFactory(Protocol):
    """The scorers that judge one submission to a site (they may read through `session`)."""

    def __call__(self, session: Session, site: str) -> Sequence[Scorer]: ...


class Dispatch(Protocol):
    """Hands an outbox entry to the job queue after its commit, now or after `delay` seconds."""

    def __call__(self, entry_id: int, delay: float | None) -> None: ...


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
    # Builds the scorers for one submission. None: use `scorers`.
    scorer_factory: ScorerFactory | None = None
    transition_hooks: list[TransitionHook] = field(default_factory=list)
    submission_hooks: list[SubmissionHook] = field(default_factory=list)
    dispatch: Dispatch | None = None
    # Process-wide collaborators built once (the Akismet scorer), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def scorers_for(self, session: Session, site: str) -> Sequence[Scorer]:
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
