"""A moderator's decision counts four examples of the shipped model: rescale what was learned

Until this revision each decision added 1 to the naive-Bayes counts of ``classifier_counts``; from
now on it adds `moderation.scorers.classifier.model.DECISION_WEIGHT` (4), so a site's own
decisions outweigh the shipped YouTube-trained counts sooner. The counts learned before are
multiplied by 4 so that every decision weighs the same and a reversed old decision takes back
exactly what it added. The logistic weights (features under ``lr:``) are left as they are: each
step is kept with its decision and taken back as it was.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTOR = 4.0  # DECISION_WEIGHT when this revision was written
COUNTS = "feature NOT LIKE 'lr:%'"  # every row but the logistic weights (WEIGHT_PREFIX "lr:")


def _scale(factor: float) -> None:
    op.execute(
        sa.text(
            f"UPDATE classifier_counts SET spam = spam * :factor, ham = ham * :factor WHERE {COUNTS}"
        ).bindparams(factor=factor)
    )


def upgrade() -> None:
    _scale(FACTOR)


def downgrade() -> None:
    _scale(1.0 / FACTOR)
