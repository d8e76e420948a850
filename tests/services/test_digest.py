"""The moderators' digest (``[mail] notify = "digest"``) through a real SMTP server on loopback: no
mail per comment; every ``digest_minutes`` one mail per moderator listing the comments held since
the last digest, each with links of its own; nothing when nothing was held; and of several workers
checking at once, exactly one sends it."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select

from moderation.domain.states import Action, CommentStatus
from moderation.errors import InvalidTransition
from moderation.models import Comment, JobMark, OutboxEntry
from moderation.runtime.jobs import KIND_LANES, Jobs
from moderation.services import build_context, comments, notify
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread
from tests.services import helpers

MODERATORS = ["mod@example.org", "owner@example.org"]
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
LINK = re.compile(r"https://comments\.example\.org/moderate/act/([A-Za-z0-9_.\-]+)")
HOUR = 3600


@pytest.fixture
def jobs(tmp_path, clock, database, smtp):
    """The production jobs (inline) with mail pointed at the fake server, in digest mode."""
    settings = make_settings(
        tmp_path,
        **{
            **smtp.settings(),
            "mail.moderators": MODERATORS,
            "mail.notify": "digest",
            "mail.digest_minutes": 60,
            "sites.blog.moderation": "all",
            "spam.classifier": False,
        },
    )
    return Jobs(settings, database, build_context(settings, clock=clock))


def submit(jobs, clock, text, author="Ann"):
    clock.advance(60)
    new = comments.NewComment(site="blog", uri="/p/", text=text, author=author, email="a@x.org")
    return helpers.submit(jobs.database, jobs.ctx, new, BROWSER).id


def to(smtp, address):
    return [m for m in smtp.messages if m.rcpt_tos == [address]]


def links_of(ctx, session, text):
    """comment id -> {action: token} for every link in a digest's text."""
    found: dict[int, dict[Action, str]] = {}
    for token in LINK.findall(text):
        link = notify.read_link(ctx, token)
        found.setdefault(link.comment_id, {})[link.action] = token
    return found


def test_digest_lists_the_held_comments_with_links_of_their_own(
    database, session, jobs, clock, smtp
):
    ctx = jobs.ctx
    first = submit(jobs, clock, "The first held comment.")
    second = submit(jobs, clock, "The second held comment.", author="Bob")
    third = submit(jobs, clock, "The third held comment.", author="Cy")
    assert smtp.messages == []  # no mail per comment
    assert session.scalars(select(OutboxEntry)).all() == []

    assert jobs.digest() == 2
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == MODERATORS
    (mail,) = to(smtp, "mod@example.org")
    assert mail.message["Subject"] == "[blog] 3 comments awaiting moderation"
    text = mail.text
    positions = [text.index(t) for t in ("The first", "The second", "The third")]
    assert positions == sorted(positions)  # the oldest first
    assert "Bob" in mail.html
    links = links_of(ctx, session, text)
    assert set(links) == {first, second, third}
    assert all(set(acts) == {Action.approve, Action.spam, Action.delete} for acts in links.values())
    assert set(LINK.findall(mail.html)) == set(LINK.findall(text))

    # Acting on one comment spends only that comment's links.
    with database.write() as tx:
        notify.act_on_link(tx, ctx, links[first][Action.approve])
    session.expire_all()
    assert session.get(Comment, first).status is CommentStatus.approved
    _link, comment = notify.check_link(session, ctx, links[second][Action.spam])
    assert comment.id == second
    with database.write() as tx:
        notify.act_on_link(tx, ctx, links[second][Action.spam])
    session.expire_all()
    assert session.get(Comment, second).status is CommentStatus.spam
    with pytest.raises(notify.LinkUsed):
        notify.check_link(session, ctx, links[first][Action.delete])
    # The other moderator's links for a comment moderated since refuse to act.
    other = links_of(ctx, session, to(smtp, "owner@example.org")[0].text)
    with pytest.raises(InvalidTransition):
        notify.check_link(session, ctx, other[first][Action.delete])
    assert notify.check_link(session, ctx, other[third][Action.delete])[1].id == third


def test_each_digest_holds_what_was_held_since_the_last_one(database, session, jobs, clock, smtp):
    submit(jobs, clock, "Held before the first digest.")
    assert jobs.digest() == 2
    smtp.messages.clear()
    submit(jobs, clock, "Held after the first digest.")
    clock.advance(HOUR - 5 * 60)
    assert jobs.digest() == 0  # not yet: less than digest_minutes since the last
    assert smtp.messages == []
    clock.advance(5 * 60)
    assert jobs.digest() == 2
    text = to(smtp, "mod@example.org")[0].text
    assert "Held after the first digest." in text
    assert "Held before the first digest." not in text
    assert "1 comment held for a moderator" in text


def test_no_digest_when_nothing_was_held(database, session, jobs, clock, smtp):
    clock.advance(2 * HOUR)
    assert jobs.digest() == 0
    assert smtp.messages == []
    assert session.get(JobMark, "digest") is not None  # the period is over all the same
    assert session.scalars(select(OutboxEntry)).all() == []


def test_a_long_digest_lists_fifty_and_says_how_many_more(database, session, jobs, clock, smtp):
    thread = make_thread(session)
    for n in range(53):
        clock.advance(1)
        make_comment(
            session,
            thread,
            status=CommentStatus.pending,
            text=f"Held number {n}.",
            created_at=clock(),
        )
    assert jobs.digest() == 2
    text = to(smtp, "mod@example.org")[0].text
    assert "Held number 0." in text
    assert "Held number 49." in text
    assert "Held number 50." not in text
    assert "3 more held comments are not listed" in text
    assert len(links_of(jobs.ctx, session, text)) == 50


@pytest.mark.parametrize("marked", [False, True], ids=["first digest", "later digest"])
def test_two_workers_checking_at_once_send_one_digest(database, session, jobs, clock, smtp, marked):
    if marked:
        with database.write() as tx:
            tx.add(JobMark(name="digest", at=clock()))
    clock.advance(2 * HOUR)
    submit(jobs, clock, "Held once, mailed once.")
    start = threading.Barrier(2)
    queued: list[int] = []

    def worker():
        start.wait()
        queued.append(jobs.digest())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(queued) == [0, 2]
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == MODERATORS
    digests = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == notify.DIGEST)).all()
    assert len(digests) == 2


def test_the_digest_runs_in_the_mail_lane_and_other_modes_send_none(
    tmp_path, database, clock, smtp
):
    assert KIND_LANES[notify.DIGEST] == "mail"
    settings = make_settings(
        tmp_path, **{**smtp.settings(), "mail.moderators": MODERATORS, "mail.notify": "held"}
    )
    held = Jobs(settings, database, build_context(settings, clock=clock))
    clock.advance(2 * HOUR)
    assert held.digest() == 0
    with database.read() as read:
        assert read.get(JobMark, "digest") is None
