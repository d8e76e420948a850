"""What the moderation queue shows, and how a request asks for it: `QueueFilter` (a tab narrowed by
site, thread, kind and a search) read from query arguments with the page's limit and cursor, and the
search clause: a case-insensitive substring match (`FoldedLike`, with ``%`` and ``_`` escaped) over
text, author, e-mail, website and IP, whose candidates come from an index when the search has at
least three characters (`IndexedSearch`: FTS5 with the trigram tokenizer on SQLite, a
``pg_trgm`` GIN index on PostgreSQL; migration 0012). The index only narrows: the per-column match
decides, so a search means exactly what it meant before the index. On SQLite a search asks the
index for its rarest trigrams only (`rarest_fts_query`): a trigram that every row holds costs FTS5 a
walk of a million entries and narrows nothing.

`services.queue` turns a filter into its WHERE clauses (`matching`), and lists, counts and acts on
the comments it selects."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    column,
    func,
    literal,
    literal_column,
    or_,
    table,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import InternalTraversal

from moderation.domain import inputs
from moderation.domain.states import CommentKind, CommentStatus
from moderation.errors import InvalidInput
from moderation.models import Comment

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# The largest id both databases compare; a larger id or cursor matches nothing.
MAX_ID = inputs.MAX_ID
S = CommentStatus


# --- filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: one status (a tab) narrowed by site, thread, kind and a search.

    `discarded` shows Akismet's discards, which the spam tab hides by default. `scope` is the
    sites the moderator may see (None: all; `accounts.sites_of`): never a query argument.
    """

    status: CommentStatus = S.pending
    site: str | None = None
    uri: str | None = None
    kind: CommentKind | None = None
    q: str = ""
    discarded: bool = False
    scope: frozenset[str] | None = None
    # SQLite: the FTS5 query for `q` through its rarest trigrams (`with_rarest`); "" asks for
    # every third trigram (`fts_query`). Never a query argument.
    fts: str = field(default="", compare=False, repr=False)

    def but(self, **changes: Any) -> QueueFilter:
        """This filter with some fields changed (templates build tab and filter links with it);
        another search forgets the trigrams chosen for this one."""
        if "q" in changes and "fts" not in changes:
            changes["fts"] = ""
        return replace(self, **changes)

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (empty ones left out)."""
        out = {
            "status": self.status.value,
            "site": self.site or "",
            "uri": self.uri or "",
            "kind": self.kind.value if self.kind else "",
            "q": self.q,
            "discarded": "1" if self.discarded else "",
        }
        return {k: v for k, v in out.items() if v}


def text_arg(args: Mapping[str, str], name: str) -> str:
    """The argument `name` stripped (``""`` when absent); raise `InvalidInput` naming it when it
    holds a control character (PostgreSQL cannot even bind a NUL) or is not valid Unicode."""
    raw = args.get(name) or ""
    problem = inputs.single_line_problem(raw)
    if problem:
        raise InvalidInput(f"bad {name}", fields={name: problem})
    return raw.strip()


def _enum_arg(args: Mapping[str, str], name: str, cls: Any, default: Any) -> Any:
    raw = text_arg(args, name)
    if not raw:
        return default
    try:
        return cls(raw)
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise InvalidInput(f"unknown {name}", fields={name: f"one of {choices}"}) from None


def parse_filter(args: Mapping[str, str], sites: Collection[str]) -> QueueFilter:
    """A `QueueFilter` from query arguments; raise `InvalidInput` naming the bad field."""
    site = text_arg(args, "site") or None
    if site is not None and site not in sites:
        raise InvalidInput("unknown site", fields={"site": "no such site"})
    uri = text_arg(args, "uri") or None
    q = text_arg(args, "q")
    if len(q) > 200:
        raise InvalidInput("search too long", fields={"q": "at most 200 characters"})
    return QueueFilter(
        status=_enum_arg(args, "status", CommentStatus, S.pending),
        site=site,
        uri=uri,
        kind=_enum_arg(args, "kind", CommentKind, None),
        q=q,
        discarded=(args.get("discarded") or "") in ("1", "true", "on"),
    )


def int_arg(args: Mapping[str, str], name: str, low: int, high: int | None) -> int | None:
    """The integer argument `name` (None when absent); raise `InvalidInput` naming it."""
    raw = text_arg(args, name)
    if not raw:
        return None
    high = high or MAX_ID
    bounds = f"from {low} to {high}"
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"bad {name}", fields={name: f"an integer {bounds}"})
    return int(raw)


def parse_page(args: Mapping[str, str], default: int = DEFAULT_LIMIT) -> tuple[int, int | None]:
    """``(limit, cursor)`` from ``limit`` (1 to 100) and ``cursor`` (the last id seen)."""
    limit = int_arg(args, "limit", 1, MAX_LIMIT)
    return limit or default, int_arg(args, "cursor", 1, None)


# --- search ----------------------------------------------------------------------------------------


def escape_like(text: str) -> str:
    """`text` for use inside a LIKE pattern with ``\\`` as the escape character."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FoldedLike(ColumnElement[bool]):
    """``column LIKE pattern`` ignoring case, compiled per engine.

    PostgreSQL: ``lower(column) LIKE lower(pattern)`` (measured faster than ILIKE at a million rows).
    SQLite: a plain ``LIKE``, which already ignores ASCII case, exactly what SQLite's ``lower()``
    folds, at half the cost (no five function calls per row).
    """

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, pattern: ColumnElement[str]) -> None:
        """Match `column` against the LIKE `pattern` (escaped with a backslash)."""
        self.column = column
        self.pattern = pattern


@compiles(FoldedLike)
def _folded_like(element: FoldedLike, compiler: Any, **kw: Any) -> str:
    clause = func.lower(element.column).like(func.lower(element.pattern), escape="\\")
    return str(compiler.process(clause, **kw))


@compiles(FoldedLike, "sqlite")
def _folded_like_sqlite(element: FoldedLike, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.like(element.pattern, escape="\\"), **kw))


def search_clause(q: str, fts: str = "") -> ColumnElement[bool]:
    """Case-insensitive substring match over text, author, e-mail, website and IP; its candidates
    from the search index when `q` has three characters or more (on SQLite through the FTS5
    query `fts` when one was chosen, `QueueFilter.fts`)."""
    if not indexed(q) or "\n" in q:
        return exact_clause(q)
    return IndexedSearch(q, fts)


# --- the search index (migration 0012) -------------------------------------------------------------

MIN_INDEXED = 3  # trigram indexes find substrings of three characters or more
# SQLite: the FTS5 table (external content: its rowid is the comment's id).
FTS = table("comments_fts", column("rowid"))
# PostgreSQL: the expression of the GIN trigram index, written as in the migration.
SEARCH_DOCUMENT = (
    "lower(comments.text || E'\\n' || comments.author || E'\\n' || comments.email || E'\\n' "
    "|| comments.website || E'\\n' || comments.ip)"
)


def indexed(q: str) -> bool:
    """Whether a search for `q` can ask the index (trigrams need three characters)."""
    return len(q) >= MIN_INDEXED


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def fts_query(q: str) -> str:
    """An FTS5 query for the rows holding every trigram of `q` (the table keeps no positions, so
    a phrase cannot be asked): its trigrams side by side, and the last, each quoted."""
    grams = dict.fromkeys([q[i : i + 3] for i in range(0, len(q) - 2, 3)] + [q[-3:]])
    return " AND ".join(map(_quoted, grams))


def fts_match(q: str, fts: str = "") -> ColumnElement[bool]:
    """``comments_fts MATCH query`` (SQLite only: a query that joins `FTS` to the comments)."""
    match = literal_column("comments_fts").op("MATCH", is_comparison=True)
    return match(literal(fts or fts_query(q)))


# --- the rarest trigrams (SQLite) ------------------------------------------------------------------
# FTS5 answers ``"rea" AND "424" AND ...`` by walking every trigram's list of rows: for an address
# at a common domain, lists of every row ("rea", "exa", ".or") for a handful of matches (130-200 ms
# at a million comments). Any of a search's trigrams find a superset of its matches, and the
# per-column match decides, so a search may ask for its rarest ones only: each trigram's rows are
# counted up to `PROBE_CAP` (a walk of at most that many entries), kept for `PROBE_SECONDS` per
# database in this process, and the `RAREST` least common are asked for.

PROBE_CAP = 20_000
PROBE_MAX = 16  # trigrams probed per search at most (spread over a longer search)
PROBE_SECONDS = 60.0
RAREST = 4
_PROBE = text(
    "SELECT count(*) FROM (SELECT rowid FROM comments_fts WHERE comments_fts MATCH :m LIMIT :cap)"
)
_probed: dict[tuple[str, str], tuple[float, int]] = {}  # (database, trigram) -> (when, rows)
_PROBED_MAX = 4096


def trigrams(q: str) -> list[str]:
    """The distinct trigrams of `q` in order, at most `PROBE_MAX`, spread over it."""
    grams = list(dict.fromkeys(q[i : i + 3] for i in range(len(q) - 2)))
    if len(grams) <= PROBE_MAX:
        return grams
    step = (len(grams) - 1) / (PROBE_MAX - 1)
    return list(dict.fromkeys(grams[round(i * step)] for i in range(PROBE_MAX)))


def rarest_fts_query(session: Session, q: str) -> str:
    """SQLite: the FTS5 query for `q`'s search through its `RAREST` least common trigrams (those
    in fewer than `PROBE_CAP` rows only), or "" (another engine, a search the index does not
    answer, or no trigram that rare: `fts_query`'s every third trigram then)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not indexed(q) or "\n" in q:
        return ""
    database, now = str(bind.engine.url), time.monotonic()
    counts: list[tuple[int, str]] = []
    for gram in trigrams(q):
        seen = _probed.get((database, gram))
        if seen is None or now - seen[0] > PROBE_SECONDS:
            rows = session.scalar(_PROBE, {"m": _quoted(gram), "cap": PROBE_CAP}) or 0
            if len(_probed) >= _PROBED_MAX:
                _probed.clear()
            _probed[(database, gram)] = seen = (now, rows)
        counts.append((seen[1], gram))
    rare = [gram for rows, gram in sorted(counts) if rows < PROBE_CAP][:RAREST]
    return " AND ".join(map(_quoted, rare))  # a common trigram would cost its whole list again


def clear_probes() -> None:
    """Forget every trigram's count (a stale count only makes a search ask for more rows)."""
    _probed.clear()


def with_rarest(session: Session, f: QueueFilter) -> QueueFilter:
    """`f` with the FTS5 query of its search's rarest trigrams (`rarest_fts_query`), if any."""
    if not f.q or f.fts:
        return f
    fts = rarest_fts_query(session, f.q)
    return replace(f, fts=fts) if fts else f


class IndexedSearch(ColumnElement[bool]):
    """The search for `q` through the search index, compiled per engine.

    SQLite: ``comments.id IN (SELECT rowid FROM comments_fts WHERE comments_fts MATCH ...)`` (the
    candidates) and the per-column match (`exact_clause`: the candidates hold every trigram, not
    necessarily the string). PostgreSQL: ``lower(document) LIKE lower(pattern)``, which the GIN
    trigram index answers; the document is the five columns joined by newlines, so for a search
    without a newline (`parse_filter` refuses control characters) it matches exactly when one of
    the columns does, and the planner estimates one condition instead of six (with the per-column
    match repeated it took a common word for a rare one: 0.7 s instead of a few ms)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("query", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
        ("exact", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, q: str, fts: str = "") -> None:
        """Search for `q` (three characters or more, no newline); on SQLite through the FTS5
        query `fts` (`fts_query`'s when empty)."""
        self.query = literal(fts or fts_query(q))
        self.pattern = literal(f"%{escape_like(q)}%")
        self.exact = exact_clause(q)


@compiles(IndexedSearch)
def _indexed_search(element: IndexedSearch, compiler: Any, **kw: Any) -> str:
    clause = literal_column(SEARCH_DOCUMENT).like(func.lower(element.pattern), escape="\\")
    return str(compiler.process(clause, **kw))


@compiles(IndexedSearch, "sqlite")
def _indexed_search_sqlite(element: IndexedSearch, compiler: Any, **kw: Any) -> str:
    query = compiler.process(element.query, **kw)
    exact = compiler.process(element.exact, **kw)
    return (
        f"(comments.id IN (SELECT rowid FROM comments_fts WHERE comments_fts MATCH {query}) "
        f"AND ({exact}))"
    )


def exact_clause(q: str) -> ColumnElement[bool]:
    """The per-column match alone: what a search means, without the index."""
    pattern = literal(f"%{escape_like(q)}%")
    columns = (Comment.text, Comment.author, Comment.email, Comment.website, Comment.ip)
    return or_(*(FoldedLike(col, pattern) for col in columns))
