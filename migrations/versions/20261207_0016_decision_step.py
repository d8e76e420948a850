"""The logistic step each kept decision took, so that a reversed decision takes it back

``classifier_decisions.step`` holds the weight changes (JSON, feature to change) of the logistic
step a moderator's decision took; when the decision is reversed, its step is subtracted before the
corrected label's step is taken. Rows kept before this revision, and decisions that took no step
(a history's reserve-only ham), have none: reversing them takes back their counts only.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("classifier_decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "step",
                sa.Text(),
                nullable=True,
                comment="the logistic step's weight changes (JSON), taken back on reversal",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("classifier_decisions", schema=None) as batch_op:
        batch_op.drop_column("step")
