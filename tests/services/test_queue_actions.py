"""The moderation queue's actions on SQLite and PostgreSQL: author history, the audit log, bulk and
select-all actions, undo, edit, spam-and-block, the lists."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from sqlalchemy import select

from moderation.domain.states import TRANSITIONS, Action, CommentKind, CommentStatus
from moderation.errors import InvalidInput, InvalidTransition, NotFound
from moderation.models import Comment, ListEntry, ListKind, ModerationEvent, Moderator, Role
from moderation.services import lists as list_service
from moderation.services import queue as q
from moderation.services import queue_filters as qf
from moderation.services.comments import author_trusted
from moderation.services.moderation import Actor
from tests.factories import make_comment, make_thread
from tests.services.queue_helpers import S, ids, pending


def make_actor(session, email):
    moderator = Moderator(email=email, password_hash="x", role=Role.moderator)
    session.add(moderator)
    session.flush()
    return Actor.moderator(moderator.id, email)


@pytest.fixture
def actor(session):
    return make_actor(session, "mod@example.org")


@pytest.fixture
def admin_actor(session):
    """Spam and block changes the lists: an admin's (`lists.require_list_editor`)."""
    moderator = Moderator(email="admin@example.org", password_hash="x", role=Role.admin)
    session.add(moderator)
    session.flush()
    return Actor.moderator(moderator.id, moderator.email)


@pytest.fixture
def other(session):
    return make_actor(session, "other@example.org")


def events(session, comment):
    query = select(ModerationEvent).where(ModerationEvent.comment_id == comment.id)
    return list(session.scalars(query.order_by(ModerationEvent.id)))


# --- one comment -----------------------------------------------------------------------------------


def test_author_history_by_email_and_ip_excludes_the_comment_itself(session, clock):
    thread = make_thread(session)
    comment = pending(session, thread, email="a@example.org", ip="192.0.2.1")
    same_email = make_comment(session, thread, status=S.spam, email="a@example.org", ip="x")
    same_ip = make_comment(session, thread, email="b@example.org", ip="192.0.2.1")
    pending(session, thread, email="c@example.org", ip="192.0.2.2")
    history = q.author_history(session, comment)
    assert [c.id for c in history.by_email] == [same_email.id]
    assert [c.id for c in history.by_ip] == [same_ip.id]
    anonymous = pending(session, thread, email="", ip="")
    assert q.author_history(session, anonymous) == q.AuthorHistory([], [])


def test_audit_log_filters_and_pages_newest_first(session, ctx, actor, other):
    thread = make_thread(session)
    one, two = pending(session, thread), pending(session, thread)
    q.act_on(session, ctx, one.id, Action.approve, actor)
    q.act_on(session, ctx, two.id, Action.spam, other)
    q.act_on(session, ctx, one.id, Action.hold, actor)
    page = q.audit_log(session, limit=2)
    assert [e.action for e in page.events] == ["hold", "spam"]
    rest = q.audit_log(session, limit=2, cursor=page.next)
    assert [e.action for e in rest.events] == ["approve"]
    assert rest.next is None
    assert [e.action for e in q.audit_log(session, comment_id=one.id).events] == ["hold", "approve"]
    assert [e.action for e in q.audit_log(session, moderator_id=other.moderator_id).events] == [
        "spam"
    ]


# --- actions ---------------------------------------------------------------------------------------


def test_act_on_many_skips_and_counts_what_does_not_apply(session, ctx, actor):
    thread = make_thread(session)
    waiting = pending(session, thread)
    approved = make_comment(session, thread)
    batch = q.act_on_many(session, ctx, [waiting.id, approved.id, 999_999], Action.approve, actor)
    assert (batch.done, batch.skipped, len(batch.events)) == (1, 2, 1)
    assert waiting.status is S.approved
    assert events(session, waiting)[-1].actor == "moderator:mod@example.org"


def test_act_on_one_raises_when_the_action_does_not_apply(session, ctx, actor):
    thread = make_thread(session)
    approved = make_comment(session, thread)
    with pytest.raises(InvalidTransition):
        q.act_on(session, ctx, approved.id, Action.approve, actor)
    with pytest.raises(NotFound):
        q.act_on(session, ctx, 999_999, Action.approve, actor)


def test_act_on_matching_works_through_every_match_in_batches(session, ctx, monkeypatch, actor):
    monkeypatch.setattr(q, "BATCH", 3)
    thread = make_thread(session)
    hits = [pending(session, thread, text=f"buy pills {i}").id for i in range(7)]
    pending(session, thread, text="a real comment")
    upto = q.newest_id(session)
    late = pending(session, thread, text="buy pills later")  # arrived after the page was shown
    f = qf.QueueFilter(q="pills")
    batch = q.act_on_matching(session, ctx, f, Action.spam, actor, upto=upto)
    assert (batch.done, batch.skipped, batch.remaining) == (7, 0, 0)
    session.expire_all()
    assert ids(q.list_queue(session, qf.QueueFilter(S.spam))) == sorted(hits, reverse=True)
    assert ids(q.list_queue(session, f)) == [late.id]


def test_act_on_matching_keeps_what_the_transition_hooks_changed(session, ctx, monkeypatch, actor):
    monkeypatch.setattr(q, "BATCH", 2)

    def hook(session, ctx, comment, event):
        comment.learned = "spam"  # as the classifier hook does, without a flush

    ctx = replace(ctx, transition_hooks=(*ctx.transition_hooks, hook))
    thread = make_thread(session)
    made = [pending(session, thread).id for _ in range(3)]
    q.act_on_matching(session, ctx, qf.QueueFilter(), Action.spam, actor, upto=q.newest_id(session))
    session.expire_all()
    learned = session.scalars(select(Comment.learned).where(Comment.id.in_(made))).all()
    assert learned == ["spam"] * 3


def test_act_on_matching_stops_at_its_limit_and_reports_the_rest(session, ctx, monkeypatch, actor):
    monkeypatch.setattr(q, "BATCH", 2)
    thread = make_thread(session)
    for _ in range(5):
        pending(session, thread)
    f = qf.QueueFilter()
    batch = q.act_on_matching(
        session, ctx, f, Action.delete, actor, upto=q.newest_id(session), limit=3
    )
    assert (batch.done, batch.remaining) == (3, 2)


def test_reverse_actions_lead_back_between_every_pair_of_statuses():
    for current, target in itertools.permutations(CommentStatus, 2):
        status = current
        for action in q.reverse_actions(current, target):
            status = TRANSITIONS[(status, action)]
        assert status is target, (current, target)
    assert q.reverse_actions(S.spam, S.approved) == [Action.ham]
    assert q.reverse_actions(S.deleted, S.approved) == [Action.restore, Action.approve]
    assert q.reverse_actions(S.pending, S.pending) == []


def test_undo_reverses_a_batch_through_the_state_machine_and_is_audited(session, ctx, actor):
    thread = make_thread(session)
    a, b = pending(session, thread), make_comment(session, thread)
    first = q.act_on_many(session, ctx, [a.id, b.id], Action.delete, actor)
    undone = q.undo(
        session, ctx, q.events_between(session, min(first.events), max(first.events), actor), actor
    )
    assert (undone.done, undone.skipped) == (2, 0)
    assert (a.status, b.status) == (S.pending, S.approved)
    assert [(e.action, e.reason) for e in events(session, b)][-2:] == [
        ("restore", "undo"),
        ("approve", "undo"),
    ]
    again = q.undo(session, ctx, undone.events, actor)  # undoing the undo redoes
    assert again.done == 2
    assert (a.status, b.status) == (S.deleted, S.deleted)


def test_undo_skips_a_comment_that_moved_on(session, ctx, actor, other):
    thread = make_thread(session)
    a = pending(session, thread)
    batch = q.act_on(session, ctx, a.id, Action.approve, actor)
    q.act_on(session, ctx, a.id, Action.spam, other)
    undone = q.undo(session, ctx, batch.events, actor)
    assert (undone.done, undone.skipped) == (0, 1)
    assert a.status is S.spam


def test_events_between_keeps_only_the_actors_rows(session, ctx, actor, other):
    thread = make_thread(session)
    a, b = pending(session, thread), pending(session, thread)
    mine = q.act_on(session, ctx, a.id, Action.approve, actor).events[0]
    q.act_on(session, ctx, b.id, Action.approve, other)
    last = q.act_on(session, ctx, a.id, Action.hold, actor).events[0]
    assert q.events_between(session, mine, last, actor) == [mine, last]


def test_edit_rerenders_bumps_the_thread_and_audits(session, ctx, clock, actor):
    thread = make_thread(session)
    comment = pending(session, thread, text="old")
    version = thread.version
    event = q.edit_comment(session, ctx, comment.id, " **new** ", actor)
    session.refresh(thread)
    assert (comment.text, comment.html) == ("**new**", "<p><strong>new</strong></p>")
    assert comment.modified_at == clock.now
    assert thread.version == version + 1
    assert (event.action, event.from_status, event.to_status) == ("edit", S.pending, S.pending)
    assert q.edit_comment(session, ctx, comment.id, "**new**", actor) is None
    with pytest.raises(InvalidInput) as err:
        q.edit_comment(session, ctx, comment.id, "   ", actor)
    assert "text" in err.value.fields


@pytest.mark.parametrize(
    ("block", "kind", "value"),
    [
        ("ip", ListKind.blocked_ip, "203.0.113.5"),
        ("email", ListKind.blocked_email, "spam@x.example"),
        ("domain", ListKind.blocked_domain, "pills.example"),
    ],
)
def test_spam_and_block_adds_the_entry_then_marks_spam(
    session, ctx, block, kind, value, admin_actor
):
    thread = make_thread(session)
    comment = pending(
        session,
        thread,
        ip="203.0.113.5",
        email="Spam@X.example",
        website="https://www.Pills.example/buy",
    )
    if block == "domain":
        comment.website = "https://pills.example/buy"
    batch = list_service.spam_and_block(session, ctx, comment.id, block, admin_actor)
    entry = session.scalars(select(ListEntry).where(ListEntry.kind == kind)).one()
    assert (entry.value, entry.site, batch.entry_id) == (value, None, entry.id)
    assert comment.status is S.spam
    what = {"ip": "IP", "email": "e-mail", "domain": "domain"}[block]
    assert events(session, comment)[-1].reason == f"blocked {what} {value}"
    again = pending(
        session, thread, ip="203.0.113.5", email="spam@x.example", website="https://pills.example/"
    )
    assert (
        list_service.spam_and_block(session, ctx, again.id, block, admin_actor).entry_id is None
    )  # existed


def test_spam_and_block_needs_something_to_block(session, ctx, admin_actor):
    thread = make_thread(session)
    comment = pending(session, thread, ip="", website="")
    with pytest.raises(InvalidInput, match="no IP address"):
        list_service.spam_and_block(session, ctx, comment.id, "ip", admin_actor)
    with pytest.raises(InvalidInput, match="no website"):
        list_service.spam_and_block(session, ctx, comment.id, "domain", admin_actor)
    with pytest.raises(InvalidInput):
        list_service.spam_and_block(session, ctx, comment.id, "everything", admin_actor)
    assert comment.status is S.pending


def test_spam_and_block_of_a_linkback_blocks_its_source_domain(session, ctx, admin_actor):
    thread = make_thread(session)
    ping = pending(session, thread, kind=CommentKind.pingback, source="https://blog.spam.example/p")
    list_service.spam_and_block(session, ctx, ping.id, "domain", admin_actor)
    assert session.scalars(select(ListEntry.value)).one() == "blog.spam.example"


def test_remove_block_takes_the_entry_back(session, ctx, admin_actor):
    thread = make_thread(session)
    comment = pending(session, thread, ip="203.0.113.5")
    batch = list_service.spam_and_block(session, ctx, comment.id, "ip", admin_actor)
    list_service.remove_block(session, batch.entry_id)
    list_service.remove_block(session, batch.entry_id)  # gone already: no error
    assert session.scalars(select(ListEntry)).all() == []


def test_approve_and_trust_makes_the_author_trusted(session, ctx, actor):
    thread = make_thread(session)
    comment = pending(session, thread, author="Zoe", email="zoe@example.org")
    assert not author_trusted(session, "Zoe", "zoe@example.org")
    batch, trusted = q.approve_and_trust(session, ctx, comment.id, actor)
    assert trusted
    assert batch.done == 1
    assert author_trusted(session, "Zoe", "ZOE@example.org")
    nameless = pending(session, thread, author="", email="")
    assert q.approve_and_trust(session, ctx, nameless.id, actor)[1] is False


# --- lists -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        (ListKind.blocked_ip, " 203.0.113.7 ", "203.0.113.7"),
        (ListKind.blocked_ip, "203.0.113.9/24", "203.0.113.0/24"),
        (ListKind.blocked_domain, "*.Spam.Example.", "spam.example"),
        (ListKind.blocked_email, "Bad@Example.COM", "bad@example.com"),
        (ListKind.moderation_key, "Casino", "Casino"),
    ],
)
def test_add_entry_normalizes_like_the_rules(session, ctx, kind, raw, stored):
    entry, created = list_service.add_entry(session, ctx, kind, raw, site="blog", created_by="me")
    assert (entry.value, entry.site, created) == (stored, "blog", True)
    assert list_service.add_entry(session, ctx, kind, raw, site="blog")[1] is False
    assert list_service.add_entry(session, ctx, kind, raw)[1] is True  # all sites: another entry


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        (ListKind.blocked_ip, "300.1.2.3", "not an IP or CIDR"),
        (ListKind.blocked_domain, "http://x.example/", "not a domain"),
        (ListKind.blocked_email, "nobody", "not an e-mail"),
        (ListKind.moderation_key, "  ", "empty"),
        (ListKind.disallowed_key, "x" * 256, "too long"),
    ],
)
def test_add_entry_rejects_bad_values_with_a_message(session, ctx, kind, raw, message):
    with pytest.raises(InvalidInput) as err:
        list_service.add_entry(session, ctx, kind, raw)
    assert message in err.value.message
    assert "value" in err.value.fields


def test_add_entry_rejects_an_unknown_site(session, ctx):
    with pytest.raises(InvalidInput) as err:
        list_service.add_entry(session, ctx, ListKind.moderation_key, "x", site="nope")
    assert "site" in err.value.fields


def test_list_entries_groups_and_remove_entry(session, ctx):
    ip, _ = list_service.add_entry(session, ctx, ListKind.blocked_ip, "192.0.2.1", site="blog")
    list_service.add_entry(session, ctx, ListKind.blocked_ip, "192.0.2.2")
    grouped = list_service.list_entries(session)
    assert [e.value for e in grouped[ListKind.blocked_ip]] == ["192.0.2.2", "192.0.2.1"]
    assert grouped[ListKind.moderation_key] == []
    list_service.remove_entry(session, ip.id)
    assert len(list_service.list_entries(session)[ListKind.blocked_ip]) == 1
    with pytest.raises(NotFound):
        list_service.remove_entry(session, ip.id)
