from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event, inspect, select

from moderation.domain.scoring import Verdict
from moderation.domain.states import Action, CommentStatus
from moderation.errors import (
    Duplicate,
    InvalidInput,
    InvalidTransition,
    NotFound,
    RateLimited,
    ThreadClosed,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import Comment, ModerationEvent, SpamCheck, Thread
from moderation.services import comments, threads
from moderation.services.moderation import SYSTEM, apply_action
from moderation.services.tokens import AUTHOR_EDIT
from tests.conftest import make_settings
from tests.factories import FixedScorer, LockWatchingScorer, make_comment, make_thread
from tests.services import helpers

CLIENT = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0", referrer="https://x/")


def new(**kw):
    base = {
        "site": "blog",
        "uri": "/post/",
        "text": "Nice post.",
        "author": "Ann",
        "email": "ann@example.org",
    }
    base.update(kw)
    return comments.NewComment(**base)


def with_policy(ctx, tmp_path, policy, **more):
    return replace(
        ctx, settings=make_settings(tmp_path, **{"sites.blog.moderation": policy, **more})
    )


def send(session, database, ctx, client=CLIENT, **kw):
    """Post a comment now (prepare, then store in one write); the stored row, in `session`."""
    session.flush()  # what the test changed through `session` is committed first
    return helpers.stored(session, helpers.submit(database, ctx, new(**kw), client))


def submit(session, database, ctx, clock, client=CLIENT, **kw):
    clock.advance(60)  # past the flood gap
    return send(session, database, ctx, client, **kw)


def token(ctx, comment):
    return comments.edit_token(ctx, comment)


def test_submit_comment_policy_none_publishes_ham(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    assert comment.status is CommentStatus.approved
    thread = session.scalars(select(Thread)).one()
    assert (thread.approved_count, thread.version) == (1, 1)


def test_submit_comment_stores_check_and_audit_row(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    check = session.scalars(select(SpamCheck)).one()
    assert check.verdict is Verdict.ham
    assert check.submitted["ip"] == "203.0.113.5"
    assert check.submitted["permalink"] == "https://blog.example.org/post/"
    event = session.scalars(select(ModerationEvent)).one()
    assert (event.comment_id, event.from_status, event.to_status) == (
        comment.id,
        None,
        CommentStatus.approved,
    )
    assert event.actor == "system"


def test_store_comment_returns_the_comment_in_no_session(session, database, ctx, clock):
    """What the web layer reads after the write's commit: the comment as stored, in no session."""
    submit(session, database, ctx, clock)
    clock.advance(60)
    left = helpers.submit(database, ctx, new(text="Second."), CLIENT)

    assert left not in session
    assert inspect(left).transient
    assert left.status is CommentStatus.approved  # published
    assert ctx.tokens.load(AUTHOR_EDIT, comments.edit_token(ctx, left)) == {"id": left.id}
    stored = session.get(Comment, left.id)
    assert stored is not None
    assert stored is not left
    assert (stored.text, stored.status, stored.created_at) == (
        "Second.",
        CommentStatus.approved,
        left.created_at,
    )


def test_submit_comment_policy_all_holds_everything(session, database, ctx, clock, tmp_path):
    ctx = with_policy(ctx, tmp_path, "all")
    assert submit(session, database, ctx, clock).status is CommentStatus.pending


def test_submit_comment_first_time_author_waits_then_is_trusted(
    session, database, ctx, clock, tmp_path
):
    ctx = with_policy(ctx, tmp_path, "first-time")
    first = submit(session, database, ctx, clock)
    assert first.status is CommentStatus.pending
    apply_action(session, ctx, first, Action.approve, SYSTEM)
    second = submit(session, database, ctx, clock, text="Another thought.")
    assert second.status is CommentStatus.approved
    other = submit(session, database, ctx, clock, text="Hi", author="Bob", email="bob@example.org")
    assert other.status is CommentStatus.pending


def test_submit_comment_first_time_needs_same_name_and_email(
    session, database, ctx, clock, tmp_path
):
    ctx = with_policy(ctx, tmp_path, "first-time")
    first = submit(session, database, ctx, clock)
    apply_action(session, ctx, first, Action.approve, SYSTEM)
    forged = submit(session, database, ctx, clock, text="x", email="other@example.org")
    assert forged.status is CommentStatus.pending


def test_submit_comment_spam_verdict_is_stored_as_spam_and_not_published(
    session, database, ctx, clock
):
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.spam, 9.0)])
    comment = submit(session, database, ctx, clock)
    assert comment.status is CommentStatus.spam  # not published
    assert threads.public_thread(session, ctx, "blog", "/post/")["thread"]["count"] == 0


def test_submit_comment_discard_is_spam_marked_discarded(session, database, ctx, clock):
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.discard)])
    comment = submit(session, database, ctx, clock)
    assert (comment.status, comment.discarded) == (CommentStatus.spam, True)


def test_submit_comment_unsure_waits_even_with_policy_none(session, database, ctx, clock):
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.unsure)])
    assert submit(session, database, ctx, clock).status is CommentStatus.pending


def test_submit_comment_duplicate_same_parent_is_refused(session, database, ctx, clock):
    submit(session, database, ctx, clock)
    with pytest.raises(Duplicate):
        submit(session, database, ctx, clock)


def test_submit_comment_duplicate_check_ignores_email_case(session, database, ctx, clock):
    submit(session, database, ctx, clock)
    with pytest.raises(Duplicate):
        submit(session, database, ctx, clock, email="ANN@example.org")


def test_submit_comment_same_text_other_parent_is_allowed(session, database, ctx, clock):
    first = submit(session, database, ctx, clock)
    reply = submit(session, database, ctx, clock, parent=first.id)
    assert reply.parent_id == first.id


def test_submit_comment_flood_14_seconds_refused_15_allowed(session, database, ctx, clock):
    submit(session, database, ctx, clock)
    clock.advance(14)
    with pytest.raises(RateLimited) as info:
        send(session, database, ctx, text="second")
    assert info.value.retry_after == 1
    clock.advance(1)
    send(session, database, ctx, text="third")


def test_submit_comment_flood_keyed_by_email_across_ips(session, database, ctx, clock):
    submit(session, database, ctx, clock)
    other_ip = comments.ClientInfo(ip="198.51.100.1")
    with pytest.raises(RateLimited):
        send(session, database, ctx, other_ip, text="again")


def test_submit_comment_thread_closed_flag_refuses(session, database, ctx, clock):
    make_thread(session, closed=True)
    with pytest.raises(ThreadClosed):
        submit(session, database, ctx, clock)


def test_submit_comment_thread_closed_after_configured_age(session, database, ctx, clock, tmp_path):
    ctx = with_policy(ctx, tmp_path, "none", **{"sites.blog.close_after_days": 14})
    submit(session, database, ctx, clock)
    clock.advance(13 * 86400)
    submit(session, database, ctx, clock, text="still open")
    clock.advance(2 * 86400)
    with pytest.raises(ThreadClosed):
        submit(session, database, ctx, clock, text="too late")
    assert threads.public_thread(session, ctx, "blog", "/post/")["thread"]["open"] is False


@pytest.mark.parametrize(
    "status", [CommentStatus.pending, CommentStatus.spam, CommentStatus.deleted]
)
def test_submit_comment_reply_to_hidden_comment_is_refused(session, database, ctx, clock, status):
    thread = make_thread(session)
    hidden = make_comment(session, thread, status=status)
    with pytest.raises(InvalidInput) as info:
        submit(session, database, ctx, clock, parent=hidden.id)
    assert "parent" in info.value.fields


def test_submit_comment_reply_to_other_thread_is_refused(session, database, ctx, clock):
    elsewhere = make_comment(session, make_thread(session, uri="/other/"))
    with pytest.raises(InvalidInput):
        submit(session, database, ctx, clock, parent=elsewhere.id)


def test_submit_comment_unknown_site_is_invalid(session, database, ctx, clock):
    with pytest.raises(InvalidInput):
        submit(session, database, ctx, clock, site="nope")


def test_submit_comment_sets_thread_title_once(session, database, ctx, clock):
    submit(session, database, ctx, clock, title="First title")
    submit(session, database, ctx, clock, title="Second title", text="more")
    assert session.scalars(select(Thread)).one().title == "First title"


def test_submit_comment_gives_an_untitled_thread_its_title(session, database, ctx, clock):
    make_thread(session, title="")  # as a linkback leaves it
    submit(session, database, ctx, clock, title="Now titled")
    session.expire_all()
    assert session.scalars(select(Thread)).one().title == "Now titled"


def test_edit_own_comment_within_window_changes_text_and_html(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    clock.advance(899)
    edited = helpers.edit(database, ctx, comment.id, token(ctx, comment), "**New**")
    assert edited.html == "<p><strong>New</strong></p>"
    assert edited.modified_at == clock.now


def test_edit_own_comment_after_window_is_refused_never_sliding(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    clock.advance(600)
    helpers.edit(database, ctx, comment.id, token(ctx, comment), "edit 1")
    clock.advance(301)  # 901 s after creation, though only 301 s after the last edit
    with pytest.raises(TokenExpired):
        helpers.edit(database, ctx, comment.id, token(ctx, comment), "edit 2")


def test_edit_own_comment_token_of_another_comment_is_refused(session, database, ctx, clock):
    first = submit(session, database, ctx, clock)
    second = submit(session, database, ctx, clock, text="other")
    with pytest.raises(TokenInvalid):
        helpers.edit(database, ctx, second.id, token(ctx, first), "hijack")


def test_edit_own_comment_rescored_spammy_edit_goes_back_to_queue(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    ctx = replace(ctx, scorers=[FixedScorer(Verdict.unsure)])
    edited = helpers.edit(database, ctx, comment.id, token(ctx, comment), "buy")
    assert edited.status is CommentStatus.pending
    assert len(session.scalars(select(SpamCheck)).all()) == 2


@pytest.mark.parametrize(
    ("policy", "email", "held"),
    [
        ("none", "", False),
        ("all", "ann@example.org", True),
        ("first-time", "", True),  # no e-mail: never "previously approved"
        ("first-time", "ann@example.org", True),  # its own approval does not vouch for an edit
    ],
)
def test_edit_of_approved_comment_is_judged_by_the_sites_policy(
    session, database, ctx, clock, tmp_path, policy, email, held
):
    ctx = with_policy(ctx, tmp_path, policy)
    comment = submit(session, database, ctx, clock, email=email)
    if comment.status is not CommentStatus.approved:
        helpers.write(
            database,
            lambda tx: apply_action(tx, ctx, tx.get(Comment, comment.id), Action.approve, SYSTEM),
        )
    edited = helpers.edit(database, ctx, comment.id, token(ctx, comment), "changed")
    assert (edited.status is CommentStatus.pending) is held
    hold = session.scalars(
        select(ModerationEvent).where(
            ModerationEvent.comment_id == comment.id, ModerationEvent.action == "hold"
        )
    ).all()
    assert [e.reason for e in hold] == (
        [
            "edited: "
            + (
                "site moderates every comment"
                if policy == "all"
                else "first comment of this author"
            )
        ]
        if held
        else []
    )


def test_edits_past_max_edits_are_refused_and_store_nothing(
    session, database, ctx, clock, tmp_path
):
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"comments.max_edits": 2}))
    comment = submit(session, database, ctx, clock)
    for n in range(2):
        helpers.edit(database, ctx, comment.id, token(ctx, comment), f"edit {n}")
    assert comments.count_edits(session, comment.id) == 2
    with pytest.raises(comments.EditLimitReached):
        helpers.edit(database, ctx, comment.id, token(ctx, comment), "one too many")
    assert len(session.scalars(select(SpamCheck)).all()) == 3


def test_an_edit_prepared_before_the_cap_was_reached_is_refused_under_the_write(
    session, database, ctx, clock, tmp_path
):
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"comments.max_edits": 1}))
    comment = submit(session, database, ctx, clock)
    with database.read() as read:
        late = comments.prepare_edit(read, ctx, comment.id, token(ctx, comment), "racing")
    helpers.edit(database, ctx, comment.id, token(ctx, comment), "first")
    with pytest.raises(comments.EditLimitReached), database.write() as tx:
        comments.store_edit(tx, ctx, late)
    assert helpers.stored(session, comment).text == "first"


def test_delete_own_comment_with_replies_leaves_placeholder(session, database, ctx, clock):
    parent = submit(session, database, ctx, clock)
    reply = submit(
        session,
        database,
        ctx,
        clock,
        parent=parent.id,
        text="reply",
        author="Bob",
        email="bob@example.org",
    )
    helpers.write(database, comments.delete_own_comment, ctx, parent.id, token(ctx, parent))
    session.expire_all()
    tree = threads.public_thread(session, ctx, "blog", "/post/")
    assert tree["thread"]["count"] == 1
    (root,) = tree["comments"]
    assert root["deleted"] is True
    assert root["html"] == ""
    assert root["author"] is None
    assert [r["id"] for r in root["replies"]] == [reply.id]


def test_delete_own_comment_twice_is_not_found(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    helpers.write(database, comments.delete_own_comment, ctx, comment.id, token(ctx, comment))
    with pytest.raises(NotFound):
        helpers.write(database, comments.delete_own_comment, ctx, comment.id, token(ctx, comment))


def test_public_thread_is_a_tree_oldest_first_without_private_fields(session, database, ctx, clock):
    a = submit(session, database, ctx, clock, text="a")
    b = submit(session, database, ctx, clock, text="b", author="B", email="b@example.org")
    a1 = submit(session, database, ctx, clock, text="a1", parent=a.id, author="C", email="c@e.org")
    a1x = submit(
        session, database, ctx, clock, text="a1x", parent=a1.id, author="D", email="d@e.org"
    )
    data = threads.public_thread(session, ctx, "blog", "/post/")
    assert [c["id"] for c in data["comments"]] == [a.id, b.id]
    assert data["comments"][0]["replies"][0]["replies"][0]["id"] == a1x.id
    flat = repr(data)
    for secret in ("ann@example.org", "203.0.113.5", "Mozilla"):
        assert secret not in flat


def test_public_thread_unknown_page_is_empty(session, ctx):
    data = threads.public_thread(session, ctx, "blog", "/nothing/")
    assert data == {
        "thread": {
            "uri": "/nothing/",
            "title": "",
            "count": 0,
            "likes": 0,
            "page_likes": False,
            "open": True,
            "version": 0,
            "trackback_url": "https://comments.example.org/trackback/blog/nothing/",
        },
        "comments": [],
    }


def test_counts_many_pages_in_one_query(session, database, ctx, clock):
    submit(session, database, ctx, clock, uri="/a/")
    submit(session, database, ctx, clock, uri="/a/", text="again")
    submit(session, database, ctx, clock, uri="/b/")
    assert threads.counts(session, ctx, "blog", ["/a/", "/b/", "/c/"]) == {
        "/a/": 2,
        "/b/": 1,
        "/c/": 0,
    }


def test_apply_action_keeps_count_version_and_audit(session, database, ctx, clock):
    comment = submit(session, database, ctx, clock)
    thread = comment.thread
    apply_action(session, ctx, comment, Action.spam, SYSTEM, "oops")
    assert (thread.approved_count, thread.version) == (0, 2)
    apply_action(session, ctx, comment, Action.ham, SYSTEM)
    assert (thread.approved_count, thread.version) == (1, 3)
    events = session.scalars(select(ModerationEvent).order_by(ModerationEvent.id)).all()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", None, CommentStatus.approved),
        ("spam", CommentStatus.approved, CommentStatus.spam),
        ("ham", CommentStatus.spam, CommentStatus.approved),
    ]
    assert comment.approved_at is not None


def test_apply_action_stale_status_is_refused_once(session, database, ctx, clock):
    """Two moderators act on the same comment at once: the second one's compare-and-set fails."""
    comment = submit(session, database, ctx, clock)
    # Simulate the other moderator: change the status behind this session's back.
    session.execute(
        Comment.__table__.update()
        .where(Comment.id == comment.id)
        .values(status="spam", approved_at=None)
    )
    with pytest.raises(InvalidTransition):
        apply_action(session, ctx, comment, Action.spam, SYSTEM)
    events = session.scalars(select(ModerationEvent).where(ModerationEvent.action == "spam")).all()
    assert events == []


def _seed_for_the_planner(conn) -> None:
    thread_ids = [
        conn.execute(
            sa.text(
                "INSERT INTO threads (site, uri, title, created_at, closed, approved_count,"
                " version, likes) VALUES ('blog', :uri, '', now(), false, 0, 0, 0) RETURNING id"
            ),
            {"uri": f"/seed-{n}/"},
        ).scalar_one()
        for n in range(50)
    ]
    rows = [
        {
            "thread": thread_ids[n % 50],
            "status": ("approved", "pending", "spam")[n % 3],
            "author": f"Reader {n % 700}",
            "email": f"reader{n % 700}@example.org",
            "ip": f"198.51.{n % 200}.{n % 97}",
            "uid": f"{n:032x}",
            "approved": datetime(2026, 1, 1) if n % 3 == 0 else None,
        }
        for n in range(3000)
    ]
    conn.execute(
        sa.text(
            "INSERT INTO comments (thread_id, kind, status, author, email, website, ip,"
            " user_agent, referrer, text, html, created_at, approved_at, discarded, uid,"
            " text_format, likes, dislikes) VALUES (:thread, 'comment', :status, :author,"
            " :email, '', :ip, '', '', 'seed', '<p>seed</p>', now() - interval '30 days',"
            " :approved, false, :uid, 'markdown', 0, 0)"
        ),
        rows,
    )
    conn.exec_driver_sql("ANALYZE comments")
    conn.exec_driver_sql("ANALYZE threads")


LOOKUP_PARAMS = {
    "author": "Ann",
    "email": "ann@example.org",
    "text": "Hi",
    "thread": 1,
    "parent": 1,
    "ip": "192.0.2.1",
    "since": datetime(2026, 1, 1, tzinfo=UTC),
    "site": "blog",
    "uri": "/post/",
    "fingerprint": "0123456789abcdef",
}


@pytest.mark.parametrize(
    ("query", "indexes"),
    [
        (comments._TRUSTED, ["ix_comments_email_author_status"]),
        (comments._duplicate_query(False, True), ["ix_comments_email_author_status"]),
        (comments._duplicate_query(True, True), ["ix_comments_parent_id", "email_author_status"]),
        (comments._flood_query(True, True), ["ix_comments_ip_created"]),
        (comments._THREAD_TO_POST, ["uq_threads_site_uri", "sqlite_autoindex_threads_1"]),
        (comments._REPEATS, ["ix_comments_fingerprint_created"]),
    ],
)
def test_every_lookup_of_a_submission_uses_its_index(session, query, indexes):
    """Each post runs these; a walk of the status index instead (SQLite has no statistics to tell
    it better) would grow with the table."""
    conn, sent, query = session.connection(), [], query.statement
    record = lambda *args: sent.append(args[2:4])  # noqa: E731  (statement, parameters)
    event.listen(conn.engine, "before_cursor_execute", record)
    try:
        conn.execute(query, {k: v for k, v in LOOKUP_PARAMS.items() if k in query.compile().params})
    finally:
        event.remove(conn.engine, "before_cursor_execute", record)
    (sql, params), explain = sent[-1], "EXPLAIN"
    if conn.dialect.name == "sqlite":
        explain = "EXPLAIN QUERY PLAN"
    else:
        # PostgreSQL plans by statistics: on an empty table its guesses are arbitrary (and move
        # with the row width), so give it a table like a blog's and fresh statistics.
        _seed_for_the_planner(conn)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = " ".join(str(row) for row in conn.exec_driver_sql(f"{explain} {sql}", params))
    assert any(index in plan for index in indexes), plan
    assert "status_id" not in plan
    assert "SCAN comments" not in plan
    assert "Seq Scan" not in plan


def test_a_post_and_an_edit_are_scored_with_no_write_lock_held(session, database, ctx, clock):
    """Scorers may call Akismet, which may hang for its whole timeout: never under the lock."""
    watcher = LockWatchingScorer(database)
    ctx = replace(ctx, scorers=(*ctx.scorers, watcher))
    comment = submit(session, database, ctx, clock)
    helpers.edit(database, ctx, comment.id, comments.edit_token(ctx, comment), "Second thoughts")
    assert watcher.held == [False, False]
    with database.write():  # (the watcher does see a write when there is one)
        watcher.score(None)
    assert watcher.held == [False, False, True]


def test_edit_on_first_time_site_publishes_for_an_author_with_another_approved_comment(
    session, database, ctx, clock, tmp_path
):
    ctx = with_policy(ctx, tmp_path, "first-time")
    first, second = (submit(session, database, ctx, clock, text=t) for t in ("one", "two"))
    for comment in (first, second):
        helpers.write(
            database,
            lambda tx, c=comment: apply_action(
                tx, ctx, tx.get(Comment, c.id), Action.approve, SYSTEM
            ),
        )
    edited = helpers.edit(database, ctx, second.id, token(ctx, second), "two, changed")
    assert edited.status is CommentStatus.approved  # "one" vouches for Ann
