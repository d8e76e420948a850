"""Spam lists, the learned classifier counts, and the outbox of after-commit work

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 18:02:49.050580
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifier_counts",
        sa.Column("feature", sa.String(length=255), nullable=False),
        sa.Column("spam", sa.Float(), server_default="0", nullable=False),
        sa.Column("ham", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("feature", name=op.f("pk_classifier_counts")),
    )
    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "moderation_key",
                "disallowed_key",
                "blocked_ip",
                "blocked_email",
                "blocked_domain",
                name="list_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=255), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint("kind", "value", "site", name=op.f("uq_list_entries_kind_value_site")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["done_at", "next_attempt_at"], unique=False)

    # Plain ALTER TABLE on both engines: batch mode would rebuild `comments` on SQLite and drop its
    # CHECK constraints, which SQLite reflection cannot see.
    op.add_column(
        "comments",
        sa.Column(
            "learned",
            sa.String(length=8),
            nullable=True,
            comment="what the classifier was taught from this comment: spam, ham or null",
        ),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE comments DROP COLUMN learned")  # SQLite >= 3.35 and PostgreSQL

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    op.drop_table("list_entries")
    op.drop_table("classifier_counts")
