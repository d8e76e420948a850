"""Moderators' session generation: signing out, a password change and a deactivation end sessions

A signed session cookie carries ``<moderator id>:<generation>``; bumping the column makes every
cookie signed before unusable, on every worker and node at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 15:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("moderators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "session_generation",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment=(
                    "carried in signed sessions; bumped to end them all "
                    "(logout, password, deactivation)"
                ),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("moderators", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
