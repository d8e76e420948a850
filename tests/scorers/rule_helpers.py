"""Helpers for the rule scorer's tests: a form comment to score, its signals and its verdict."""

from __future__ import annotations

from moderation.domain.scoring import Signal, Submission, Verdict, run_pipeline
from moderation.domain.states import CommentKind
from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings


def make(text: str = "Thanks, this fixed my build.", **fields: object) -> Submission:
    """A plain, honest-looking form comment; keyword arguments override its fields."""
    values: dict[str, object] = {
        "kind": CommentKind.comment,
        "site": "blog",
        "site_url": "https://blog.example",
        "permalink": "https://blog.example/2024/hello/",
        "text": text,
        "author": "Ann Example",
        "email": "ann@mail.example",
        "ip": "192.0.2.10",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    }
    values.update(fields)
    return Submission(**values)  # type: ignore[arg-type]


def signals(
    submission: Submission, settings: RuleSettings | None = None, lists: RuleLists | None = None
) -> dict[str, Signal]:
    """The scorer's signals by name."""
    return {s.name: s for s in RuleScorer(settings, lists).score(submission)}


def verdict(
    submission: Submission, settings: RuleSettings | None = None, lists: RuleLists | None = None
) -> Verdict:
    """The pipeline's verdict with the rule scorer alone."""
    return run_pipeline(submission, [RuleScorer(settings, lists)]).verdict
