"""Moderators per site: the sites a moderator may moderate (none listed: every site)

An API token may belong to a moderator (``api_tokens.moderator_id``): it then sees their sites only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderator_sites",
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False, comment="site id from the config"),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_moderator_sites_moderator_id_moderators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("moderator_id", "site", name=op.f("pk_moderator_sites")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "moderator_id",
                sa.Integer(),
                nullable=True,
                comment="the moderator whose sites the token is scoped to (NULL: every site)",
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_moderator_id_moderators"),
            "moderators",
            ["moderator_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_moderator_id_moderators", type_="foreignkey")
        batch_op.drop_column("moderator_id")
    op.drop_table("moderator_sites")
