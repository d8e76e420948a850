"""The public Webmention status resource (finding 10): anyone holding the Location a receipt gave
may read it, so it says why a mention was rejected in generic words only: no host names, no
addresses, no error text of ours. Moderators keep the detailed reason in the audit log.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from sqlalchemy import select

from moderation.domain.states import Action
from moderation.models import Comment, ModerationEvent
from moderation.services.moderation import Actor, apply_action
from tests.fakes.web_site import send
from tests.web.linkback_helpers import TARGET, comments, source

pytestmark = pytest.mark.usefixtures("network", "fetcher")

GENERIC = {
    "the source does not link to the target",
    "the source no longer links to the target",
    "the source could not be fetched",
    "the source is gone",
    "removed by a moderator",
    "rejected by a moderator",
}
LEAKS = re.compile(
    r"\d+\.\d+\.\d+\.\d+|intranet|\[?::1\]?|127\.0\.0\.1|public\.test|Errno|Error|HTTP"
)


def status_of(client, source_url: str) -> dict:
    answer = client.post("/webmention", data={"source": source_url, "target": TARGET})
    assert answer.status_code == 202
    status = client.get(urllib.parse.urlsplit(answer.headers["Location"]).path)
    assert status.status_code == 200
    return status.json


@pytest.mark.parametrize(
    "url",
    [
        "http://intranet.test/reply",  # resolves to 192.168.1.10
        "http://10.0.0.1/reply",
        "http://169.254.169.254/latest/meta-data/",
        "http://mixed.test/reply",
    ],
)
def test_status_of_a_private_source_names_no_host_and_no_address(client, session, url):
    status = status_of(client, url)
    assert status["status"] == "rejected"
    assert status["reason"] == "the source could not be fetched"
    assert not LEAKS.search(status["reason"]), status["reason"]
    # the moderators' audit row keeps the detail
    (comment,) = comments(session)
    reasons = session.scalars(
        select(ModerationEvent.reason).where(ModerationEvent.comment_id == comment.id)
    ).all()
    assert any("non-public address" in r for r in reasons)


def test_status_of_a_source_without_the_link_names_no_url(client, session, source_site):
    url = source(source_site, body=b"<p>No link here.</p>")
    status = status_of(client, url)
    assert status == {
        "status": "rejected",
        "published": False,
        "source": url,
        "target": TARGET,
        "reason": "the source does not link to the target",
    }


def test_status_of_a_source_that_is_gone(client, session, source_site):
    source_site.routes["/gone"] = lambda h: send(h, 410, b"gone")
    status = status_of(client, source_site.url("/gone"))
    assert status["status"] == "deleted"
    assert status["reason"] == "the source is gone"


def test_every_public_reason_is_one_of_the_generic_ones(client, session, source_site, clock):
    for url in ("http://intranet.test/x", source(source_site, body=b"<p>none</p>")):
        clock.advance(60)  # (past the flood rule)
        assert status_of(client, url)["reason"] in GENERIC


def test_a_moderator_s_reason_is_not_shown(client, session, database, ctx, source_site):
    url = source(source_site)
    answer = client.post("/webmention", data={"source": url, "target": TARGET})
    (comment,) = comments(session)
    with database.write() as tx:
        row = tx.get(Comment, comment.id)
        moderator = Actor("moderator:mod@example.org")
        apply_action(tx, ctx, row, Action.delete, moderator, "spammer behind 10.1.2.3")
    status = client.get(urllib.parse.urlsplit(answer.headers["Location"]).path).json
    assert status["status"] == "deleted"
    assert status["reason"] == "removed by a moderator"
