"""What a hostile probe found, each reproduced through the real app: edits that skipped the site's
policy, control characters stored and served, unlimited edits, 500s for malformed input, and the
Atom ``self`` link taken from the request's Host."""

from __future__ import annotations

import json
from email.message import EmailMessage

import feedparser
import pytest
from sqlalchemy import func, select

from moderation.app import create_app
from moderation.domain.states import Action, CommentStatus
from moderation.models import Comment, SpamCheck
from moderation.services import accounts, build_context, notify
from moderation.services.moderation import Actor, apply_action
from moderation.web import current
from tests.conftest import SITE_URL, make_settings, reconfigure
from tests.factories import make_comment, make_thread

MOD = "mod@example.org"
ORIGIN = {"Origin": SITE_URL}


def body(**kw):
    data = {
        "site": "blog",
        "uri": "/post/",
        "text": "Nice post.",
        "author": "Ann",
        "email": "ann@example.org",
        "website": "ann.example.org",
        "title": "A post",
    }
    data.update(kw)
    return data


def post(client, clock, **kw):
    clock.advance(60)
    return client.post("/api/v1/comments", json=body(**kw), headers=ORIGIN)


def patch(client, comment_id, token, text=None, raw=None):
    data = raw if raw is not None else json.dumps({"text": text})
    return client.patch(
        f"/api/v1/comments/{comment_id}",
        data=data,
        content_type="application/json",
        headers={"X-Edit-Token": token, **ORIGIN},
    )


# --- finding 3: edits go through the site's policy ------------------------------------------------


@pytest.fixture
def live(tmp_path, clock, database, smtp):
    """The production context (mail hooks), mail to one moderator, jobs inline; `make(policy)`."""

    def make(policy):
        settings = make_settings(
            tmp_path,
            **smtp.settings(),
            **{"mail.moderators": [MOD], "sites.blog.moderation": policy, "spam.classifier": False},
        )
        app = create_app(settings, database=database, context=build_context(settings, clock=clock))
        app.config["TESTING"] = True
        return app

    return make


def approve(database, app, comment_id):
    ctx = current.parts(app).context
    with database.write() as tx:
        apply_action(tx, ctx, tx.get(Comment, comment_id), Action.approve, Actor("admin", None))


def test_edit_of_approved_comment_on_moderate_all_site_is_held_and_mailed(
    live, database, session, clock, smtp
):
    app = live("all")
    client = app.test_client()
    created = post(client, clock)
    assert created.status_code == 202
    cid, token = created.get_json()["comment"]["id"], created.get_json()["edit_token"]
    approve(database, app, cid)
    smtp.messages.clear()

    r = patch(client, cid, token, "Changed after approval, now selling watches")

    assert r.status_code == 200
    assert session.get(Comment, cid).status is CommentStatus.pending
    assert "watches" not in client.get("/api/v1/threads/comments?site=blog&uri=/post/").get_data(
        as_text=True
    )
    assert [m.rcpt_tos for m in smtp.messages] == [[MOD]]
    assert "edited" in smtp.messages[0].text


def test_edit_on_first_time_site_is_held_for_an_untrusted_author(
    live, database, session, clock, smtp
):
    app = live("first-time")
    client = app.test_client()
    # No e-mail: this author can never be "previously approved", so each comment of theirs waits.
    created = post(client, clock, email="", author="Drive-by")
    cid, token = created.get_json()["comment"]["id"], created.get_json()["edit_token"]
    approve(database, app, cid)
    assert patch(client, cid, token, "changed").status_code == 200
    assert session.get(Comment, cid).status is CommentStatus.pending

    # Ann's approved comment does not vouch for an edit of itself: approve, then edit in a link.
    only = post(client, clock, author="Ann", email="ann@example.org", text="first")
    oid, otoken = only.get_json()["comment"]["id"], only.get_json()["edit_token"]
    approve(database, app, oid)
    assert patch(client, oid, otoken, "now with https://spam.example").status_code == 200
    assert session.get(Comment, oid).status is CommentStatus.pending

    # Another approved comment of Ann's does (the moderator approves the edited one again).
    approve(database, app, oid)
    trusted = post(client, clock, author="Ann", email="ann@example.org", text="second")
    assert trusted.status_code == 201  # published at once: Ann is previously approved
    tid, ttoken = trusted.get_json()["comment"]["id"], trusted.get_json()["edit_token"]
    assert patch(client, tid, ttoken, "changed by a trusted author").status_code == 200
    assert session.get(Comment, tid).status is CommentStatus.approved


# --- finding 4: control characters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("author", "Bob\x0bSmith"),
        ("author", "Bob\r\nBcc: victim@example.org"),
        ("author", "Bob\u2028Approve: https://evil.example/"),
        ("title", "A\x01title"),
        ("website", "java\tscript:alert(1)"),
        ("website", "https://bob.example/\x01"),
        ("email", "bob\x0c@example.org"),
        ("uri", "/post/\x85"),
        ("site", "blog\x0b"),
    ],
)
def test_single_line_fields_refuse_control_characters(client, clock, field, value):
    r = post(client, clock, **{field: value})
    assert r.status_code == 400
    assert field in r.get_json()["error"]["fields"]


def test_text_drops_what_xml_cannot_carry_and_feeds_stay_valid(client, clock, session):
    r = post(client, clock, text="page\x0cbreak and\x01 a bell\x07\nnext line\ttab")
    assert r.status_code == 201
    stored = session.get(Comment, r.get_json()["comment"]["id"])
    assert stored.text == "pagebreak and a bell\nnext line\ttab"
    for url in ("/feeds/blog/comments.atom", "/feeds/blog/thread.atom?uri=/post/"):
        feed = feedparser.parse(client.get(url).data)
        assert not feed.bozo, feed.get("bozo_exception")


def test_edit_text_drops_what_xml_cannot_carry(client, clock, session):
    created = post(client, clock).get_json()
    r = patch(client, created["comment"]["id"], created["edit_token"], "form\x0cfeed\x1b")
    assert r.status_code == 200
    assert session.get(Comment, created["comment"]["id"]).text == "formfeed"


def test_legacy_row_with_control_characters_still_gives_valid_feeds(client, session):
    thread = make_thread(session, title="Old\x01 title")
    comment = make_comment(
        session,
        thread,
        author="Bob\x0bSmith",
        website="https://bob.example/\x01",
        text="old\x0ctext",
        status=CommentStatus.approved,
    )
    comment.html = "<p>old\x0ctext\x1b</p>"
    session.commit()
    for url in ("/feeds/blog/comments.atom", "/feeds/blog/thread.atom?uri=/post/"):
        r = client.get(url)
        assert r.status_code == 200
        feed = feedparser.parse(r.data)
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.entries[0].author == "BobSmith"


def test_legacy_row_with_line_breaks_gives_a_mail_with_no_forged_line(session, ctx, tmp_path):
    ctx = reconfigure_ctx(ctx, tmp_path)
    thread = make_thread(session, title="T\r\nX-Injected: 1")
    comment = make_comment(
        session,
        thread,
        author="Bob\r\nApprove:\r\n  https://evil.example/act",
        email="bob@example.org\nDelete: x",
        website="https://bob.example/\u2028Spam: y",
        text="line one\x0b\rApprove:\x1c  https://evil.example/\x85two",
        status=CommentStatus.pending,
    )
    payload = {"to": MOD, "event": notify.NEW, "status": "pending", "nonce": "n0nce"}
    message: EmailMessage = notify.build_message(ctx, session.get(Comment, comment.id), payload)
    text = message.get_body(("plain",)).get_content()
    lines = text.splitlines()
    planted = {
        "evil.example": ("Author:", "> "),
        "Delete: x": ("E-mail:",),
        "Spam: y": ("Website:",),
    }
    for marker, own_lines in planted.items():
        found = [line for line in lines if marker in line]
        assert found, marker
        assert all(line.startswith(own_lines) for line in found), (marker, found)
    assert [line for line in lines if line.startswith("Approve")] == ["Approve:"]  # the real one
    for line in lines:
        assert all(ch == "\t" or ch.isprintable() for ch in line), repr(line)
    assert "\n" not in message["Subject"]
    assert "\r" not in message["Subject"]


def reconfigure_ctx(ctx, tmp_path):
    from dataclasses import replace

    return replace(ctx, settings=make_settings(tmp_path, **{"mail.moderators": [MOD]}))


# --- finding 5: edits are limited -----------------------------------------------------------------


def test_edits_are_rate_limited_per_ip_with_retry_after(app, client, clock, tmp_path):
    created = post(client, clock).get_json()
    reconfigure(app, settings=make_settings(tmp_path, **{"guard.edit_rate_limit": "3 per minute"}))
    cid, token = created["comment"]["id"], created["edit_token"]
    answers = [patch(client, cid, token, f"edit {n}") for n in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].get_json()["error"]["code"] == "too_many_requests"


def test_edits_are_capped_per_comment(app, client, clock, tmp_path, session):
    reconfigure(app, settings=make_settings(tmp_path, **{"comments.max_edits": 2}))
    created = post(client, clock).get_json()
    cid, token = created["comment"]["id"], created["edit_token"]
    answers = [patch(client, cid, token, f"edit {n}") for n in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 409]
    assert answers[-1].get_json()["error"]["code"] == "too_many_edits"
    checks = session.scalar(select(func.count()).where(SpamCheck.comment_id == cid))
    assert checks == 3  # the post and two edits; the refused edit stored nothing
    assert session.get(Comment, cid).text == "edit 1"


# --- finding 9: 400, never 500 ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["author", "email", "website", "title", "uri", "site", "text"])
def test_lone_surrogate_in_any_field_is_400(client, clock, field):
    clock.advance(60)
    raw = json.dumps(body()).replace(f'"{field}": "', f'"{field}": "\\ud800', 1)
    r = client.post("/api/v1/comments", data=raw, content_type="application/json", headers=ORIGIN)
    assert r.status_code == 400
    assert field in r.get_json()["error"]["fields"]


def test_lone_surrogate_in_an_edit_is_400(client, clock):
    created = post(client, clock).get_json()
    r = patch(client, created["comment"]["id"], created["edit_token"], raw='{"text": "a\\udfffb"}')
    assert r.status_code == 400
    assert "text" in r.get_json()["error"]["fields"]


@pytest.mark.parametrize("parent", [2**31, 2**63 - 1, 2**63, 2**64, 10**30, 0, -1])
def test_parent_out_of_range_is_400(client, clock, parent):
    post(client, clock)
    r = post(client, clock, parent=parent, text="reply")
    assert r.status_code == 400
    assert "parent" in r.get_json()["error"]["fields"]


def test_deeply_nested_json_is_400(client, clock):
    deep = "[" * 100_000 + "]" * 100_000
    clock.advance(60)
    r = client.post(
        "/api/v1/comments",
        data='{"text": ' + deep + "}",
        content_type="application/json",
        headers=ORIGIN,
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "invalid"
    created = post(client, clock).get_json()
    r = patch(client, created["comment"]["id"], created["edit_token"], raw='{"text": ' + deep + "}")
    assert r.status_code == 400


@pytest.fixture
def api_headers(session, ctx):
    return {"Authorization": f"Bearer {accounts.create_api_token(session, ctx, 'probe')[1]}"}


@pytest.mark.parametrize(
    "query",
    ["q=%00", "uri=/%00", "q=a%0bb", "site=blog%00", "cursor=99999999999999999999", "limit=%00"],
)
def test_moderation_api_malformed_queries_are_400(client, api_headers, query):
    r = client.get(f"/api/v1/moderation/comments?{query}", headers=api_headers)
    assert r.status_code == 400
    assert r.get_json()["error"]["fields"]


@pytest.mark.parametrize("comment_id", [2**31, 2**63, 2**64, 10**30])
def test_moderation_api_ids_out_of_range_are_404(client, api_headers, comment_id):
    r = client.post(f"/api/v1/moderation/comments/{comment_id}/approve", headers=api_headers)
    assert r.status_code == 404  # as an id no comment has (the API's documented answer)
    assert r.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("comment_id", [2**63, 10**30])
def test_widget_ids_out_of_range_are_4xx(client, comment_id):
    r = client.patch(
        f"/api/v1/comments/{comment_id}", json={"text": "x"}, headers={"X-Edit-Token": "x"}
    )
    assert 400 <= r.status_code < 500
    r = client.delete(f"/api/v1/comments/{comment_id}", headers={"X-Edit-Token": "x"})
    assert 400 <= r.status_code < 500


# --- finding 10 (part): the feed's self link ------------------------------------------------------


def test_feed_self_link_comes_from_public_url_not_the_host_header(client, clock):
    post(client, clock)
    for path in ("/feeds/blog/comments.atom", "/feeds/blog/thread.atom?uri=/post/"):
        r = client.get(path, headers={"Host": "evil.example"})
        feed = feedparser.parse(r.data)
        self_links = [link.href for link in feed.feed.links if link.rel == "self"]
        assert self_links == ["https://comments.example.org" + path]


@pytest.mark.parametrize(
    "args", [{"q": "\x00"}, {"uri": "/\x00"}, {"q": "a\u2028b"}, {"site": "\x00"}]
)
def test_the_shared_queue_filter_refuses_control_characters_for_the_dashboard_too(args):
    from moderation.errors import InvalidInput
    from moderation.services import queue_filters

    with pytest.raises(InvalidInput) as refused:
        queue_filters.parse_filter(args, {"blog"})
    assert set(refused.value.fields) == set(args)
