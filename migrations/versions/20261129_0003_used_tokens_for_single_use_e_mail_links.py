"""Used tokens: the spent nonces of single-use e-mail links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 18:14:09.738556
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_tokens",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_used_tokens")),
    )


def downgrade() -> None:
    op.drop_table("used_tokens")
