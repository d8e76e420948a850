"""The "previously approved" lookup's index covers the status, so SQLite uses it

Without statistics SQLite chose the (status, id) index for ``author = ? AND email = ? AND status =
'approved'`` and walked every approved comment on each submission (1.3 ms at 5,000 comments, growing
with the table). With all three columns this index is the obvious choice, and a covering one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_comments_email_author_status", "comments", ["email", "author", "status"], unique=False
    )
    op.drop_index("ix_comments_email_author", table_name="comments")


def downgrade() -> None:
    op.create_index("ix_comments_email_author", "comments", ["email", "author"], unique=False)
    op.drop_index("ix_comments_email_author_status", table_name="comments")
