"""Local rule scorers: WordPress's moderation rules plus cheap, explainable spam heuristics.

`RuleScorer` runs small rule functions in a fixed order; each looks at one `RuleContext` (a submission with
what is derived from it once: the text without HTML and the links in it) and returns a `Signal` or None.

* Decisive rules force a verdict through `Signal.verdict`: a filled-in honeypot discards; a disallowed
  key or a blocked IP, e-mail or domain is spam; too many links or a moderation key holds (unsure).
  WordPress semantics (`PROTOCOLS.md` §6.2): keys are case-insensitive substrings without word
  boundaries, matched against name, e-mail, website, text, IP and user agent; disallowed keys also
  against the text with HTML stripped; a comment is held when its link count reaches ``max_links``.
* Heuristic rules only add points. None of them alone reaches the hold threshold (1.0), and those that
  fire on more than 2 % of ham are worth at most 0.2. The rates next to each weight were measured on the
  open sets in ``shared/data/spam/comments`` as ``spam % / ham %``: ``yt`` is youtube.csv (the closest
  to blog comments; its rows have no e-mail, website, IP or user agent, so rules on those fields are
  unmeasured), ``sms`` is sms.csv (text only).

The modules, each importing only those before it:

* `text`: the text helpers (visible text, links, hosts, key matching);
* `context`: `RuleLists`, `RuleSettings` (a site's lists and limits) and `RuleContext`;
* `decisive`: the rules that force a verdict;
* `weighted`: the heuristic rules and their weights, and the trackback origin rule (points only);
* `scorer`: `RuleScorer` and the rule order, `RULES`.

This package exports what the rest of the code uses; a module inside it imports its siblings, never
the package (tests/scorers/test_imports.py checks that no import cycle comes back).
"""

from moderation.scorers.rules.context import Rule, RuleContext, RuleLists, RuleSettings, split_keys
from moderation.scorers.rules.scorer import RULES, RuleScorer
from moderation.scorers.rules.text import normalize_host, url_host, website_host
from moderation.scorers.rules.weighted import SOURCE_ADDRESSES

__all__ = [
    "RULES",
    "SOURCE_ADDRESSES",
    "Rule",
    "RuleContext",
    "RuleLists",
    "RuleScorer",
    "RuleSettings",
    "normalize_host",
    "split_keys",
    "url_host",
    "website_host",
]
