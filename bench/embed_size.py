"""Print the size of the widget script (its CSS is inside it): raw bytes and gzipped (level 9).

    .venv/bin/python bench/embed_size.py [--json]

The budget is 16 KB (16384 bytes) gzipped; tests/browser/test_embed_size.py holds the line.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

EMBED_JS = Path(__file__).resolve().parent.parent / "moderation" / "web" / "static" / "embed.js"
BUDGET_GZIP = 16384


def sizes(path: Path = EMBED_JS) -> dict[str, int]:
    """Raw and gzipped sizes of `path` in bytes."""
    data = path.read_bytes()
    return {"raw": len(data), "gzip": len(gzip.compress(data, compresslevel=9, mtime=0))}


def main() -> None:
    """Print the sizes, as text or as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    s = sizes()
    if args.json:
        print(json.dumps({**s, "budget_gzip": BUDGET_GZIP}))
        return
    share = 100 * s["gzip"] / BUDGET_GZIP
    print(f"embed.js: {s['raw']} bytes raw, {s['gzip']} bytes gzipped")
    print(f"budget:   {BUDGET_GZIP} bytes gzipped ({share:.0f}% used)")


if __name__ == "__main__":
    main()
