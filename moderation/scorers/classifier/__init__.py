"""The local spam classifier: naive Bayes and logistic regression that learn online, one moderator
decision at a time.

Pure Python (standard library plus `moderation.domain`), so it imports fast and runs in a web worker.

* `features` (in `moderation.scorers.classifier.features`) turns a `Submission` into a set of string
  features: words, word bigrams, author tokens (``a:``), the e-mail domain (``ed:``), the website
  host (``wh:``), linked domains (``ld:``), promotion patterns (``p:``) and structure (``s:``: links
  and their share of the words, phone numbers, capitals, length).
* `SpamModel` (in `.model`) keeps, for every feature, how many spam and how many ham examples
  contained it, plus the two totals. Each feature's spam probability is Robinson's smoothed estimate
  and the evidence is combined with Fisher's chi-square method (as in SpamBayes). With
  `Params.logistic` it also keeps a logistic-regression weight per feature (AdaGrad) and mixes the
  two halves' log-odds. Learning only adds to counts and weights, so updates from many workers add
  up: the state can be stored as one database row per feature plus one row of totals, and `learn`
  returns the `Delta` to add.
* `ClassifierScorer` (in `.scorer`) turns the probability into points with cut-offs calibrated on
  ham, so that few readers' comments are ever sent to spam; the middle band is held for a moderator.
* `calibrate` (in `.calibration`) places a site's cut-offs on the probabilities its moderators'
  recent decisions scored just before they were learned.

The modules import in that order (features, model, scorer, calibration), never the package. The
package exports the model's and the scorer's names; the `features` function is imported from its
module, ``from moderation.scorers.classifier.features import features``, as it shares that module's
name.
"""

from moderation.scorers.classifier.model import (
    Clue,
    Cutoffs,
    Delta,
    Params,
    SpamModel,
    combine_clues,
    load_base_model,
)
from moderation.scorers.classifier.scorer import ClassifierScorer, Points

__all__ = [
    "ClassifierScorer",
    "Clue",
    "Cutoffs",
    "Delta",
    "Params",
    "Points",
    "SpamModel",
    "combine_clues",
    "load_base_model",
]
