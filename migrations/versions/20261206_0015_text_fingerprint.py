"""Comments' text fingerprint: the same text on other pages

``comments.fingerprint`` holds 16 hex digits of a comment's normalised text (see
`moderation.scorers.rules.text.text_fingerprint`), empty for short texts and linkbacks; the index
on (fingerprint, created_at) finds the copies of a new comment's text posted lately. Existing rows
are left empty (no backfill): the lookup only reaches back ``[spam] repeat_window_days`` (30), so
the signal is whole that long after the upgrade, and a migration does not import the app's
normalisation, which may change.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fingerprint",
                sa.String(length=16),
                server_default="",
                nullable=False,
                comment=(
                    "comments: 16 hex digits of the normalised text; empty for short texts, "
                    "linkbacks and comments stored before revision 0015"
                ),
            )
        )
    op.create_index(
        "ix_comments_fingerprint_created", "comments", ["fingerprint", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_comments_fingerprint_created", table_name="comments")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
