"""What every format is read into and written from: threads, comments and the rows a reader had to
skip, in file order. A reader yields a thread before any comment that names it; a comment may name
a parent that comes later in the file (the importer links it once both are stored)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from moderation.domain.states import CommentKind, CommentStatus

TextFormat = Literal["markdown", "html"]


class MalformedExport(Exception):
    """The file cannot be read as its format: where (line, when known) and why. Raised before
    anything is written (the importer reads a file through once before it stores anything)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """One page. `key` is the source's own id for it (a WordPress post id, a Disqus thread id, an
    Isso thread id, the page URL for Remark42); `url` is the page's address as the source knows it,
    absolute or a path."""

    key: str
    url: str
    title: str = ""
    created_at: datetime | None = None
    closed: bool = False


@dataclass(frozen=True, slots=True)
class CommentRecord:
    """One comment, trackback or pingback of a thread already yielded.

    `source_id` is the source's id for it, unique within the file; `parent_id` the parent's
    `source_id` (None for a top-level one). `text` is kept as given: `text_format` says whether it
    is Markdown (Isso, ours) or HTML (WordPress, Disqus, Remark42); either is rendered through the
    same sanitizer as new comments. Times are aware UTC datetimes. `linkback_source` is the citing
    page of a trackback or pingback. `uid` and `origin` are our own JSON's: the comment's portable
    id, and the (format, id) it was first imported from; so are the fields after `line`.
    """

    source_id: str
    thread_key: str
    kind: CommentKind
    status: CommentStatus
    text: str
    created_at: datetime
    parent_id: str | None = None
    text_format: TextFormat = "markdown"
    author: str = ""
    email: str = ""
    website: str = ""
    ip: str = ""
    user_agent: str = ""
    modified_at: datetime | None = None
    linkback_source: str | None = None
    likes: int = 0
    dislikes: int = 0
    uid: str | None = None
    origin: tuple[str, str] | None = None
    line: int | None = None
    # Our own format's (others leave the defaults; the importer fills in the times from the status)
    approved_at: datetime | None = None
    deleted_at: datetime | None = None
    verified: bool | None = None
    discarded: bool = False
    referrer: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row of the file that is not imported, and why (a Disqus post whose thread is missing, a
    WordPress comment type that is not a comment, trackback or pingback, ...)."""

    source_id: str
    reason: str
    line: int | None = None


Record = ThreadRecord | CommentRecord | Skipped


class Reader(Protocol):
    """A format's reader: the records of one file, streamed (memory does not grow with the file's
    comments' text). Raises `MalformedExport` for a file that is not that format, truncated, or
    holds a row it cannot make sense of."""

    def __call__(self, path: Path) -> Iterator[Record]: ...


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
