"""The moderation API (``/api/v1/moderation``) with bearer tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind, CommentStatus
from moderation.models import ApiToken, Comment, ModerationEvent, SpamCheck
from moderation.services import accounts
from moderation.web.moderation_api import moderator_comment
from tests.factories import make_comment, make_thread

S = CommentStatus
LIST = "/api/v1/moderation/comments"
C_KEYS = {
    "id",
    "parent",
    "kind",
    "author",
    "website",
    "avatar",
    "html",
    "created",
    "modified",
    "replies",
    "likes",  # votes = "up" (the default)
}
M_KEYS = C_KEYS | {"status", "site", "uri", "email", "ip", "user_agent", "text", "spam"}


@pytest.fixture
def token(session, ctx):
    return accounts.create_api_token(session, ctx, "ci")[1]


@pytest.fixture
def api(client, token):
    class Api:
        headers = {"Authorization": f"Bearer {token}"}

        def get(self, path=LIST, **params):
            return client.get(path, query_string=params, headers=self.headers)

        def post(self, comment_id, action):
            return client.post(f"{LIST}/{comment_id}/{action}", headers=self.headers)

    return Api()


@pytest.fixture
def thread(session):
    return make_thread(session)


def pending(session, thread, **kw):
    return make_comment(session, thread, status=S.pending, **kw)


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer mod_wrong", "Basic dXNlcjpwYXNz", "bearer  "]
)
def test_no_or_bad_token_is_401(client, token, session, thread, header):
    comment = pending(session, thread)
    headers = {"Authorization": header} if header else {}
    for response in (
        client.get(LIST, headers=headers),
        client.post(f"{LIST}/{comment.id}/approve", headers=headers),
        client.post(f"{LIST}/999999/approve", headers=headers),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    session.expire_all()
    assert session.get(Comment, comment.id).status is S.pending


def test_a_revoked_token_is_401(client, token, session, clock):
    row = session.scalars(select(ApiToken)).one()
    row.revoked_at = clock.now
    session.flush()
    response = client.get(LIST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_the_token_scheme_is_case_insensitive_and_use_is_recorded(client, token, session, clock):
    response = client.get(LIST, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiToken)).one().last_used_at == clock.now


def test_list_returns_moderator_views_newest_first(api, session, thread):
    old = pending(session, thread, ip="192.0.2.1", user_agent="UA", text="*old*")
    session.add(
        SpamCheck(
            comment_id=old.id,
            verdict=Verdict.unsure,
            score=1.2,
            submitted={},
            signals=[{"name": "rules.links", "score": 1.2, "reason": "links"}],
        )
    )
    new = pending(session, thread)
    make_comment(session, thread)  # approved
    response = api.get()
    assert response.status_code == 200
    data = response.get_json()
    assert data["next"] is None
    assert [c["id"] for c in data["comments"]] == [new.id, old.id]
    first = data["comments"][1]
    assert set(first) == M_KEYS
    assert first["status"] == "pending"
    assert first["site"] == "blog"
    assert first["uri"] == "/post/"
    assert (first["email"], first["ip"], first["user_agent"]) == (
        "ann@example.org",
        "192.0.2.1",
        "UA",
    )
    assert (first["text"], first["html"]) == ("*old*", "<p><em>old</em></p>")
    assert first["spam"] == {
        "verdict": "unsure",
        "score": 1.2,
        "signals": [{"name": "rules.links", "score": 1.2, "reason": "links"}],
    }


def test_list_keyset_pagination_visits_every_comment_once(api, session, thread):
    made = [pending(session, thread).id for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        data = api.get(**params).get_json()
        seen += [c["id"] for c in data["comments"]]
        cursor = data["next"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == made[::-1]


def test_list_filters(api, session, thread):
    other = make_thread(session, site="other", uri="/x/")
    a = pending(session, thread, text="Buy CHEAP pills")
    b = pending(
        session, other, kind=CommentKind.trackback, source="https://t.example/", verified=True
    )
    spam = make_comment(session, thread, status=S.spam)

    def shown(**params):
        return [c["id"] for c in api.get(**params).get_json()["comments"]]

    assert shown(site="other") == [b.id]
    assert shown(kind="trackback") == [b.id]
    assert shown(q="cheap") == [a.id]
    assert shown(status="spam") == [spam.id]
    linkback = api.get(kind="trackback").get_json()["comments"][0]
    assert (linkback["source"], linkback["verified"]) == ("https://t.example/", True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"status": "unknown"}, "status"),
        ({"cursor": "x"}, "cursor"),
        ({"site": "nope"}, "site"),
        ({"kind": "letter"}, "kind"),
        ({"cursor": str(2**64)}, "cursor"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, params, field):
    response = api.get(**params)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]


def test_actions_answer_the_updated_comment_and_are_audited(api, session, thread):
    comment = pending(session, thread)
    response = api.post(comment.id, "approve")
    assert response.status_code == 200
    data = response.get_json()
    assert (data["id"], data["status"]) == (comment.id, "approved")
    assert set(data) == M_KEYS
    for action, status in (
        ("spam", "spam"),
        ("ham", "approved"),
        ("delete", "deleted"),
        ("restore", "pending"),
    ):
        assert api.post(comment.id, action).get_json()["status"] == status
    session.expire_all()
    events = session.scalars(
        select(ModerationEvent)
        .where(ModerationEvent.comment_id == comment.id)
        .order_by(ModerationEvent.id)
    ).all()
    assert [e.action for e in events] == ["approve", "spam", "ham", "delete", "restore"]
    assert {e.actor for e in events} == {"token:ci"}


def test_an_action_that_does_not_apply_is_409(api, session, thread):
    comment = make_comment(session, thread)
    response = api.post(comment.id, "approve")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"
    assert api.post(comment.id, "restore").status_code == 409


def test_unknown_comment_or_action_is_404(api, session, thread):
    comment = pending(session, thread)
    assert api.post(999_999, "approve").status_code == 404
    assert api.post(2**70, "approve").status_code == 404
    assert api.post(comment.id, "hold").status_code == 404  # not an API action
    assert api.post(comment.id, "explode").status_code == 404


def test_the_api_needs_no_csrf_token(api, session, thread, app):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    comment = pending(session, thread)
    assert api.post(comment.id, "spam").status_code == 200


def test_moderation_api_conforms_to_its_openapi_document(tmp_path):
    """Schemathesis with a valid token (the shared OpenAPI test has none, so it sees only 401s)."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    from moderation.app import create_app
    from moderation.storage import migrations as migrations
    from moderation.storage.db import Database
    from moderation.web import current
    from tests.conftest import make_settings
    from tests.web.test_openapi import CHECKS

    url = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
    migrations.upgrade(url)
    database = Database(url)
    app = create_app(make_settings(tmp_path), database=database)
    ctx = current.parts(app).context
    with database.write() as session:
        token = accounts.create_api_token(session, ctx, "fuzz")[1]
        thread = make_thread(session)
        for i in range(3):
            comment = pending(session, thread, text=f"seed {i}")
            session.add(
                SpamCheck(
                    comment_id=comment.id,
                    verdict=Verdict.unsure,
                    score=1.0,
                    submitted={},
                    signals=[{"name": "x", "score": 1.0, "reason": "r", "verdict": "unsure"}],
                )
            )
        pending(session, thread, kind=CommentKind.pingback, source="https://p.example/")
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [r.ok() for r in document.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/api/v1/moderation/")]
    assert len(operations) == 2
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            statuses.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

        check()
    database.dispose()
    assert {200, 400, 404} <= set(statuses)  # the token worked: real answers, not 401s


def test_moderator_comment_adds_private_fields_and_linkback_evidence(session, ctx):
    thread = make_thread(session)
    comment = pending(session, thread, ip="192.0.2.1", user_agent="UA", text="*hi*")
    check = SpamCheck(
        comment_id=comment.id,
        verdict=Verdict.unsure,
        score=1.5,
        submitted={},
        signals=[{"name": "rules.links", "score": 1.5, "reason": "3 links"}],
    )
    session.add(check)
    session.flush()
    data = moderator_comment(ctx, comment, check)
    assert data["status"] == "pending"
    assert data["site"] == "blog"
    assert data["uri"] == "/post/"
    assert (data["email"], data["ip"], data["user_agent"]) == ("ann@example.org", "192.0.2.1", "UA")
    assert data["text"] == "*hi*"
    assert data["html"] == "<p><em>hi</em></p>"
    assert data["spam"] == {"verdict": "unsure", "score": 1.5, "signals": check.signals}
    assert "source" not in data
    ping = pending(
        session, thread, kind=CommentKind.pingback, source="https://a.example/", verified=True
    )
    data = moderator_comment(ctx, ping, None)
    assert (data["source"], data["verified"]) == ("https://a.example/", True)
    assert data["spam"] == {"verdict": None, "score": None, "signals": []}
