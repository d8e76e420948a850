"""Readers signed in with an outside identity (issue 20), at the service layer: one row per
provider and subject, brought up to date on each sign-in; tokens bound to a site and to the
reader's revocation counter; blocking; the first-time policy by identity; verified addresses
subscribed without the opt-in mail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.domain.states import Action, CommentStatus
from moderation.models import Comment, Reader, Subscription
from moderation.services import comments, readers
from moderation.services.moderation import SYSTEM, apply_action
from tests.conftest import make_settings

ALICE = readers.Identity(
    subject="alice-sub", name="Alice", email="Alice@Example.net", email_verified=True
)


@pytest.fixture
def settings(tmp_path):
    return make_settings(
        tmp_path,
        **{
            "auth.providers": {"mail": {"kind": "email"}},
            "sites.blog.identity": "optional",
            "sites.blog.moderation": "first-time",
        },
    )


def test_one_reader_per_provider_and_subject_kept_up_to_date(session, ctx):
    first = readers.upsert_reader(session, ctx, "idp", ALICE)
    again = readers.upsert_reader(
        session, ctx, "idp", readers.Identity(subject="alice-sub", name="Alice Liddell")
    )
    other = readers.upsert_reader(session, ctx, "gh", ALICE)
    assert first.id == again.id != other.id
    assert again.name == "Alice Liddell"
    assert again.email == ""
    assert not again.email_verified
    assert other.email == "alice@example.net"
    assert session.scalar(select(Reader.id).where(Reader.provider == "gh")) == other.id


def test_tokens_are_bound_to_the_site_and_the_generation(session, ctx):
    reader = readers.upsert_reader(session, ctx, "idp", ALICE)
    token = readers.reader_token(ctx, reader, "blog")
    assert readers.reader_for_token(session, ctx, token, "blog").id == reader.id
    assert readers.token_site(ctx, token) == "blog"
    with pytest.raises(readers.ReaderTokenInvalid, match="another site"):
        readers.reader_for_token(session, ctx, token, "other")
    with pytest.raises(readers.ReaderTokenInvalid):
        readers.reader_for_token(session, ctx, token + "x", "blog")
    readers.logout(session, ctx, reader.id)
    session.expire_all()
    with pytest.raises(readers.ReaderTokenInvalid, match="signed out"):
        readers.reader_for_token(session, ctx, token, "blog")
    fresh = readers.reader_token(ctx, session.get(Reader, reader.id), "blog")
    assert readers.reader_for_token(session, ctx, fresh, "blog").id == reader.id
    readers.set_blocked(session, reader.id, True)
    with pytest.raises(readers.ReaderBlocked):
        readers.reader_for_token(session, ctx, fresh, "blog")


def _post(session, ctx, **kw):
    new = comments.NewComment(site="blog", uri="/p/", text=kw.pop("text", "Hello."), **kw)
    draft = comments.prepare_comment(session, ctx, new, comments.ClientInfo())
    return comments.store_comment(session, ctx, draft)


def test_first_time_trust_follows_the_identity_and_verified_addresses_skip_the_opt_in(session, ctx):
    reader = readers.upsert_reader(session, ctx, "idp", ALICE)
    signed = dict(
        author=reader.name,
        email=reader.email,
        reader_id=reader.id,
        email_verified=True,
    )
    first = _post(session, ctx, notify="replies", **signed)
    assert first.status is CommentStatus.pending  # first-time: held
    (sub,) = session.scalars(select(Subscription)).all()
    assert sub.confirmed_at is not None
    apply_action(session, ctx, session.get(Comment, first.id), Action.approve, SYSTEM, "ok")
    assert readers.reader_trusted(session, reader.id)
    assert not readers.reader_trusted(session, reader.id, besides=first.id)
    ctx.clock.advance(60)
    assert _post(session, ctx, text="Again.", **signed).status is CommentStatus.approved
    # the same name and address typed by anyone are not the identity
    assert not comments.author_trusted(session, reader.name, reader.email)
    ctx.clock.advance(60)
    typed = _post(session, ctx, text="Me.", author=reader.name, email=reader.email)
    assert typed.status is CommentStatus.pending
