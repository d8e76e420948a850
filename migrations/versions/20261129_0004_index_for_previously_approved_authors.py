"""An index for the "previously approved" lookup (e-mail and name) made on every submission

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 19:00:02.703773
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No batch mode: a plain CREATE INDEX never needs SQLite's table rebuild.
    op.create_index("ix_comments_email_author", "comments", ["email", "author"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_comments_email_author", table_name="comments")
