"""Convert WordPress export files (WXR) of several blogs to the canonical spam CSV.

    .venv/bin/python scripts/convert_blog_comments.py OWNER/REPO=EXPORT.xml [...] [--out FILE]

Each argument names the GitHub repository a WordPress export was committed to and the export file
itself, taken out of that repository with ``git show COMMIT:PATH`` (data/spam/blog-comments/
SOURCE.md lists the repositories, commits and paths). A WXR file holds every comment of the blog
with its WordPress status: ``<wp:comment_approved>`` is ``1`` (published by the blog), ``0``
(pending), ``spam`` (caught by Akismet or the moderator) or ``trash``.

Kept: ordinary comments (comment type empty or ``comment``) from visitors (``comment_user_id`` 0,
so not the blog's own logged-in authors), labelled ``ham`` when published (``1``) and ``spam``
when marked spam. Dropped: pending and trashed comments, pingbacks and trackbacks, WordPress's
sample comment ("Mr WordPress"), and empty ones. E-mail addresses and IP addresses are never
written. ``author`` is the commenter's name, ``url`` the website they gave, ``content`` the comment
as WordPress stored it (its HTML links kept, entities decoded), ``source`` ``blog:OWNER/REPO``.
A text already written (compared case-folded, whitespace collapsed) is not written again.

The labels are the blog's decisions, not ours: a published comment is ``ham`` even where it reads
like spam that the blog let through (see SOURCE.md).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.scorers.evaluation import write_rows  # noqa: E402

DEFAULT_OUT = ROOT / "data" / "spam" / "blog-comments" / "blog-comments.csv"
LABELS = {"1": "ham", "spam": "spam"}
SAMPLE_AUTHORS = {"mr wordpress", "a wordpress commenter"}
COMMENT = re.compile(r"<wp:comment>(.*?)</wp:comment>", re.S)
CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)


def field(block: str, name: str) -> str:
    """The text of ``<wp:NAME>`` in a comment block, CDATA unwrapped and entities decoded."""
    match = re.search(rf"<wp:{name}>(.*?)</wp:{name}>", block, re.S)
    if match is None:
        return ""
    value = match.group(1).strip()
    wrapped = CDATA.fullmatch(value)
    # Unwrap the XML layer (CDATA or escaped text), then WordPress's own entities such as &#039;.
    value = wrapped.group(1) if wrapped is not None else html.unescape(value)
    return html.unescape(value).strip()


def comments(text: str) -> Iterator[dict[str, str]]:
    """Every comment of a WXR file, as its fields."""
    for match in COMMENT.finditer(text):
        block = match.group(1)
        yield {
            name: field(block, f"comment_{name}")
            for name in ("author", "author_url", "content", "approved", "type", "user_id")
        }


def fingerprint(text: str) -> str:
    return " ".join(text.casefold().split())


def convert(exports: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The labelled comments of each (repository, WXR text), in the files' order, deduplicated."""
    rows = []
    seen: set[str] = set()
    for repo, text in exports:
        for comment in comments(text):
            label = LABELS.get(comment["approved"])
            if label is None or comment["type"] not in ("", "comment"):
                continue
            if comment["user_id"] not in ("", "0"):
                continue
            if comment["author"].strip().casefold() in SAMPLE_AUTHORS:
                continue
            content = comment["content"]
            key = fingerprint(content)
            if not key or key in seen:
                continue
            seen.add(key)
            url = comment["author_url"]
            rows.append(
                {
                    "author": comment["author"],
                    "email": "",
                    "url": "" if url in ("http://", "https://") else url,
                    "content": content,
                    "label": label,
                    "source": f"blog:{repo}",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Read the exports, write the CSV, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="+", help="OWNER/REPO=EXPORT.xml")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    exports = []
    for item in args.exports:
        repo, sep, path = item.partition("=")
        if not sep or "/" not in repo:
            parser.error(f"expected OWNER/REPO=FILE, got {item!r}")
        exports.append((repo, Path(path).read_text(encoding="utf-8", errors="replace")))
    rows = convert(exports)
    print(write_rows(args.out, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
