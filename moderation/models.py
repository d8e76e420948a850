"""Tables: columns, relationships and the invariants the database itself enforces. No workflows here;
state changes go through `moderation.services.moderation`, which applies `domain.states`."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.storage.db import Base, utcnow


def new_uid() -> str:
    """A comment's portable id: 32 hex digits, random."""
    return uuid.uuid4().hex


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column stored by value, with a CHECK constraint listing the values."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


class Role(enum.StrEnum):
    """What a moderator may do: admins also manage moderators, lists and sites."""

    admin = "admin"
    moderator = "moderator"


class Thread(Base):
    """The comments of one page, named by (site, uri)."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("site", "uri"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), comment="site id from the config")
    uri: Mapped[str] = mapped_column(String(1024), comment="page path below the site's url")
    title: Mapped[str] = mapped_column(String(512), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("false"))
    approved_count: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="maintained count of approved comments"
    )
    version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="bumped whenever the public thread changes"
    )
    likes: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="maintained count of page likes"
    )

    comments: Mapped[list[Comment]] = relationship(back_populates="thread", passive_deletes=True)


class Comment(Base):
    """Anything received for a thread: a reader's comment or a linkback."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(
            "(status = 'approved') = (approved_at IS NOT NULL)", name="approved_at_iff_approved"
        ),
        CheckConstraint(
            "(status = 'deleted') = (deleted_at IS NOT NULL)", name="deleted_at_iff_deleted"
        ),
        CheckConstraint("NOT discarded OR status IN ('spam', 'deleted')", name="discard_is_spam"),
        Index("ix_comments_thread_status_created", "thread_id", "status", "created_at"),
        # The queue's tabs: a page walks (status, id) backwards; the tab counts read only the index,
        # the spam tab's too, since it holds `discarded` (hidden discards are not counted).
        Index("ix_comments_status_id_discarded", "status", "id", "discarded"),
        Index("ix_comments_ip_created", "ip", "created_at"),
        Index("ix_comments_email_created", "email", "created_at"),
        # "previously approved" (first-time policy) looks up name + e-mail + approved on every
        # submission. With `status` in it, SQLite (which has no statistics) picks this index
        # instead of walking every approved comment through the status index.
        Index("ix_comments_email_author_status", "email", "author", "status"),
        # An imported row remembers where it came from, so running an import again adds nothing.
        # Partial (only imported rows are in it) and thread_id last: a reader's post never
        # touches it, and no lookup by thread alone picks it.
        Index(
            "uq_comments_import",
            "import_source",
            "import_id",
            "thread_id",
            unique=True,
            sqlite_where=sql_text("import_source IS NOT NULL"),
            postgresql_where=sql_text("import_source IS NOT NULL"),
        ),
        # The same text on other pages lately (`[spam] repeat_window_days`): one range of this
        # index per post, newest first. Short texts and linkbacks have "" and are never looked up.
        Index("ix_comments_fingerprint_created", "fingerprint", "created_at"),
        # The portable id is given at the first export (or kept from an import): posts skip it.
        Index(
            "uq_comments_uid",
            "uid",
            unique=True,
            sqlite_where=sql_text("uid IS NOT NULL"),
            postgresql_where=sql_text("uid IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[CommentKind] = mapped_column(_enum(CommentKind, "kind"))
    status: Mapped[CommentStatus] = mapped_column(_enum(CommentStatus, "status"))
    author: Mapped[str] = mapped_column(String(255), default="", server_default="")
    email: Mapped[str] = mapped_column(String(255), default="", server_default="")
    website: Mapped[str] = mapped_column(String(512), default="", server_default="")
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="", server_default="")
    referrer: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    text: Mapped[str] = mapped_column(Text, comment="raw Markdown as written")
    html: Mapped[str] = mapped_column(Text, comment="rendered and sanitized once, at write time")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    source: Mapped[str | None] = mapped_column(String(2048), comment="linkbacks: the citing page")
    verified: Mapped[bool | None] = mapped_column(Boolean, comment="linkbacks: source links here")
    discarded: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    recheck_reason: Mapped[str | None] = mapped_column(
        String(512), comment="why the spam check must run again (a scorer was unavailable)"
    )
    learned: Mapped[str | None] = mapped_column(
        String(8), comment="what the classifier was taught from this comment: spam, ham or null"
    )
    uid: Mapped[str | None] = mapped_column(
        String(32),
        comment="portable id, given at the first export or kept from an import: the same in every "
        "export and in every database the export is imported into",
    )
    import_source: Mapped[str | None] = mapped_column(
        String(16), comment="imported rows: the format first imported from (wordpress, disqus, ...)"
    )
    import_id: Mapped[str | None] = mapped_column(
        String(255), comment="imported rows: the comment's id in that source"
    )
    text_format: Mapped[str] = mapped_column(
        String(8),
        server_default="markdown",
        comment="what `text` is written in: markdown (ours, Isso) or html (imported from WordPress, ...)",
    )
    # Server defaults only: a reader's post (a prepared INSERT of its own columns) leaves them out.
    likes: Mapped[int] = mapped_column(Integer, server_default="0")
    dislikes: Mapped[int] = mapped_column(Integer, server_default="0")
    fingerprint: Mapped[str] = mapped_column(
        String(16),
        server_default="",
        comment="comments: 16 hex digits of the normalised text; empty for short texts, linkbacks "
        "and comments stored before revision 0015",
    )
    reader_id: Mapped[int | None] = mapped_column(
        ForeignKey("readers.id", ondelete="SET NULL"),
        index=True,
        comment="the signed-in reader who wrote it (null: anonymous, or a linkback)",
    )

    thread: Mapped[Thread] = relationship(back_populates="comments")
    checks: Mapped[list[SpamCheck]] = relationship(
        back_populates="comment", order_by="SpamCheck.id", passive_deletes=True
    )


class SpamCheck(Base):
    """One run of the scoring pipeline over a comment, with every signal and what scorers were sent."""

    __tablename__ = "spam_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
    score: Mapped[float] = mapped_column(Float)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    submitted: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="the submission as scored, for later feedback"
    )
    recheck_reason: Mapped[str | None] = mapped_column(String(512))

    comment: Mapped[Comment] = relationship(back_populates="checks")


class ModerationEvent(Base):
    """The audit trail: every status change, who made it, from what, to what, and why."""

    __tablename__ = "moderation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"), index=True
    )
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderators.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(255), comment="system, author, moderator:<e-mail>, …")
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[CommentStatus | None] = mapped_column(_enum(CommentStatus, "from_status"))
    to_status: Mapped[CommentStatus] = mapped_column(_enum(CommentStatus, "to_status"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Moderator(Base):
    """A person who signs into the dashboard."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), comment="argon2")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.moderator)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sql_text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    session_generation: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        comment="carried in signed sessions; bumped to end them all (logout, password, deactivation)",
    )


class ModeratorSite(Base):
    """A site a moderator may moderate. A moderator without rows moderates every site (admins
    always do): `moderation.services.accounts.sites_of`."""

    __tablename__ = "moderator_sites"

    moderator_id: Mapped[int] = mapped_column(
        ForeignKey("moderators.id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="site id from the config"
    )


class ApiToken(Base):
    """A bearer token for the moderation API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderators.id", ondelete="CASCADE"),
        comment="the moderator whose sites the token is scoped to (NULL: every site)",
    )


class ListKind(enum.StrEnum):
    """The moderation lists admins edit (WordPress's settings, plus blocks)."""

    moderation_key = "moderation_key"
    disallowed_key = "disallowed_key"
    blocked_ip = "blocked_ip"
    blocked_email = "blocked_email"
    blocked_domain = "blocked_domain"


class ListEntry(Base):
    """One entry of a moderation list; `site` NULL means every site."""

    __tablename__ = "list_entries"
    __table_args__ = (UniqueConstraint("kind", "value", "site"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ListKind] = mapped_column(_enum(ListKind, "list_kind"))
    value: Mapped[str] = mapped_column(String(255))
    site: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(255), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="", server_default="")


class ClassifierCount(Base):
    """What this installation's moderators taught the classifier, on top of the shipped base model.

    One row per feature (spam and ham counts); the row with the empty feature holds the totals.
    Every worker and node reads the same rows, so a decision teaches all of them at once.
    """

    __tablename__ = "classifier_counts"

    feature: Mapped[str] = mapped_column(String(255), primary_key=True)
    spam: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    ham: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


class ClassifierDecision(Base):
    """A site's reserve of recent moderator decisions, each with the classifier's spam probability
    just before it learned that decision: what the site's cut-offs are calibrated on.

    One row per comment (a reversed decision replaces it); only the newest rows of each site and
    label are kept.
    """

    __tablename__ = "classifier_decisions"
    __table_args__ = (Index("ix_classifier_decisions_site_label", "site", "is_spam", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), comment="site id from the config")
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"), unique=True
    )
    is_spam: Mapped[bool] = mapped_column(Boolean)
    probability: Mapped[float] = mapped_column(Float, comment="scored just before learning")
    decided_at: Mapped[datetime]
    step: Mapped[str | None] = mapped_column(
        Text, comment="the logistic step's weight changes (JSON), taken back on reversal"
    )


class ClassifierCutoff(Base):
    """A site's classifier cut-offs, calibrated from its reserve (no row: the shipped ones).

    Kept in the database so that every worker and node scores a site with the same cut-offs.
    """

    __tablename__ = "classifier_cutoffs"

    site: Mapped[str] = mapped_column(String(64), primary_key=True, comment="site id")
    unsure: Mapped[float] = mapped_column(Float)
    spam: Mapped[float] = mapped_column(Float)
    ham_decisions: Mapped[int] = mapped_column(Integer, comment="ham in the reserve")
    spam_decisions: Mapped[int] = mapped_column(Integer, comment="spam in the reserve")
    updated_at: Mapped[datetime]


class OutboxEntry(Base):
    """A side effect to carry out after the commit (Akismet feedback, a re-check, a mail).

    Written in the same transaction as the change that calls for it, so it is never lost: the job
    queue is only the fast path, and a periodic sweep picks up whatever the queue dropped.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "done_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None] = mapped_column(
        comment="given up after [mail] max_attempts: a dead letter, retried only by an admin"
    )


class UsedToken(Base):
    """A single-use token that was spent (the nonce of a moderator's one-click e-mail links).

    The primary key makes spending atomic: of two clicks racing on the same link, one INSERT wins.
    """

    __tablename__ = "used_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriptionMode(enum.StrEnum):
    """What a reader asked to hear about."""

    replies = "replies"  # replies to one comment (theirs)
    thread = "thread"  # every new comment on the page


class Subscription(Base):
    """A reader's wish to be mailed about new comments: replies to their comment, or a whole page.

    Nothing is mailed to it until it is confirmed (double opt-in), and a subscription asked for
    with a comment waits for that comment's approval before its confirmation mail goes out.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("thread_id", "email", "mode", "comment_id"),
        Index("ix_subscriptions_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(255), comment="lower-case")
    mode: Mapped[SubscriptionMode] = mapped_column(_enum(SubscriptionMode, "mode"))
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"),
        index=True,
        comment="replies: the comment whose replies are mailed",
    )
    via_comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"),
        comment="the comment it was asked with: its confirmation waits for that comment's approval",
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    confirm_sent_at: Mapped[datetime | None] = mapped_column(
        comment="when the confirmation mail was queued"
    )
    last_sent_at: Mapped[datetime | None] = mapped_column(
        comment="the last notification: the next waits [notify] min_interval_minutes"
    )

    thread: Mapped[Thread] = relationship()


class Delivery(Base):
    """One comment to mail to one address because of a subscription: waiting (sent_at null) or
    sent. Unique per (comment, address), so a comment is never mailed twice to anyone."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("comment_id", "email"),
        Index("ix_deliveries_subscription_sent", "subscription_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class SuppressedAddress(Base):
    """An address no mail goes to: its server refused mail permanently (SMTP 5xx). Admins see the
    list and may remove an address from it."""

    __tablename__ = "suppressed_addresses"

    email: Mapped[str] = mapped_column(String(255), primary_key=True, comment="lower-case")
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobMark(Base):
    """When a periodic job last ran (the moderators' digest), shared by every worker and node."""

    __tablename__ = "job_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class Vote(Base):
    """One reader's vote on one comment (+1 or -1), changeable; the comment keeps the counts.

    `reader` is a keyed hash of the opaque id the widget keeps (never the id itself); `ip` bounds
    ballot stuffing (``[guard] votes_per_ip_per_day``) and is blanked with the other client data.
    """

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("comment_id", "reader"),
        CheckConstraint("value IN (-1, 1)", name="value_is_up_or_down"),
        Index("ix_votes_comment_ip_created", "comment_id", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    reader: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PageLike(Base):
    """One reader's like of a page ("Like this"); the thread keeps the count."""

    __tablename__ = "page_likes"
    __table_args__ = (UniqueConstraint("thread_id", "reader"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    reader: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reader(Base):
    """A reader who signed in with an outside identity (OpenID Connect, GitHub, an e-mail link).

    No password is ever kept: the provider vouches for the reader. ``revoked_generation`` is in
    every reader token; signing out bumps it, so every token handed out before dies at once.
    """

    __tablename__ = "readers"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), comment="the [auth.providers.<id>] id")
    subject: Mapped[str] = mapped_column(String(255), comment="the provider's stable user id")
    name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    email: Mapped[str] = mapped_column(String(255), default="", server_default="")
    email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    avatar: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    profile: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("false"))


# The search index of migration 0012, which is no model: on SQLite the FTS5 table over the comments
# and the shadow tables FTS5 keeps, on PostgreSQL a GIN trigram index over an expression. Schema
# comparisons (Alembic's autogenerate, tests/migrations) leave these names out.
SEARCH_INDEX_NAMES = frozenset(
    {
        "comments_fts",
        "comments_fts_config",
        "comments_fts_data",
        "comments_fts_docsize",
        "comments_fts_idx",
        "ix_comments_search_trgm",
    }
)


def outside_models(name: str | None, type_: str, _parents: object = None) -> bool:
    """Alembic ``include_name`` hook: False for the search index's tables and index."""
    return name not in SEARCH_INDEX_NAMES or type_ not in ("table", "index")
