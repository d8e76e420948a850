"""Our own JSON export: one document per site, every thread with its comments, in a layout that is
a function of the data only (no export time), so that exporting, importing into an empty database
and exporting again gives the same file.

```json
{
  "format": "moderation-export", "version": 1,
  "site": {"id": "blog", "url": "https://blog.example/"},
  "threads": [
    {"uri": "/a-post/", "title": "A post", "created_at": "2024-05-01T09:00:00+00:00", "closed": false,
     "comments": [
       {"id": "<32 hex>", "parent": null, "kind": "comment", "status": "approved",
        "author": "Ann", "email": "ann@example.org", "website": "",
        "text": "Markdown as written", "text_format": "markdown",
        "created_at": "...", "modified_at": null, "approved_at": "...", "deleted_at": null,
        "source": null, "verified": null, "discarded": false, "likes": 0, "dislikes": 0,
        "origin": {"source": "wordpress", "id": "17"}}]}]}
```

``id`` is the comment's portable id (kept by every import of the file), ``parent`` its parent's.
``origin`` names the format and id a comment was first imported from, or is null. With
``--with-ip`` each comment also has ``ip``, ``user_agent`` and ``referrer``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import (
    CommentRecord,
    MalformedExport,
    Record,
    ThreadRecord,
    utc,
)

FORMAT = "moderation-export"
VERSION = 1
E = TypeVar("E", CommentKind, CommentStatus)
_UID = re.compile(r"[0-9a-f]{32}")


def _time(value: datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


def comment_json(c: CommentRecord, with_ip: bool) -> dict[str, Any]:
    """One comment's JSON object."""
    data: dict[str, Any] = {
        "id": c.uid,
        "parent": c.parent_id,
        "kind": c.kind.value,
        "status": c.status.value,
        "author": c.author,
        "email": c.email,
        "website": c.website,
        "text": c.text,
        "text_format": c.text_format,
        "created_at": _time(c.created_at),
        "modified_at": _time(c.modified_at),
        "approved_at": _time(c.approved_at),
        "deleted_at": _time(c.deleted_at),
        "source": c.linkback_source,
        "verified": c.verified,
        "discarded": c.discarded,
        "likes": c.likes,
        "dislikes": c.dislikes,
        "origin": {"source": c.origin[0], "id": c.origin[1]} if c.origin else None,
    }
    if with_ip:
        data |= {"ip": c.ip, "user_agent": c.user_agent, "referrer": c.referrer}
    return data


def write_json(
    out: TextIO,
    site_id: str,
    site_url: str,
    threads: Iterable[tuple[ThreadRecord, Sequence[CommentRecord]]],
    *,
    with_ip: bool = False,
) -> int:
    """Write the export document, one thread at a time; returns how many comments."""
    head = {"format": FORMAT, "version": VERSION, "site": {"id": site_id, "url": site_url}}
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "threads": [\n')
    count = 0
    for index, (thread, comments) in enumerate(threads):
        data = {
            "uri": thread.url,
            "title": thread.title,
            "created_at": _time(thread.created_at),
            "closed": thread.closed,
            "comments": [comment_json(c, with_ip) for c in comments],
        }
        count += len(comments)
        out.write((",\n" if index else "") + json.dumps(data, ensure_ascii=False))
    out.write("\n]}\n")
    return count


# --- reading ---------------------------------------------------------------------------------


def read_json(path: Path) -> Iterator[Record]:
    """The records of one of our exports. The document is loaded whole (it is a single JSON
    value); the rows it makes are checked one by one, naming the thread and comment at fault."""
    try:
        with path.open(encoding="utf-8") as file:
            document = json.load(file)
    except json.JSONDecodeError as exc:
        raise MalformedExport(f"not JSON: {exc.msg}", line=exc.lineno) from None
    except UnicodeDecodeError:
        raise MalformedExport("not UTF-8 text") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise MalformedExport(f'not a moderation export (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise MalformedExport(f"export version {document.get('version')!r} is not {VERSION}")
    threads = document.get("threads")
    if not isinstance(threads, list):
        raise MalformedExport('"threads" is not a list')
    for t_index, thread in enumerate(threads):
        yield from _thread_records(thread, f"threads[{t_index}]")


def _thread_records(thread: Any, where: str) -> Iterator[Record]:
    if not isinstance(thread, dict):
        raise MalformedExport(f"{where} is not an object")
    uri = _text(thread, "uri", where, required=True)
    if not uri.startswith("/"):
        raise MalformedExport(f"{where}.uri {uri!r} does not start with /")
    yield ThreadRecord(
        key=uri,
        url=uri,
        title=_text(thread, "title", where),
        created_at=_when(thread, "created_at", where),
        closed=_flag(thread, "closed", where),
    )
    comments = thread.get("comments", [])
    if not isinstance(comments, list):
        raise MalformedExport(f"{where}.comments is not a list")
    for c_index, comment in enumerate(comments):
        yield _comment_record(comment, uri, f"{where}.comments[{c_index}]")


def _comment_record(data: Any, thread_key: str, where: str) -> CommentRecord:
    if not isinstance(data, dict):
        raise MalformedExport(f"{where} is not an object")
    uid = _text(data, "id", where, required=True)
    if not _UID.fullmatch(uid):
        raise MalformedExport(f"{where}.id {uid!r} is not 32 hex digits")
    parent = data.get("parent")
    if parent is not None and not (isinstance(parent, str) and _UID.fullmatch(parent)):
        raise MalformedExport(f"{where}.parent {parent!r} is not a comment id")
    origin = data.get("origin")
    if origin is not None:
        if not isinstance(origin, dict):
            raise MalformedExport(f"{where}.origin is not an object")
        origin_pair = (_text(origin, "source", where, True), _text(origin, "id", where, True))
    created = _when(data, "created_at", where)
    if created is None:
        raise MalformedExport(f"{where}.created_at is missing")
    text_format = _text(data, "text_format", where) or "markdown"
    if text_format not in ("markdown", "html"):
        raise MalformedExport(f"{where}.text_format {text_format!r} is not markdown or html")
    record = CommentRecord(
        source_id=uid,
        thread_key=thread_key,
        kind=_choice(CommentKind, data, "kind", where),
        status=_choice(CommentStatus, data, "status", where),
        text=_text(data, "text", where),
        created_at=created,
        parent_id=parent,
        text_format="html" if text_format == "html" else "markdown",
        author=_text(data, "author", where),
        email=_text(data, "email", where),
        website=_text(data, "website", where),
        ip=_text(data, "ip", where),
        user_agent=_text(data, "user_agent", where),
        modified_at=_when(data, "modified_at", where),
        linkback_source=data.get("source") if isinstance(data.get("source"), str) else None,
        likes=_count(data, "likes", where),
        dislikes=_count(data, "dislikes", where),
        uid=uid,
        origin=origin_pair if origin is not None else None,
        approved_at=_when(data, "approved_at", where),
        deleted_at=_when(data, "deleted_at", where),
        verified=_optional_flag(data, "verified", where),
        discarded=_flag(data, "discarded", where),
        referrer=_text(data, "referrer", where),
    )
    return record


def _text(data: dict[str, Any], key: str, where: str, required: bool = False) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise MalformedExport(f"{where}.{key} is not a string")
    return value


def _flag(data: dict[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise MalformedExport(f"{where}.{key} is not true or false")
    return value


def _optional_flag(data: dict[str, Any], key: str, where: str) -> bool | None:
    return None if data.get(key) is None else _flag(data, key, where)


def _count(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedExport(f"{where}.{key} is not a count")
    return value


def _when(data: dict[str, Any], key: str, where: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedExport(f"{where}.{key} is not a time")
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise MalformedExport(f"{where}.{key} {value!r} is not an ISO 8601 time") from None


def _choice(enum: type[E], data: dict[str, Any], key: str, where: str) -> E:
    value = data.get(key)
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise MalformedExport(f"{where}.{key} {value!r} is not one of {allowed}") from None
