"""Readers' subscriptions, their deliveries, suppressed addresses, dead letters and job marks

``subscriptions`` (double opt-in: ``confirmed_at``), ``deliveries`` (one comment mailed to one
address, unique per pair), ``suppressed_addresses`` (permanent SMTP refusals), ``outbox.dead_at``
(given up after ``[mail] max_attempts``) and ``job_marks`` (when the moderators' digest last ran).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_marks")),
    )
    op.create_table(
        "suppressed_addresses",
        sa.Column("email", sa.String(length=255), nullable=False, comment="lower-case"),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_suppressed_addresses")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False, comment="lower-case"),
        sa.Column(
            "mode",
            sa.Enum(
                "replies",
                "thread",
                name="mode",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "comment_id",
            sa.Integer(),
            nullable=True,
            comment="replies: the comment whose replies are mailed",
        ),
        sa.Column(
            "via_comment_id",
            sa.Integer(),
            nullable=True,
            comment=(
                "the comment it was asked with: its confirmation waits for that comment's approval"
            ),
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column(
            "confirm_sent_at",
            sa.DateTime(),
            nullable=True,
            comment="when the confirmation mail was queued",
        ),
        sa.Column(
            "last_sent_at",
            sa.DateTime(),
            nullable=True,
            comment="the last notification: the next waits [notify] min_interval_minutes",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_subscriptions_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_subscriptions_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["via_comment_id"],
            ["comments.id"],
            name=op.f("fk_subscriptions_via_comment_id_comments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "thread_id",
            "email",
            "mode",
            "comment_id",
            name=op.f("uq_subscriptions_thread_id_email_mode_comment_id"),
        ),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_comment_id"), ["comment_id"])
        batch_op.create_index("ix_subscriptions_email", ["email"])
        batch_op.create_index(batch_op.f("ix_subscriptions_thread_id"), ["thread_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_deliveries_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_deliveries_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("comment_id", "email", name=op.f("uq_deliveries_comment_id_email")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_subscription_sent", ["subscription_id", "sent_at"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dead_at",
                sa.DateTime(),
                nullable=True,
                comment=(
                    "given up after [mail] max_attempts: a dead letter, retried only by an admin"
                ),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
    op.drop_table("suppressed_addresses")
    op.drop_table("job_marks")
