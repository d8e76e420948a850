"""Reading a Disqus XML export (`<disqus>` in the `http://disqus.com` namespace, ids in
`dsq:id` attributes of `http://disqus.com/disqus-internals`) into `records`.

The file is read twice, streamed each time through defusedxml (no DTD, no entities), holding
one `<thread>` or `<post>` at a time: the first pass yields the threads and remembers their ids,
the second the posts. So a post is never dropped because its thread comes later in the file, and
a post whose thread is not in the file at all (Disqus exports have them) is a `Skipped` row.
Messages are Disqus's HTML, kept as given (`text_format="html"`); the importer sanitizes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from moderation.domain.states import CommentKind, CommentStatus
from moderation.interchange.records import (
    CommentRecord,
    MalformedExport,
    Record,
    Skipped,
    ThreadRecord,
    utc,
)

NS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
ROOT = NS + "disqus"
THREAD = NS + "thread"
POST = NS + "post"
CHUNK = 64 * 1024


class _Collector:
    """The parser's target: keeps only the `<thread>` or `<post>` being read (the root's other
    children, such as `<category>`, are dropped as they stream by) and hands each finished one
    out with the line its start tag is on."""

    def __init__(self) -> None:
        self.parser: DefusedXMLParser | None = None
        self.depth = 0
        self.builder: TreeBuilder | None = None
        self.line = 0
        self.done: list[tuple[Element, int]] = []

    def _current_line(self) -> int:
        return int(self.parser.parser.CurrentLineNumber) if self.parser is not None else 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            if tag != ROOT:
                raise MalformedExport(
                    f"not a Disqus export: the root element is <{tag}>, not <disqus> in the "
                    "http://disqus.com namespace",
                    self._current_line(),
                )
            return
        if self.depth == 2 and tag in (THREAD, POST):
            self.builder = TreeBuilder()
            self.line = self._current_line()
        if self.builder is not None:
            self.builder.start(tag, attrib)

    def data(self, text: str) -> None:
        if self.builder is not None:
            self.builder.data(text)

    def end(self, tag: str) -> None:
        if self.builder is not None:
            self.builder.end(tag)
            if self.depth == 2:
                self.done.append((self.builder.close(), self.line))
                self.builder = None
        self.depth -= 1

    def close(self) -> None:
        return None


def _elements(path: Path) -> Iterator[tuple[Element, int]]:
    """The root's `<thread>` and `<post>` children of the file at `path`, each with its line, one
    at a time (memory does not grow with the file). Raises `MalformedExport` for XML that is not
    well formed, holds a DTD or entity declarations, or whose root is not Disqus's."""
    collector = _Collector()
    parser = DefusedXMLParser(
        target=collector, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    collector.parser = parser
    with path.open("rb") as file:
        yield from _feed(file, parser, collector)


def _feed(
    file: BinaryIO, parser: DefusedXMLParser, collector: _Collector
) -> Iterator[tuple[Element, int]]:
    """Feed `file` to `parser` in chunks, handing out what each chunk completed."""
    try:
        while chunk := file.read(CHUNK):
            parser.feed(chunk)
            yield from collector.done
            collector.done.clear()
        parser.close()
    except ParseError as error:
        line = error.position[0] if error.position else None
        raise MalformedExport(f"not well-formed XML: {error}", line) from error
    except DefusedXmlException as error:
        raise MalformedExport(
            f"refused XML construct ({type(error).__name__}): DTDs and entity declarations "
            "are not read",
            collector._current_line() or None,
        ) from error
    yield from collector.done
    collector.done.clear()


def _child_text(element: Element, name: str) -> str:
    child = element.find(NS + name)
    if child is None:
        return ""
    return "".join(child.itertext()).strip()


def _child_id(element: Element, name: str) -> str:
    child = element.find(NS + name)
    if child is None:
        return ""
    return child.get(DSQ_ID, "").strip()


def _flag(element: Element, name: str, line: int, default: bool = False) -> bool:
    """A `true`/`false` child; absent or empty is `default`."""
    value = _child_text(element, name).lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    if value == "":
        return default
    raise MalformedExport(f"<{name}> is {value!r}, not true or false", line)


def _time(element: Element, line: int, required: bool) -> datetime | None:
    value = _child_text(element, "createdAt")
    if not value:
        if required:
            raise MalformedExport("a post without <createdAt>", line)
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError as error:
        raise MalformedExport(f"<createdAt> {value!r} is not an ISO 8601 time", line) from error


def _thread(element: Element, line: int, threads: dict[str, str | None]) -> Record:
    """A `<thread>` as a `ThreadRecord`, or `Skipped` (deleted, no link, a repeated id); notes in
    `threads` its id and, for a skipped one, why its posts are skipped."""
    key = element.get(DSQ_ID, "").strip()
    if not key:
        raise MalformedExport("a <thread> without dsq:id", line)
    if key in threads:
        return Skipped(key, f"thread {key} appears again in the file", line)
    link = _child_text(element, "link")
    created_at = _time(element, line, required=False)
    if _flag(element, "isDeleted", line):
        reason = threads[key] = f"thread {key} is deleted in Disqus"
        return Skipped(key, reason, line)
    if not link:
        reason = threads[key] = f"thread {key} has no link"
        return Skipped(key, reason, line)
    threads[key] = None
    return ThreadRecord(
        key=key,
        url=link,
        title=_child_text(element, "title"),
        created_at=created_at,
        closed=_flag(element, "isClosed", line),
    )


def _status(element: Element, line: int) -> CommentStatus:
    if _flag(element, "isDeleted", line):
        return CommentStatus.deleted
    if _flag(element, "isSpam", line):
        return CommentStatus.spam
    if not _flag(element, "isApproved", line, default=True):
        return CommentStatus.pending
    return CommentStatus.approved


def _post(element: Element, line: int, threads: dict[str, str | None]) -> Record:
    """A `<post>` as a `CommentRecord`, or `Skipped` when its thread is missing or skipped."""
    source_id = element.get(DSQ_ID, "").strip()
    if not source_id:
        raise MalformedExport("a <post> without dsq:id", line)
    thread_key = _child_id(element, "thread")
    if not thread_key:
        return Skipped(source_id, "the post names no thread", line)
    if thread_key not in threads:
        return Skipped(source_id, f"thread {thread_key} is not in the file", line)
    thread_problem = threads[thread_key]
    if thread_problem is not None:
        return Skipped(source_id, thread_problem, line)
    created_at = _time(element, line, required=True)
    assert created_at is not None
    author = element.find(NS + "author")
    name = email = ""
    if author is not None:
        name = _child_text(author, "name") or _child_text(author, "username")
        email = _child_text(author, "email")
    return CommentRecord(
        source_id=source_id,
        thread_key=thread_key,
        kind=CommentKind.comment,
        status=_status(element, line),
        text=_child_text(element, "message"),
        created_at=created_at,
        parent_id=_child_id(element, "parent") or None,
        text_format="html",
        author=name,
        email=email,
        ip=_child_text(element, "ipAddress"),
        line=line,
    )


def read_disqus(path: Path) -> Iterator[Record]:
    """The records of the Disqus export at `path`: every thread (first pass), then every post
    (second pass), in file order. Raises `MalformedExport` for a file that is not a well-formed
    Disqus export or holds a row without an id or with a bad time or flag."""
    threads: dict[str, str | None] = {}  # id -> None, or why its posts are skipped
    for element, line in _elements(path):
        if element.tag == THREAD:
            yield _thread(element, line, threads)
    for element, line in _elements(path):
        if element.tag == POST:
            yield _post(element, line, threads)
