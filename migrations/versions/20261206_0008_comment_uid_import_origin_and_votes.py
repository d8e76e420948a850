"""Comments' portable id, import origin, text format and vote counts

``uid`` is a comment's id in exports, the same in every database an export is imported into;
``import_source``/``import_id`` remember where an imported comment came from, unique per thread, so
that running an import again adds nothing; ``text_format`` says whether ``text`` is Markdown or
the HTML an imported comment was written in; ``likes``/``dislikes`` keep the counts a source had.
Existing comments get a random uid.

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
        batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
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
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE comments SET uid = lower(hex(randomblob(16)))")
    else:
        op.execute("UPDATE comments SET uid = replace(gen_random_uuid()::text, '-', '')")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.alter_column(
            "uid",
            existing_type=sa.String(length=32),
            nullable=False,
            comment=(
                "portable id: the same in every export and in a database the export is "
                "imported into"
            ),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_comments_uid"), ["uid"])
        batch_op.create_unique_constraint(
            "uq_comments_import", ["import_source", "import_id", "thread_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_comments_import", type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_comments_uid"), type_="unique")
        batch_op.drop_column("dislikes")
        batch_op.drop_column("likes")
        batch_op.drop_column("text_format")
        batch_op.drop_column("import_id")
        batch_op.drop_column("import_source")
        batch_op.drop_column("uid")
