"""Full-text search index over comments

The queue's search is a case-insensitive substring match over a comment's text, author, e-mail,
website and IP. Without an index it scans a tab (0.8-2.5 s for a rare word at a million rows);
these indexes find the candidates, and the query keeps its exact per-column match:

* SQLite: ``comments_fts``, an external-content FTS5 table with the trigram tokenizer (substring
  matching, case folded) over the five columns, kept in step by three triggers (insert, update of
  those columns, delete) that run inside the writing transaction; filled by FTS5's ``rebuild``.
* PostgreSQL: ``ix_comments_search_trgm``, a ``pg_trgm`` GIN index over the lower-cased columns
  joined by newlines (the index keeps itself in step; CREATE INDEX fills it).

Neither is a model: `moderation.models.SEARCH_INDEX_NAMES` lists them for the schema comparison.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "text, author, email, website, ip"
NEW = "new.id, new.text, new.author, new.email, new.website, new.ip"
OLD = "old.id, old.text, old.author, old.email, old.website, old.ip"
# Must stay the expression of `moderation.services.queue_filters.SEARCH_DOCUMENT`.
PG_DOCUMENT = (
    "lower(text || E'\\n' || author || E'\\n' || email || E'\\n' || website || E'\\n' || ip)"
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE comments_fts USING fts5({COLUMNS}, content='comments', "
            "content_rowid='id', tokenize='trigram', detail='none')"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            f"INSERT INTO comments_fts(rowid, {COLUMNS}) VALUES ({NEW}); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
            f"INSERT INTO comments_fts(comments_fts, rowid, {COLUMNS}) VALUES ('delete', {OLD}); "
            "END"
        )
        op.execute(
            f"CREATE TRIGGER comments_fts_update AFTER UPDATE OF {COLUMNS} ON comments BEGIN "
            f"INSERT INTO comments_fts(comments_fts, rowid, {COLUMNS}) VALUES ('delete', {OLD}); "
            f"INSERT INTO comments_fts(rowid, {COLUMNS}) VALUES ({NEW}); END"
        )
        op.execute("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX ix_comments_search_trgm ON comments USING gin ({PG_DOCUMENT} "
            "gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS comments_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS comments_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_comments_search_trgm")
        # pg_trgm stays: other databases objects may use it, and it holds no data.
