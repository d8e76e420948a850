"""After an erasure (the CLI's service function, or a reader's own request through ``/privacy/``)
the erased address, name, website and IP appear in no answer the service gives: the widget's
thread JSON and counts, the Atom feeds, and the moderators' dashboard (queue, comment pages, audit
log). Asserted on the real response bodies, which are checked to show them before the erasure;
the thread's cached JSON is replaced (its version is bumped)."""

import hashlib
import hmac
import re

import pytest
from sqlalchemy import select

from moderation.domain.states import CommentStatus
from moderation.models import Comment, Thread
from moderation.services import privacy, threads
from moderation.web import current
from tests.conftest import SITE_URL, make_settings
from tests.factories import make_comment, make_thread

pytestmark = pytest.mark.usefixtures("fast_hashes")  # the dashboard's sign-in (conftest.py)

ORIGIN = "https://comments.example.org"
EMAIL = "annabel@example.org"
NAME = "Annabel Quux"
WEBSITE = "https://annabel-quux.example.net/"
IP = "198.51.100.77"
THREAD_JSON = "/api/v1/threads/comments?site=blog&uri=/post/"
LINK = re.compile(r"https://comments\.example\.org(/privacy/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def settings(tmp_path, smtp):
    """Gravatar on, so the thread JSON would carry the address's MD5 while it is kept."""
    return make_settings(tmp_path, **smtp.settings(), **{"sites.blog.gravatar": True})


@pytest.fixture
def annabel(session):
    """Annabel's published comment (with Bob's reply, mentioning nothing of hers), her held one,
    and one on another page."""
    thread = make_thread(session, title="Co-production")
    kept = {"author": NAME, "email": EMAIL, "website": WEBSITE, "ip": IP, "user_agent": "UA/1"}
    published = make_comment(session, thread, text="Published words.", **kept)
    make_comment(session, thread, author="Bob", email="bob@example.org", parent_id=published.id)
    held = make_comment(session, thread, text="Held words.", status=CommentStatus.pending, **kept)
    elsewhere = make_comment(
        session, make_thread(session, uri="/other/"), text="Other words.", **kept
    )
    return [published.id, held.id, elsewhere.id]


def secrets_of(app):
    """What must not be shown after the erasure: the data, and the hashes derived from it."""
    ctx = current.parts(app).context
    key = ctx.settings.server.secret_key[-1].encode()
    keyed = hmac.new(key, b"avatar:" + EMAIL.encode(), hashlib.sha256).hexdigest()[:20]
    return [
        EMAIL,
        NAME,
        "annabel-quux.example.net",
        IP,
        hashlib.md5(EMAIL.encode(), usedforsecurity=False).hexdigest(),  # Gravatar's
        keyed,  # the identicon's
    ]


def public_bodies(client):
    """Every public answer that shows comments of the blog's two pages, by name."""
    origin = {"Origin": SITE_URL}
    paths = {
        "thread JSON": THREAD_JSON,
        "other thread JSON": "/api/v1/threads/comments?site=blog&uri=/other/",
        "counts": "/api/v1/counts?site=blog&uri=/post/&uri=/other/",
        "site feed": "/feeds/blog/comments.atom",
        "thread feed": "/feeds/blog/thread.atom?uri=/post/",
        "other thread feed": "/feeds/blog/thread.atom?uri=/other/",
    }
    bodies = {}
    for name, path in paths.items():
        response = client.get(path, headers=origin)
        assert response.status_code == 200, (name, response.status_code)
        bodies[name] = response.get_data(as_text=True)
    return bodies


def dashboard_bodies(dash, comment_ids):
    """The dashboard's queue tabs, each comment's page and the audit log, by name."""
    paths = {f"queue {s.value}": f"/moderate/?status={s.value}" for s in CommentStatus}
    paths |= {f"comment {cid}": f"/moderate/comments/{cid}" for cid in comment_ids}
    paths["audit log"] = "/moderate/audit"
    bodies = {}
    for name, path in paths.items():
        response = dash.get(path)
        assert response.status_code == 200, (name, response.status_code)
        bodies[name] = response.get_data(as_text=True)
    return bodies


def erase_by_service(app, database, client, smtp, delete):
    """What ``moderation privacy erase`` does."""
    with database.write() as tx:
        count = privacy.erase_personal_data(tx, current.parts(app).context, EMAIL, delete=delete)
    assert count == 3


def erase_by_page(app, database, client, smtp, delete):
    """A reader's own request: the form, the mailed link, the button."""
    form = {"site": "blog", "email": EMAIL, "action": "erase"}
    form["erase"] = "delete" if delete else "anonymise"
    headers = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/privacy/", data=form, headers=headers, base_url=ORIGIN).status_code == 200
    (mail,) = smtp.messages
    (path,) = set(LINK.findall(mail.text))
    assert client.post(path, headers=headers, base_url=ORIGIN).status_code == 200


@pytest.mark.parametrize("erase", [erase_by_service, erase_by_page], ids=["service", "page"])
@pytest.mark.parametrize("delete", [False, True], ids=["anonymise", "delete"])
def test_the_erased_data_appears_in_no_answer(
    app, client, database, session, smtp, as_moderator, annabel, erase, delete
):
    hidden = secrets_of(app)
    thread = session.scalars(select(Thread).where(Thread.uri == "/post/")).one()
    ctx = current.parts(app).context
    before_key = threads.cache_key(ctx, "blog", thread)
    before_json = client.get(THREAD_JSON, headers={"Origin": SITE_URL})
    assert current.parts(app).cache.get(before_key) is not None  # the thread's JSON is cached

    # Before: the answers do show them (or these checks could not fail).
    public = "\n".join(public_bodies(client).values())
    dashboard = "\n".join(dashboard_bodies(as_moderator, annabel).values())
    for value in (NAME, "annabel-quux.example.net", hidden[4]):
        assert value in public
    for value in (NAME, EMAIL, IP):
        assert value in dashboard

    erase(app, database, client, smtp, delete)

    for name, body in (
        public_bodies(client).items() | dashboard_bodies(as_moderator, annabel).items()
    ):
        for value in hidden:
            assert value not in body, f"{value!r} is still in the {name}"
    assert as_moderator.rows(f"/moderate/?status=approved&q={NAME.split()[0]}") == []

    # The thread's version was bumped: its JSON is built and cached anew, under another key.
    session.expire_all()
    thread = session.get(Thread, thread.id)
    after_key = threads.cache_key(ctx, "blog", thread)
    assert after_key != before_key
    after_json = client.get(THREAD_JSON, headers={"Origin": SITE_URL})
    assert after_json.headers["ETag"] != before_json.headers["ETag"]
    cached = current.parts(app).cache.get(after_key)
    assert cached is not None
    assert NAME.encode() not in cached
    assert NAME.encode() in before_json.get_data()
    if delete:
        statuses = session.scalars(select(Comment.status).where(Comment.id.in_(annabel))).all()
        assert set(statuses) == {CommentStatus.deleted}
        assert "Published words." not in after_json.get_data(as_text=True)
    else:
        assert "Published words." in after_json.get_data(as_text=True)
