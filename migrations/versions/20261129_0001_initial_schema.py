"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 17:41:06.524265
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False, comment="argon2"),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "moderator",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderators")),
        sa.UniqueConstraint("email", name=op.f("uq_moderators_email")),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False, comment="site id from the config"),
        sa.Column(
            "uri", sa.String(length=1024), nullable=False, comment="page path below the site's url"
        ),
        sa.Column("title", sa.String(length=512), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column(
            "approved_count",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="maintained count of approved comments",
        ),
        sa.Column(
            "version",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="bumped whenever the public thread changes",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
        sa.UniqueConstraint("site", "uri", name=op.f("uq_threads_site_uri")),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "comment",
                "trackback",
                "pingback",
                "webmention",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "spam",
                "deleted",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("author", sa.String(length=255), server_default="", nullable=False),
        sa.Column("email", sa.String(length=255), server_default="", nullable=False),
        sa.Column("website", sa.String(length=512), server_default="", nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("user_agent", sa.String(length=512), server_default="", nullable=False),
        sa.Column("referrer", sa.String(length=1024), server_default="", nullable=False),
        sa.Column("text", sa.Text(), nullable=False, comment="raw Markdown as written"),
        sa.Column(
            "html", sa.Text(), nullable=False, comment="rendered and sanitized once, at write time"
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column(
            "source", sa.String(length=2048), nullable=True, comment="linkbacks: the citing page"
        ),
        sa.Column("verified", sa.Boolean(), nullable=True, comment="linkbacks: source links here"),
        sa.Column("discarded", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column(
            "recheck_reason",
            sa.String(length=512),
            nullable=True,
            comment="why the spam check must run again (a scorer was unavailable)",
        ),
        sa.CheckConstraint(
            "(status = 'approved') = (approved_at IS NOT NULL)",
            name=op.f("ck_comments_approved_at_iff_approved"),
        ),
        sa.CheckConstraint(
            "(status = 'deleted') = (deleted_at IS NOT NULL)",
            name=op.f("ck_comments_deleted_at_iff_deleted"),
        ),
        sa.CheckConstraint(
            "NOT discarded OR status IN ('spam', 'deleted')",
            name=op.f("ck_comments_discard_is_spam"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_comments_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_email_created", ["email", "created_at"], unique=False)
        batch_op.create_index("ix_comments_ip_created", ["ip", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_comments_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_comments_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_comments_thread_status_created", ["thread_id", "status", "created_at"], unique=False
        )

    op.create_table(
        "moderation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        sa.Column(
            "actor",
            sa.String(length=255),
            nullable=False,
            comment="system, author, moderator:<e-mail>, …",
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "pending",
                "approved",
                "spam",
                "deleted",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "pending",
                "approved",
                "spam",
                "deleted",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_moderation_events_comment_id_comments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_moderation_events_moderator_id_moderators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_events")),
    )
    with op.batch_alter_table("moderation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_moderation_events_comment_id"), ["comment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_events_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_events_moderator_id"), ["moderator_id"], unique=False
        )

    op.create_table(
        "spam_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "verdict",
            sa.Enum(
                "ham",
                "unsure",
                "spam",
                "discard",
                name="verdict",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column(
            "submitted",
            sa.JSON(),
            nullable=False,
            comment="the submission as scored, for later feedback",
        ),
        sa.Column("recheck_reason", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_spam_checks_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spam_checks")),
    )
    with op.batch_alter_table("spam_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spam_checks_comment_id"), ["comment_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("spam_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spam_checks_comment_id"))

    op.drop_table("spam_checks")
    with op.batch_alter_table("moderation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderation_events_moderator_id"))
        batch_op.drop_index(batch_op.f("ix_moderation_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_moderation_events_comment_id"))

    op.drop_table("moderation_events")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_thread_status_created")
        batch_op.drop_index("ix_comments_status_id")
        batch_op.drop_index(batch_op.f("ix_comments_parent_id"))
        batch_op.drop_index("ix_comments_ip_created")
        batch_op.drop_index("ix_comments_email_created")

    op.drop_table("comments")
    op.drop_table("threads")
    op.drop_table("moderators")
    op.drop_table("api_tokens")
