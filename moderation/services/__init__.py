"""The application layer: functions that receive a Session and collaborators, flush, never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.domain.scoring import Assessment, NullScorer, Scorer, Thresholds
from moderation.services.tokens import Tokens
from moderation.storage.db import utcnow

if TYPE_CHECKING:
    from moderation.models import Comment, ModerationEvent, SpamCheck
    from moderation.net.fetcher import Fetcher


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


@dataclass(frozen=True)
class Context:
    """What services need besides a Session: settings, scorers, tokens, a clock, hooks.

    Built once per process by `build_context` (the app, the CLI and the job worker alike) and never
    changed after: a different set-up is a new context (`dataclasses.replace`), so that services
    never read Flask's globals and no request sees another's configuration.
    """

    settings: Settings
    tokens: Tokens
    scorers: Sequence[Scorer] = (NullScorer(),)
    thresholds: Thresholds = field(default_factory=Thresholds)
    clock: Callable[[], datetime] = utcnow
    # Builds the scorers for one submission. None: use `scorers`.
    scorer_factory: ScorerFactory | None = None
    transition_hooks: tuple[TransitionHook, ...] = ()
    submission_hooks: tuple[SubmissionHook, ...] = ()
    # Set by the job queue (`moderation.runtime.jobs.Jobs`); None: outbox entries wait for the sweep.
    dispatch: Dispatch | None = None
    # The process's Akismet scorer (None without a key), for feedback on moderators' decisions.
    akismet: Any = None
    # The hardened fetcher for linkback sources; None: one per fetch settings, shared by the process.
    fetcher: Fetcher | None = None

    def scorers_for(self, session: Session, site: str) -> Sequence[Scorer]:
        """The scorers that judge a submission to `site`."""
        if self.scorer_factory is None:
            return self.scorers
        return self.scorer_factory(session, site)


def build_context(settings: Settings, **overrides: Any) -> Context:
    """The production context for `settings`: rules, the learned classifier and (with a key)
    Akismet; moderators' decisions teach the classifier and go back to Akismet. `overrides` replace
    fields of the result (a test's clock or fetcher)."""
    from moderation.services import notify, spam, subscriptions

    ctx = Context(settings=settings, tokens=Tokens.from_settings(settings))
    for install in (spam.install, notify.install, subscriptions.install):
        ctx = install(ctx)
    return replace(ctx, **overrides)
