"""Readers signed in with an outside identity

``readers`` (one per provider and subject: OpenID Connect, GitHub or an e-mail link; no password
is kept; ``revoked_generation`` is in every reader token, and signing out bumps it) and
``comments.reader_id`` (the signed-in author of a comment; SET NULL when the reader is removed).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "readers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "provider", sa.String(length=64), nullable=False, comment="the [auth.providers.<id>] id"
        ),
        sa.Column(
            "subject",
            sa.String(length=255),
            nullable=False,
            comment="the provider's stable user id",
        ),
        sa.Column("name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("email", sa.String(length=255), server_default="", nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("avatar", sa.String(length=1024), server_default="", nullable=False),
        sa.Column("profile", sa.String(length=1024), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("blocked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readers")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_readers_provider_subject")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reader_id",
                sa.Integer(),
                nullable=True,
                comment="the signed-in reader who wrote it (null: anonymous, or a linkback)",
            )
        )
        batch_op.create_index(batch_op.f("ix_comments_reader_id"), ["reader_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_comments_reader_id_readers"),
            "readers",
            ["reader_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_comments_reader_id_readers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_comments_reader_id"))
        batch_op.drop_column("reader_id")
    op.drop_table("readers")
