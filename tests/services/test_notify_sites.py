"""Moderator mails and digests scoped to a moderator's sites, through a real SMTP server on
loopback: an address that is a moderator account listed for some sites hears only of those
sites' comments (its digest too, and no digest when none of theirs was held); admins, moderators
with no listed site and addresses of no account hear of everything; a deactivated account's
address hears of nothing; its links refuse another site's comment as if it did not exist. The
recipients' scopes are one query per submission and per digest, whatever their number."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from moderation.domain.states import Action, CommentStatus
from moderation.errors import NotFound, TokenInvalid
from moderation.models import Comment, Moderator, ModeratorSite, OutboxEntry, Role
from moderation.runtime.jobs import Jobs
from moderation.services import build_context, comments, notify, outbox
from moderation.storage.db import Database
from tests.conftest import make_settings
from tests.services import helpers

BLOGGER = "Blogger@Example.org"  # a moderator of blog (the account's e-mail is lowercase)
OTHERER = "otherer@example.org"  # a moderator of other
ADMIN = "admin@example.org"  # an admin, with a site row that admins ignore
WIDE = "wide@example.org"  # a moderator with no listed site: every site
NOBODY = "nobody@example.org"  # no account
GONE = "gone@example.org"  # a deactivated moderator of blog
MODERATORS = [BLOGGER, OTHERER, ADMIN, WIDE, NOBODY, GONE]
EVERY_SITE = {ADMIN, WIDE, NOBODY}
BROWSER = comments.ClientInfo(ip="203.0.113.5", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
LINK = re.compile(r"https://comments\.example\.org/moderate/act/([A-Za-z0-9_.\-]+)")
HOUR = 3600


def add_account(session: Session, email: str, role: Role, sites: list[str], active: bool) -> int:
    moderator = Moderator(email=email.lower(), password_hash="x", role=role, active=active)
    session.add(moderator)
    session.flush()  # (the setup session commits what a flush writes)
    session.add_all(ModeratorSite(moderator_id=moderator.id, site=site) for site in sites)
    session.flush()
    return moderator.id


@pytest.fixture
def accounts(session):
    """The accounts behind the addresses, by address."""
    return {
        BLOGGER: add_account(session, BLOGGER, Role.moderator, ["blog"], True),
        OTHERER: add_account(session, OTHERER, Role.moderator, ["other"], True),
        ADMIN: add_account(session, ADMIN, Role.admin, ["other"], True),
        WIDE: add_account(session, WIDE, Role.moderator, [], True),
        GONE: add_account(session, GONE, Role.moderator, ["blog"], False),
    }


@pytest.fixture
def live(tmp_path, clock, database, smtp, accounts):
    """The production jobs (inline) with mail to every address; both sites hold every comment."""

    def make(**overrides):
        values = {
            **smtp.settings(),
            "mail.moderators": MODERATORS,
            "sites.blog.moderation": "all",
            "sites.other.moderation": "all",
            "spam.classifier": False,
            **overrides,
        }
        settings = make_settings(tmp_path, **values)
        return Jobs(settings, database, build_context(settings, clock=clock))

    return make


@contextmanager
def scope_queries(database: Database) -> Iterator[list[str]]:
    """The statements of `database`'s writes that read the moderators' sites."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        if "moderator_sites" in statement:
            seen.append(statement)

    event.listen(database.writer, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.writer, "before_cursor_execute", record)


def submit(jobs, clock, site="blog", text="A comment to hold.", author="Ann"):
    clock.advance(60)
    new = comments.NewComment(site=site, uri="/p/", text=text, author=author, email="a@x.org")
    return helpers.submit(jobs.database, jobs.ctx, new, BROWSER).id


def recipients_of(messages) -> set[str]:
    return {m.rcpt_tos[0] for m in messages}


def to(smtp, address):
    (mail,) = [m for m in smtp.messages if m.rcpt_tos == [address]]
    return mail


def linked_comments(ctx, text) -> set[int]:
    return {notify.read_link(ctx, token).comment_id for token in LINK.findall(text)}


def test_a_new_comment_is_mailed_only_to_the_moderators_of_its_site(
    database, session, live, clock, smtp
):
    jobs = live()
    with scope_queries(database) as queries:
        blog = submit(jobs, clock, "blog")
    assert len(queries) == 1  # one query for all six addresses
    assert recipients_of(smtp.messages) == {BLOGGER, *EVERY_SITE}
    assert len(smtp.messages) == 4
    assert linked_comments(jobs.ctx, to(smtp, BLOGGER).text) == {blog}
    smtp.messages.clear()
    with scope_queries(database) as queries:
        submit(jobs, clock, "other", author="Bo")
    assert len(queries) == 1
    assert recipients_of(smtp.messages) == {OTHERER, *EVERY_SITE}
    assert len(smtp.messages) == 4


def test_without_scoped_accounts_every_address_hears_of_every_site(
    database, session, live, clock, smtp
):
    jobs = live(**{"mail.moderators": [WIDE, NOBODY, ADMIN]})
    submit(jobs, clock, "other")
    assert recipients_of(smtp.messages) == EVERY_SITE


def test_an_edit_that_holds_a_comment_again_mails_only_its_site_s_moderators(
    database, session, live, clock, smtp
):
    jobs = live(**{"sites.other.moderation": "none", "spam.moderation_keys": ["casino"]})
    clock.advance(60)
    new = comments.NewComment(site="other", uri="/p/", text="Fine words.", author="Ann")
    submitted = helpers.submit(database, jobs.ctx, new, BROWSER)
    assert submitted.status is CommentStatus.approved
    assert smtp.messages == []
    token = comments.edit_token(jobs.ctx, submitted)
    helpers.edit(database, jobs.ctx, submitted.id, token, "Now visit my casino")
    assert recipients_of(smtp.messages) == {OTHERER, *EVERY_SITE}
    assert all(m.message["Subject"].startswith("[other] Edited comment") for m in smtp.messages)


def test_a_mail_queued_before_its_moderator_was_scoped_away_is_not_sent(
    database, session, live, clock, smtp, accounts
):
    jobs = live(**{"mail.moderators": [BLOGGER, WIDE]})
    smtp.stop()
    submit(jobs, clock, "blog")
    entries = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "mail")).all()
    assert {e.payload["to"] for e in entries} == {BLOGGER, WIDE}
    session.execute(  # now a moderator of other only
        ModeratorSite.__table__.update()
        .where(ModeratorSite.moderator_id == accounts[BLOGGER])
        .values(site="other")
    )
    smtp.start()
    clock.advance(3600)
    for entry_id in outbox.due_entries(database, jobs.ctx):
        outbox.run_entry(database, jobs.ctx, entry_id)
    assert recipients_of(smtp.messages) == {WIDE}


def test_each_digest_lists_only_its_moderator_s_sites_and_none_is_empty(
    database, session, live, clock, smtp
):
    jobs = live(**{"mail.notify": "digest", "mail.digest_minutes": 60})
    ctx = jobs.ctx
    first = submit(jobs, clock, "blog", "First on the blog.")
    second = submit(jobs, clock, "blog", "Second on the blog.", author="Bo")
    third = submit(jobs, clock, "other", "Once on the other site.", author="Cy")
    assert smtp.messages == []
    with scope_queries(database) as queries:
        assert jobs.digest() == 5  # not the deactivated moderator's address
    assert len(queries) == 1
    assert recipients_of(smtp.messages) == {BLOGGER, OTHERER, *EVERY_SITE}
    blogger = to(smtp, BLOGGER)
    assert blogger.message["Subject"] == "[blog] 2 comments awaiting moderation"
    assert linked_comments(ctx, blogger.text) == {first, second}
    assert "Once on the other site." not in blogger.text + blogger.html
    otherer = to(smtp, OTHERER)
    assert otherer.message["Subject"] == "[other] 1 comment awaiting moderation"
    assert linked_comments(ctx, otherer.text) == {third}
    assert "on the blog" not in otherer.text + otherer.html
    for address in EVERY_SITE:
        mail = to(smtp, address)
        assert mail.message["Subject"] == "3 comments awaiting moderation"
        assert linked_comments(ctx, mail.text) == {first, second, third}

    # The next period holds only a blog comment: the moderator of other gets no digest.
    smtp.messages.clear()
    fourth = submit(jobs, clock, "blog", "Later on the blog.")
    clock.advance(HOUR)
    assert jobs.digest() == 4
    assert recipients_of(smtp.messages) == {BLOGGER, *EVERY_SITE}
    assert linked_comments(ctx, to(smtp, BLOGGER).text) == {fourth}


def test_a_digest_leaves_out_what_its_moderator_no_longer_moderates(
    database, session, live, clock, smtp, accounts
):
    jobs = live(**{"mail.notify": "digest", "mail.moderators": [BLOGGER, ADMIN]})
    ctx = jobs.ctx
    # The blogger moderates both sites while the digest is queued, then only blog when it is sent.
    session.add(ModeratorSite(moderator_id=accounts[BLOGGER], site="other"))
    session.flush()
    blog = submit(jobs, clock, "blog", "On the blog.")
    submit(jobs, clock, "other", "On the other site.")
    smtp.stop()
    clock.advance(HOUR // 2)  # (the first digest covers the last digest_minutes)
    assert jobs.digest() == 2
    session.execute(
        ModeratorSite.__table__.delete().where(
            ModeratorSite.moderator_id == accounts[BLOGGER], ModeratorSite.site == "other"
        )
    )
    smtp.start()
    clock.advance(HOUR)
    for entry_id in outbox.due_entries(database, ctx):
        outbox.run_entry(database, ctx, entry_id)
    blogger = to(smtp, BLOGGER)
    assert blogger.message["Subject"] == "[blog] 1 comment awaiting moderation"
    assert linked_comments(ctx, blogger.text) == {blog}
    assert "1 comment held for a moderator since" in blogger.text
    assert "not listed here" not in blogger.text  # not "1 more"
    assert "moderated before this mail went out" not in blogger.text  # nor "moderated since"
    assert to(smtp, ADMIN).message["Subject"] == "2 comments awaiting moderation"

    # Deactivated before its digest is sent: nothing.
    smtp.messages.clear()
    submit(jobs, clock, "blog", "Again on the blog.")
    smtp.stop()
    clock.advance(HOUR)
    assert jobs.digest() == 2
    session.get(Moderator, accounts[BLOGGER]).active = False
    session.flush()
    smtp.start()
    clock.advance(HOUR)
    for entry_id in outbox.due_entries(database, ctx):
        outbox.run_entry(database, ctx, entry_id)
    assert recipients_of(smtp.messages) == {ADMIN}


def test_a_link_of_a_moderator_scoped_away_from_the_site_is_refused(
    database, session, live, clock, smtp, accounts
):
    jobs = live(**{"mail.moderators": [BLOGGER, WIDE]})
    ctx = jobs.ctx
    comment_id = submit(jobs, clock, "blog")
    tokens = LINK.findall(to(smtp, BLOGGER).text)
    assert notify.check_link(session, ctx, tokens[0])[1].id == comment_id
    session.execute(
        ModeratorSite.__table__.update()
        .where(ModeratorSite.moderator_id == accounts[BLOGGER])
        .values(site="other")
    )
    for token in tokens:
        with pytest.raises(NotFound, match="no longer exists"):
            notify.check_link(session, ctx, token)
        with pytest.raises(NotFound), database.write() as tx:
            notify.act_on_link(tx, ctx, token)
    session.expire_all()
    assert session.get(Comment, comment_id).status is CommentStatus.pending
    # The moderator of every site may still use theirs.
    wide = LINK.findall(to(smtp, WIDE).text)
    assert notify.read_link(ctx, wide[0]).action is Action.approve
    with database.write() as tx:
        notify.act_on_link(tx, ctx, wide[0])
    session.expire_all()
    assert session.get(Comment, comment_id).status is CommentStatus.approved


def test_a_link_of_a_deactivated_moderator_is_refused(
    database, session, live, clock, smtp, accounts
):
    jobs = live(**{"mail.moderators": [BLOGGER]})
    comment_id = submit(jobs, clock, "blog")
    (token, *_) = LINK.findall(to(smtp, BLOGGER).text)
    session.get(Moderator, accounts[BLOGGER]).active = False
    session.flush()
    with pytest.raises(TokenInvalid, match="no longer a moderator's"):
        notify.check_link(session, jobs.ctx, token)
    with pytest.raises(TokenInvalid), database.write() as tx:
        notify.act_on_link(tx, jobs.ctx, token)
    session.expire_all()
    assert session.get(Comment, comment_id).status is CommentStatus.pending
