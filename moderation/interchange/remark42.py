"""Reading a Remark42 backup (what `remark42 backup`, the admin export and `migrator.Native.Export`
write) into `records`.

The file is a stream of JSON values, plain or gzip-compressed (told by its magic bytes): first the
meta record `{"version":1,"users":[...],"posts":[{"url":...,"read_only":...}]}`, then one
`store.Comment` per line (`id`, `pid`, `text` (HTML), `orig` (the Markdown it was made from, when
posted through Remark42), `user`, `locator` {site, url}, `score`, `votes`, `time`, `edit`,
`delete`, `title`, ...). Remark42 reads it with Go's `json.Decoder`, which also takes values that
share a line or span several (its own tests have both), so this reader does too, while still
holding only one value at a time. A page (`locator.url`) becomes a thread the first time a
comment names it; `read_only` in the meta record closes it. Remark42 keeps hashed IPs and no
e-mail addresses, so neither is imported.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import (
    CommentRecord,
    MalformedExport,
    Record,
    ThreadRecord,
    utc,
)

GZIP_MAGIC = b"\x1f\x8b"
META_KEYS = frozenset({"version", "users", "posts"})
SUPPORTED_VERSIONS = (0, 1)
# Remark42 writes one value a line; hand-made files may spread one over a few. Bounds the text held
# (and parsed again as each line comes) while a value is incomplete.
MAX_VALUE_LINES = 1000  # Remark42 itself accepts 0 (a meta record without "version") and 1


@contextmanager
def _open(path: Path) -> Iterator[Iterable[bytes]]:
    """The file's bytes, decompressed when it starts with gzip's magic bytes."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
            yield unpacked


def _incomplete(error: json.JSONDecodeError, text: str) -> bool:
    """Whether `error` only says `text` stops before its value ends (the next line may finish
    it), rather than that the value is wrong. JSON strings cannot hold a line break, so an
    unterminated string is wrong, not incomplete."""
    return error.pos >= len(text.rstrip()) and not error.msg.startswith("Unterminated string")


def _values(lines: Iterable[bytes]) -> Iterator[tuple[Any, int]]:
    """Each JSON value in `lines` (UTF-8, a byte order mark allowed) with the number of the line
    it starts on."""
    decoder = json.JSONDecoder()
    pending = ""  # the unread text: at most one value and the line it ends on
    start = 1  # the line `pending` starts on
    number = 0
    try:
        for number, raw in enumerate(lines, start=1):
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            if not pending.strip():
                pending, start = "", number
            pending += line
            while True:
                stripped = pending.lstrip()
                start += pending.count("\n", 0, len(pending) - len(stripped))
                pending = stripped
                if not pending:
                    break
                try:
                    value, end = decoder.raw_decode(pending)
                except RecursionError as error:
                    raise MalformedExport("JSON nested too deeply", start) from error
                except json.JSONDecodeError as error:
                    if _incomplete(error, pending):
                        if number - start >= MAX_VALUE_LINES:
                            raise MalformedExport(
                                f"a JSON value spans more than {MAX_VALUE_LINES} lines", start
                            ) from error
                        break
                    raise MalformedExport(
                        f"not JSON: {error.msg}", start + pending.count("\n", 0, error.pos)
                    ) from error
                yield value, start
                start += pending.count("\n", 0, end)
                pending = pending[end:]
    except UnicodeDecodeError as error:
        raise MalformedExport(f"not UTF-8 text: {error.reason}", number) from error
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise MalformedExport(f"a damaged or truncated gzip file: {error}", number + 1) from error
    if pending.strip():
        raise MalformedExport("the file ends inside a JSON value (truncated?)", start)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any, line: int, field: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedExport(f"{field} is missing or not a string", line)
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError as error:
        raise MalformedExport(f"{field} {value!r} is not an RFC 3339 time", line) from error


def _modified_at(edit: Any, line: int) -> datetime | None:
    """`edit.time`, unless absent or Go's zero time."""
    if not isinstance(edit, dict) or not edit.get("time"):
        return None
    value = _time(edit["time"], line, "edit.time")
    return None if value.year == 1 else value


def _votes(comment: dict[str, Any]) -> tuple[int, int]:
    """(likes, dislikes): counted from `votes` (voter -> true for up) when the file has them;
    Remark42's own exports hide voters, so otherwise from `score` (ups minus downs)."""
    votes = comment.get("votes")
    if isinstance(votes, dict) and votes:
        likes = sum(1 for up in votes.values() if up is True)
        return likes, sum(1 for up in votes.values() if up is False)
    score = comment.get("score")
    if isinstance(score, int) and not isinstance(score, bool):
        return max(score, 0), max(-score, 0)
    return 0, 0


def _read_only_urls(meta: dict[str, Any], line: int) -> set[str]:
    """The pages the meta record marks read-only; refuses a version Remark42 would refuse."""
    unknown = sorted(set(meta) - META_KEYS)
    if unknown:
        raise MalformedExport(
            f"not a Remark42 backup: its first record has {', '.join(unknown)}, not only "
            "version, users and posts",
            line,
        )
    version = meta.get("version", 0)
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise MalformedExport(f"backup version {version!r} is not supported (1 is)", line)
    posts = meta.get("posts") or []
    if not isinstance(posts, list):
        raise MalformedExport("the meta record's posts is not a list", line)
    return {
        post["url"]
        for post in posts
        if isinstance(post, dict) and isinstance(post.get("url"), str) and post.get("read_only")
    }


def _comment(value: Any, line: int) -> tuple[ThreadRecord, CommentRecord]:
    """One `store.Comment` as the thread it names and the comment."""
    if not isinstance(value, dict):
        raise MalformedExport("a record that is not a JSON object", line)
    source_id = value.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise MalformedExport("a comment without an id", line)
    locator = value.get("locator")
    url = locator.get("url") if isinstance(locator, dict) else None
    if not isinstance(url, str) or not url:
        raise MalformedExport(f"comment {source_id} has no locator.url", line)
    user_value = value.get("user")
    user: dict[str, Any] = user_value if isinstance(user_value, dict) else {}
    orig = _text(value.get("orig"))
    likes, dislikes = _votes(value)
    thread = ThreadRecord(key=url, url=url, title=_text(value.get("title")).strip())
    comment = CommentRecord(
        source_id=source_id,
        thread_key=url,
        kind=CommentKind.comment,
        status=CommentStatus.deleted if value.get("delete") is True else CommentStatus.approved,
        text=orig if orig else _text(value.get("text")),
        text_format="markdown" if orig else "html",
        created_at=_time(value.get("time"), line, "time"),
        parent_id=_text(value.get("pid")) or None,
        author=_text(user.get("name")),
        modified_at=_modified_at(value.get("edit"), line),
        likes=likes,
        dislikes=dislikes,
        line=line,
    )
    return thread, comment


def read_remark42(path: Path) -> Iterator[Record]:
    """The records of the Remark42 backup at `path`: each page as a thread just before its first
    comment, then the comments, in file order. Raises `MalformedExport` for a file that is not
    JSON, is truncated, has an unsupported version, or holds a comment without an id, a page or
    a readable time."""
    read_only: set[str] = set()
    seen: set[str] = set()
    with _open(path) as lines:
        for index, (value, line) in enumerate(_values(lines)):
            if index == 0:
                if not isinstance(value, dict):
                    raise MalformedExport(
                        "not a Remark42 backup: it starts with no meta record", line
                    )
                # A file of comments only (the docs merge backups with `grep -v '{"version":1'`)
                # starts with a comment; anything else first is the meta record.
                if "version" in value or "locator" not in value:
                    read_only = _read_only_urls(value, line)
                    continue
            thread, comment = _comment(value, line)
            if thread.key not in seen:
                seen.add(thread.key)
                yield ThreadRecord(
                    key=thread.key,
                    url=thread.url,
                    title=thread.title,
                    closed=thread.url in read_only,
                )
            yield comment
