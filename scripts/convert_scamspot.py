"""Convert the ScamSpot Instagram comments to the canonical spam CSV.

    .venv/bin/python scripts/convert_scamspot.py COMMENTS_EXTRACTED_JSON [--out FILE]

The input is ``data/comments_extracted.json`` of github.com/ScamSpot/scamspot_ig-comment-scraper
(MIT licence; see data/spam/scamspot-instagram/SOURCE.md for the commit). Each entry has the
comment's text, the Instagram account whose post it answers, and a ``type``: ``scam`` or ``real``
(labelled) or ``unknown`` (never labelled, left out here). Rows keep the file's order; ``source`` is
``instagram:<account>``, so a split by source never puts one account's comments on both sides.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.scorers.evaluation import write_rows  # noqa: E402

DEFAULT_OUT = ROOT / "data" / "spam" / "scamspot-instagram" / "scamspot-instagram.csv"
LABELS = {"scam": "spam", "real": "ham"}


def convert(comments: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The labelled comments as canonical rows, in the file's order."""
    rows = []
    for entry in comments.values():
        label = LABELS.get(entry.get("type", ""))
        text = html.unescape(entry.get("text", "")).strip()
        if label is None or not text:
            continue
        rows.append(
            {
                "author": "",
                "email": "",
                "url": "",
                "content": text,
                "label": label,
                "source": f"instagram:{entry['account']}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Read the JSON, write the CSV, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="comments_extracted.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = convert(json.loads(args.json.read_text(encoding="utf-8")))
    print(write_rows(args.out, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
