"""Readers' votes on comments and likes of pages

``votes`` (one per reader and comment, +1 or -1; the comment's ``likes``/``dislikes`` are the
maintained counts, added in 0008) and ``page_likes`` (one per reader and page; ``threads.likes``
is the count). Readers are keyed hashes of the widget's opaque id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "likes",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="maintained count of page likes",
            )
        )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("reader", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("value IN (-1, 1)", name=op.f("ck_votes_value_is_up_or_down")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_votes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("comment_id", "reader", name=op.f("uq_votes_comment_id_reader")),
    )
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.create_index("ix_votes_comment_ip_created", ["comment_id", "ip", "created_at"])
    op.create_table(
        "page_likes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("reader", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_page_likes_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_likes")),
        sa.UniqueConstraint("thread_id", "reader", name=op.f("uq_page_likes_thread_id_reader")),
    )


def downgrade() -> None:
    op.drop_table("page_likes")
    op.drop_table("votes")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("likes")
