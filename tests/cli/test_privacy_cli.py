"""``moderation privacy export EMAIL`` and ``moderation privacy erase EMAIL [--delete]`` on the
test's database (SQLite and PostgreSQL), with comments posted through the widget API; after an
erasure the address and the name appear in no API answer, feed or export."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment, ModerationEvent, SpamCheck
from tests.conftest import SITE_URL

ANN = "Ann.Example@Example.org"


def post(client, clock, text, author, email, **kw):
    clock.advance(60)
    body = {"site": "blog", "uri": "/post/", "text": text, "author": author, "email": email}
    answer = client.post("/api/v1/comments", json={**body, **kw}, headers={"Origin": SITE_URL})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["comment"]["id"]


@pytest.fixture
def posted(client, clock):
    ann = post(
        client, clock, "Ann's first thought.", "Ann Example", ANN, website="https://ann.example"
    )
    bob = post(client, clock, "Bob replies.", "Bob", "bob@example.org", parent=ann)
    ann2 = post(client, clock, "Ann again.", "Ann Example", ANN.lower())
    return ann, bob, ann2


def everything_public(client) -> str:
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/post/").get_data(as_text=True)
    feed = client.get("/feeds/blog/comments.atom").get_data(as_text=True)
    return thread + feed


def test_export_lists_every_comment_of_the_address_and_no_other(cli, posted):
    ann, _bob, ann2 = posted
    data = json.loads(cli("privacy", "export", ANN.upper()).output)
    assert data["email"] == ANN.lower()
    assert [c["id"] for c in data["comments"]] == [ann, ann2]
    first = data["comments"][0]
    assert (first["author"], first["website"], first["uri"]) == (
        "Ann Example",
        "https://ann.example",
        "/post/",
    )
    assert first["text"] == "Ann's first thought."


def test_erase_anonymises_everywhere_and_keeps_the_text(cli, client, session, posted):
    ann, bob, ann2 = posted
    assert "Ann Example" in everything_public(client)  # (and now cached)
    assert cli("privacy", "erase", ANN).output == "2 comments anonymised\n"

    public = everything_public(client)
    assert "Ann Example" not in public
    assert "ann.example" not in public.lower()
    assert "Ann's first thought." in public  # the text stays, by an anonymous author
    assert "Bob" in public
    assert json.loads(cli("privacy", "export", ANN).output)["comments"] == []

    session.expire_all()
    for comment_id in (ann, ann2):
        comment = session.get(Comment, comment_id)
        assert (comment.author, comment.email, comment.website, comment.ip) == ("", "", "", "")
        assert comment.status is CommentStatus.approved
        for check in session.scalars(select(SpamCheck).where(SpamCheck.comment_id == comment_id)):
            assert ANN.lower() not in json.dumps(check.submitted).lower()
            assert "Ann Example" not in json.dumps(check.submitted)
        (event,) = session.scalars(
            select(ModerationEvent).where(
                ModerationEvent.comment_id == comment_id, ModerationEvent.action == "erase"
            )
        ).all()
        assert "ann" not in event.reason.lower()
    assert session.get(Comment, bob).author == "Bob"


def test_erase_with_delete_leaves_a_placeholder_where_replies_exist(cli, client, session, posted):
    ann, bob, ann2 = posted
    assert cli("privacy", "erase", ANN, "--delete").output == "2 comments deleted\n"
    thread = client.get("/api/v1/threads/comments?site=blog&uri=/post/").get_json()
    assert thread["thread"]["count"] == 1  # Bob's reply
    (top,) = thread["comments"]
    assert top["id"] == ann
    assert top["deleted"] is True  # the placeholder Bob's reply hangs from
    assert [r["id"] for r in top["replies"]] == [bob]
    assert "Ann" not in json.dumps(thread)
    session.expire_all()
    assert session.get(Comment, ann2).status is CommentStatus.deleted


def test_erase_of_an_unknown_address_changes_nothing(cli, session, posted):
    assert cli("privacy", "erase", "nobody@example.org").output == "0 comments anonymised\n"
    session.expire_all()
    assert {c.author for c in session.scalars(select(Comment))} == {"Ann Example", "Bob"}
