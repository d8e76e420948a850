"""``[privacy] ip_retention_days``: IPs and user agents are blanked when they are older, on the
comment and in its spam checks; newer ones, the text and the verdicts stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from moderation.models import Comment, SpamCheck
from moderation.services import privacy
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread


def comment_with_check(session, thread, created_at, ip="203.0.113.7"):
    comment = make_comment(session, thread, ip=ip, user_agent="Firefox/140", created_at=created_at)
    session.flush()
    session.add(
        SpamCheck(
            comment_id=comment.id,
            verdict="ham",
            score=0.0,
            signals=[],
            submitted={"ip": ip, "user_agent": "Firefox/140", "text": comment.text},
        )
    )
    session.flush()
    return comment.id


def test_old_client_data_is_blanked_and_new_kept(session, database, ctx, clock, tmp_path):
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"privacy.ip_retention_days": 30}))
    thread = make_thread(session)
    old = comment_with_check(session, thread, clock() - timedelta(days=31))
    new = comment_with_check(session, thread, clock() - timedelta(days=29))
    session.commit()

    assert privacy.blank_old_client_data(database, ctx) == 1
    assert privacy.blank_old_client_data(database, ctx) == 0  # nothing left to blank

    session.expire_all()
    rows = {c.id: c for c in session.scalars(select(Comment))}
    assert (rows[old].ip, rows[old].user_agent) == ("", "")
    assert (rows[new].ip, rows[new].user_agent) == ("203.0.113.7", "Firefox/140")
    assert rows[old].text == rows[new].text  # the comment itself stays
    checks = {c.comment_id: c.submitted for c in session.scalars(select(SpamCheck))}
    assert checks[old] == {"ip": "", "user_agent": "", "text": rows[old].text}
    assert checks[new]["ip"] == "203.0.113.7"


def test_zero_keeps_everything(session, database, ctx, clock, tmp_path):
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"privacy.ip_retention_days": 0}))
    thread = make_thread(session)
    kept = comment_with_check(session, thread, clock() - timedelta(days=3650))
    session.commit()
    assert privacy.blank_old_client_data(database, ctx) == 0
    session.expire_all()
    assert session.get(Comment, kept).ip == "203.0.113.7"


def test_blanking_works_in_batches(session, database, ctx, clock, tmp_path, monkeypatch):
    monkeypatch.setattr(privacy, "BATCH", 2)
    ctx = replace(ctx, settings=make_settings(tmp_path, **{"privacy.ip_retention_days": 1}))
    thread = make_thread(session)
    for _ in range(5):
        comment_with_check(session, thread, clock() - timedelta(days=2))
    session.commit()
    assert privacy.blank_old_client_data(database, ctx) == 5
    session.expire_all()
    assert {c.ip for c in session.scalars(select(Comment))} == {""}


def test_a_signed_in_identity_is_exported_and_erased_with_its_address(session, database, ctx):
    from moderation.models import Reader

    reader = Reader(
        provider="example",
        subject="sub-123",
        name="Ann Identity",
        email="Ann@Example.org",
        email_verified=True,
        avatar="https://id.example/ann.png",
        profile="https://id.example/ann",
    )
    session.add(reader)
    session.flush()
    with database.read() as reading:
        assert privacy.has_comments(reading, "ann@example.org")
        data = privacy.export_personal_data(reading, "ann@example.org")
    assert [(i["provider"], i["name"]) for i in data["identities"]] == [("example", "Ann Identity")]
    with database.write() as tx:
        privacy.erase_personal_data(tx, ctx, "ann@example.org")
    session.expire_all()
    erased = session.get(Reader, reader.id)
    assert (erased.name, erased.email, erased.avatar, erased.profile) == ("", "", "", "")
    assert erased.subject == "sub-123"  # a block of this identity keeps holding
    assert erased.revoked_generation == 1  # its tokens died
