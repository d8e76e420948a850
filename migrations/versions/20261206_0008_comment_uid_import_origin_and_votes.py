"""Comments' portable id, import origin, text format and vote counts

``uid`` is a comment's id in exports, the same in every database an export is imported into;
``import_source``/``import_id`` remember where an imported comment came from, unique per thread, so
that running an import again adds nothing; ``text_format`` says whether ``text`` is Markdown or
the HTML an imported comment was written in; ``likes``/``dislikes`` keep the counts a source had.
Existing comments get their uid at their first export. Both unique indexes are partial (only
rows that have the values are in them), so a reader's post writes neither.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "uid",
                sa.String(length=32),
                nullable=True,
                comment=(
                    "portable id, given at the first export or kept from an import: the same in "
                    "every export and in every database the export is imported into"
                ),
            )
        )
        batch_op.add_column(
            sa.Column(
                "import_source",
                sa.String(length=16),
                nullable=True,
                comment="imported rows: the format first imported from (wordpress, disqus, ...)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "import_id",
                sa.String(length=255),
                nullable=True,
                comment="imported rows: the comment's id in that source",
            )
        )
        batch_op.add_column(
            sa.Column(
                "text_format",
                sa.String(length=8),
                server_default="markdown",
                nullable=False,
                comment=(
                    "what `text` is written in: markdown (ours, Isso) or html (imported from "
                    "WordPress, ...)"
                ),
            )
        )
        batch_op.add_column(sa.Column("likes", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("dislikes", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        "uq_comments_import",
        "comments",
        ["import_source", "import_id", "thread_id"],
        unique=True,
        sqlite_where=sa.text("import_source IS NOT NULL"),
        postgresql_where=sa.text("import_source IS NOT NULL"),
    )
    op.create_index(
        "uq_comments_uid",
        "comments",
        ["uid"],
        unique=True,
        sqlite_where=sa.text("uid IS NOT NULL"),
        postgresql_where=sa.text("uid IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_comments_uid", table_name="comments")
    op.drop_index("uq_comments_import", table_name="comments")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("dislikes")
        batch_op.drop_column("likes")
        batch_op.drop_column("text_format")
        batch_op.drop_column("import_id")
        batch_op.drop_column("import_source")
        batch_op.drop_column("uid")
