"""Classifier cut-offs per site: a reserve of recent decisions and the cut-offs calibrated on it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifier_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False, comment="site id from the config"),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("is_spam", sa.Boolean(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False, comment="scored just before learning"),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_classifier_decisions_comment_id_comments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_decisions")),
        sa.UniqueConstraint("comment_id", name=op.f("uq_classifier_decisions_comment_id")),
    )
    op.create_index(
        "ix_classifier_decisions_site_label",
        "classifier_decisions",
        ["site", "is_spam", "id"],
        unique=False,
    )
    op.create_table(
        "classifier_cutoffs",
        sa.Column("site", sa.String(length=64), nullable=False, comment="site id"),
        sa.Column("unsure", sa.Float(), nullable=False),
        sa.Column("spam", sa.Float(), nullable=False),
        sa.Column("ham_decisions", sa.Integer(), nullable=False, comment="ham in the reserve"),
        sa.Column("spam_decisions", sa.Integer(), nullable=False, comment="spam in the reserve"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_classifier_cutoffs")),
    )


def downgrade() -> None:
    op.drop_table("classifier_cutoffs")
    op.drop_index("ix_classifier_decisions_site_label", table_name="classifier_decisions")
    op.drop_table("classifier_decisions")
