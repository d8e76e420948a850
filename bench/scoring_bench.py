"""Local scoring throughput in one process: rules alone, classifier alone, and both together.

    .venv/bin/python bench/scoring_bench.py [--data ../shared/data/spam/comments/youtube.csv] [--rounds 3]

Scores every row of the file (the open YouTube set by default) with the shipped scorers as
`moderation spam evaluate` does, and prints comments per second for each. The service's own
classifier also reads the counts its moderators taught it from the database, one indexed query per
submission; `bench/serve_bench.py` measures posting end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from moderation.domain.scoring import run_pipeline
from moderation.scorers.classifier import ClassifierScorer, load_base_model
from moderation.scorers.evaluation import read_rows
from moderation.scorers.rules import RuleScorer

DEFAULT = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "spam" / "comments" / "youtube.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    submissions = [
        dataclasses.replace(r.submission(), user_agent="Mozilla/5.0") for r in read_rows(args.data)
    ]
    rules, classifier = RuleScorer(), ClassifierScorer(load_base_model())
    print(f"{len(submissions)} comments from {args.data.name}, best of {args.rounds} rounds")
    for label, scorers in (
        ("rules", [rules]),
        ("classifier", [classifier]),
        ("rules + classifier", [rules, classifier]),
    ):
        best = 0.0
        for _ in range(args.rounds):
            started = time.perf_counter()
            for submission in submissions:
                run_pipeline(submission, scorers)
            best = max(best, len(submissions) / (time.perf_counter() - started))
        print(f"{label:<20}{best:>10,.0f} comments/s")


if __name__ == "__main__":
    main()
