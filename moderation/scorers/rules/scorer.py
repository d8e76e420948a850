"""`RuleScorer`: the local rules as a `Scorer`, and the order they run in (`RULES`)."""

from __future__ import annotations

from collections.abc import Sequence

from moderation.domain.scoring import Signal, Submission
from moderation.scorers.rules.context import Rule, RuleContext, RuleLists, RuleSettings
from moderation.scorers.rules.decisive import (
    check_blocked_domain,
    check_blocked_email,
    check_blocked_ip,
    check_disallowed,
    check_honeypot,
    check_links,
    check_moderation,
)
from moderation.scorers.rules.weighted import (
    check_author_long,
    check_author_url,
    check_caps,
    check_domain_mention,
    check_email_in_text,
    check_homoglyph,
    check_keyword_author,
    check_linked,
    check_money,
    check_phone,
    check_ping_origin,
    check_praise_link,
    check_promo,
    check_punctuation,
    check_repeated_text,
    check_repeats,
    check_service_pitch,
    check_shortener,
    check_text_long,
    check_text_short,
    check_trusted,
    check_user_agent,
    check_website,
)

RULES: tuple[Rule, ...] = (
    check_honeypot,
    check_disallowed,
    check_blocked_ip,
    check_blocked_email,
    check_blocked_domain,
    check_links,
    check_moderation,
    check_user_agent,
    check_text_short,
    check_text_long,
    check_author_long,
    check_author_url,
    check_caps,
    check_repeats,
    check_punctuation,
    check_phone,
    check_promo,
    check_money,
    check_shortener,
    check_linked,
    check_domain_mention,
    check_email_in_text,
    check_homoglyph,
    check_service_pitch,
    check_keyword_author,
    check_praise_link,
    check_ping_origin,
    check_website,
    check_repeated_text,
    check_trusted,
)


class RuleScorer:
    """The local rules as a `Scorer`: WordPress's key, link and block rules plus spam heuristics.

    Pure and fast (no I/O), so it runs first and never raises `ScorerUnavailable`.
    """

    name = "rules"

    def __init__(
        self,
        settings: RuleSettings | None = None,
        lists: RuleLists | None = None,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        """Defaults: WordPress's settings, empty lists and every rule in `RULES`."""
        self.settings = settings or RuleSettings()
        self.lists = lists or RuleLists()
        self.rules = tuple(rules)

    def score(self, submission: Submission) -> list[Signal]:
        """Every rule's signal for `submission`, in rule order."""
        ctx = RuleContext.build(submission, self.settings, self.lists)
        return [signal for rule in self.rules if (signal := rule(ctx)) is not None]
