"""The Isso reader: an Isso SQLite database (`[general] dbpath`, schema of Isso 0.10 and later)
read into records, for `moderation import isso FILE --site SITE`.

What Isso stores, and what the records make of it:

- `threads` (id, uri, title): one `ThreadRecord` per thread that has comments, keyed by the
  thread's id; a thread without comments is left out.
- `comments`: `mode` 1 is approved, 2 pending, 4 deleted (Isso's placeholder for a deleted
  comment that still has replies: text '', author and website NULL); any other mode is skipped.
  `text` is the Markdown as the author typed it (Isso renders it only when it serves it).
  `parent` is kept as stored: Isso's `Comments.add` re-parents every reply to its top-level
  ancestor, so a reply's parent is always a top-level comment.
- `author`, `email` and `website` were HTML-escaped by Isso's API before it stored them
  (`html.escape` in `POST /new` and `PUT /id/<id>`); they are unescaped back to the text typed.
- `remote_addr` is already anonymised by Isso (the last IPv4 octet, the last 80 bits of IPv6).
- `created` and `modified` are Unix times (floats, UTC).

The file is opened read-only (SQLite's `mode=ro`) and read with one streaming cursor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import (
    CommentRecord,
    MalformedExport,
    Record,
    Skipped,
    ThreadRecord,
)

SQLITE_MAGIC = b"SQLite format 3\x00"

# The columns this reader relies on, per table.
REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "threads": frozenset({"id", "uri", "title"}),
    "comments": frozenset(
        {
            "tid",
            "id",
            "parent",
            "created",
            "modified",
            "mode",
            "remote_addr",
            "text",
            "author",
            "email",
            "website",
            "likes",
            "dislikes",
        }
    ),
}

MODES: dict[int, CommentStatus] = {
    1: CommentStatus.approved,
    2: CommentStatus.pending,
    4: CommentStatus.deleted,
}

_ROWS = """
SELECT threads.id, threads.uri, threads.title,
       comments.id, comments.parent, comments.created, comments.modified, comments.mode,
       comments.remote_addr, comments.text, comments.author, comments.email, comments.website,
       comments.likes, comments.dislikes
FROM threads JOIN comments ON comments.tid = threads.id
ORDER BY threads.id, comments.id
"""

_ORPHANS = """
SELECT comments.id, comments.tid FROM comments
WHERE comments.tid IS NULL OR comments.tid NOT IN (SELECT threads.id FROM threads)
ORDER BY comments.id
"""


def read_isso(path: Path) -> Iterator[Record]:
    """The records of the Isso database at `path`: each thread with comments, then its comments
    in id order; last, a `Skipped` for every comment whose thread is missing. Raises
    `MalformedExport` for a file that is not an Isso database. Never writes to the file."""
    _check_header(path)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise MalformedExport(f"cannot open the database: {error}") from error
    with closing(connection):
        try:
            _check_schema(connection)
            yield from _records(connection)
            yield from _orphans(connection)
        except sqlite3.Error as error:
            raise MalformedExport(f"cannot read the Isso database: {error}") from error


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite sees it (an empty file would otherwise
    open as an empty database)."""
    with path.open("rb") as file:
        if file.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise MalformedExport("not an Isso database: the file is not an SQLite database")


def _check_schema(connection: sqlite3.Connection) -> None:
    """Refuse a database that lacks Isso's tables or the columns read here."""
    for table, required in REQUIRED_COLUMNS.items():
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not columns:
            raise MalformedExport(f"not an Isso database: no table {table!r}")
        missing = sorted(required - columns)
        if missing:
            raise MalformedExport(
                f"not an Isso database: table {table!r} lacks {', '.join(missing)}"
            )


def _records(connection: sqlite3.Connection) -> Iterator[Record]:
    """Threads and their comments, streamed from one cursor ordered by thread then comment."""
    current: Any = object()
    thread_ok = False
    for row in connection.execute(_ROWS):
        tid, url, title = row[0], row[1], row[2]
        if tid != current:
            current = tid
            thread_ok = isinstance(url, str) and url != ""
            if thread_ok:
                yield ThreadRecord(key=str(tid), url=url, title=_text(title))
        if not thread_ok:
            yield Skipped(source_id=str(row[3]), reason=f"its thread {tid} has no URI")
            continue
        yield _comment(str(tid), row[3:])


def _orphans(connection: sqlite3.Connection) -> Iterator[Skipped]:
    """Comments whose thread row does not exist (Isso does not enforce the reference)."""
    for cid, tid in connection.execute(_ORPHANS):
        yield Skipped(source_id=str(cid), reason=f"its thread {tid} is missing")


def _comment(thread_key: str, row: tuple[Any, ...]) -> Record:
    """One comment row (id, parent, created, modified, mode, remote_addr, text, author, email,
    website, likes, dislikes) as a record, or a `Skipped` for a mode Isso does not define."""
    cid, parent, created, modified, mode, addr, text, author, email, website, likes, dislikes = row
    source_id = str(cid)
    status = MODES.get(mode) if isinstance(mode, int) else None
    if status is None:
        return Skipped(source_id=source_id, reason=f"unknown Isso mode {mode!r}")
    return CommentRecord(
        source_id=source_id,
        thread_key=thread_key,
        kind=CommentKind.comment,
        status=status,
        text=_text(text),
        text_format="markdown",
        created_at=_time(created, source_id, "created"),
        modified_at=None if modified is None else _time(modified, source_id, "modified"),
        parent_id=None if parent is None else str(parent),
        author=unescape(_text(author)),
        email=unescape(_text(email)),
        website=unescape(_text(website)),
        ip=_text(addr),
        likes=_count(likes),
        dislikes=_count(dislikes),
    )


def _text(value: object) -> str:
    """A text column: NULL is ''."""
    return "" if value is None else str(value)


def _count(value: object) -> int:
    """A like or dislike count: NULL or nonsense is 0."""
    return value if isinstance(value, int) and value > 0 else 0


def _time(value: object, source_id: str, column: str) -> datetime:
    """A Unix time column as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedExport(f"comment {source_id}: {column} is not a time: {value!r}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise MalformedExport(
            f"comment {source_id}: {column} is out of range: {value!r}"
        ) from error
