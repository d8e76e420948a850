"""The status index also holds `discarded`: the spam tab's count reads only the index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 20:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (status, id, discarded) serves every query (status, id) served, so it replaces that index
    # rather than adding one. The new one first: the queue is never without an index. No batch
    # mode: a plain CREATE INDEX never needs SQLite's table rebuild.
    op.create_index(
        "ix_comments_status_id_discarded", "comments", ["status", "id", "discarded"], unique=False
    )
    op.drop_index("ix_comments_status_id", table_name="comments")


def downgrade() -> None:
    op.create_index("ix_comments_status_id", "comments", ["status", "id"], unique=False)
    op.drop_index("ix_comments_status_id_discarded", table_name="comments")
