"""The services' context is built once and never changed: a different set-up is a new context."""

import dataclasses

import pytest

from moderation.runtime.jobs import Jobs
from moderation.services import build_context, notify, spam, subscriptions
from tests.conftest import make_settings


def test_context_is_frozen(ctx):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.settings = ctx.settings  # type: ignore[misc]
    assert isinstance(ctx.submission_hooks, tuple)
    assert isinstance(ctx.transition_hooks, tuple)


def test_build_context_wires_the_hooks_once_and_leaves_the_input_alone(tmp_path):
    settings = make_settings(tmp_path, **{"spam.unsure_threshold": 1.5})
    ctx = build_context(settings)
    assert ctx.submission_hooks == (
        spam.queue_recheck,
        notify.queue_new_comment_mails,
        subscriptions.on_submission,
    )
    assert ctx.transition_hooks == (
        spam.learn_from_decision,
        spam.queue_akismet_feedback,
        notify.queue_held_again_mails,
        subscriptions.on_transition,
    )
    assert ctx.thresholds.unsure == 1.5
    assert ctx.scorer_factory is not None
    assert ctx.akismet is None  # no key: no Akismet scorer
    assert ctx.dispatch is None


def test_jobs_give_a_copy_that_dispatches_through_their_queue(tmp_path, database):
    settings = make_settings(tmp_path, **{"jobs.immediate": False})
    ctx = build_context(settings)
    jobs = Jobs(settings, database, ctx)
    assert jobs.ctx.dispatch == jobs.dispatch
    assert ctx.dispatch is None  # the given context is untouched
    assert jobs.ctx.transition_hooks == ctx.transition_hooks


def test_a_context_that_brings_its_own_dispatch_keeps_it(tmp_path, database):
    settings = make_settings(tmp_path, **{"jobs.immediate": False})
    seen: list[int] = []

    def record(entry_id: int, _delay: float | None) -> None:
        seen.append(entry_id)

    jobs = Jobs(settings, database, build_context(settings, dispatch=record))
    assert jobs.ctx.dispatch is record
