"""``GET /metrics`` (issue 23): who may read it, and that its counters move with what the service
does (a post, a moderator's action, a mail sent, refused or failed, a cache lookup) while its
labels stay bounded. In one process here; `tests/runtime/test_metrics_serve.py` checks that the
workers of `moderation serve` add up. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from moderation.config import ConfigError
from moderation.domain.states import CommentStatus
from moderation.models import ClassifierCutoff, OutboxEntry
from moderation.runtime import metrics as metrics_module
from moderation.services import accounts, mailing, outbox
from moderation.services import spam as spam_service
from moderation.storage.db import Database
from moderation.web.fastpath import THREAD_PATH
from moderation.web.metrics import StateCollector
from tests.conftest import make_settings
from tests.factories import make_comment, make_thread
from tests.fakes.smtp_server import free_port

TOKEN = "a-metrics-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def scrape(client, **environ) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics`` by (name, labels)."""
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1", **environ})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Cache-Control"] == "no-store"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def post_comment(client, uri="/metrics/", text="Counting comments, one by one."):
    return client.post(
        "/api/v1/comments",
        json={"site": "blog", "uri": uri, "text": text, "author": "Ann", "email": "a@example.org"},
        headers={"Origin": "https://blog.example.org"},
    )


def test_a_post_moves_the_request_and_submission_counters(client):
    before = scrape(client)
    r = post_comment(client)
    assert r.status_code == 201, r.json
    after = scrape(client)
    submitted = {"site": "blog", "kind": "comment", "verdict": "ham", "status": "approved"}
    assert value(after, "moderation_submissions_total", **submitted) == (
        value(before, "moderation_submissions_total", **submitted) + 1
    )
    request = {"route": "/api/v1/comments", "method": "POST", "status": "201"}
    assert value(after, "moderation_http_requests_total", **request) == (
        value(before, "moderation_http_requests_total", **request) + 1
    )
    timed = {"route": "/api/v1/comments"}
    assert value(after, "moderation_http_request_duration_seconds_count", **timed) == (
        value(before, "moderation_http_request_duration_seconds_count", **timed) + 1
    )


def test_a_refused_post_is_counted_as_a_request_but_not_as_a_submission(client):
    before = scrape(client)
    r = post_comment(client, text="")
    assert r.status_code == 400
    after = scrape(client)
    total = "moderation_submissions_total"
    assert sum(v for (n, _), v in after.items() if n == total) == sum(
        v for (n, _), v in before.items() if n == total
    )
    request = {"route": "/api/v1/comments", "method": "POST", "status": "400"}
    assert value(after, "moderation_http_requests_total", **request) == (
        value(before, "moderation_http_requests_total", **request) + 1
    )


def test_a_moderators_action_is_counted_by_action_and_kind_of_actor(client, session, ctx):
    thread = make_thread(session)
    held = make_comment(session, thread, status=CommentStatus.pending)
    token = accounts.create_api_token(session, ctx, "metrics")[1]
    before = scrape(client)
    r = client.post(
        f"/api/v1/moderation/comments/{held.id}/approve",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.json
    after = scrape(client)
    labels = {"action": "approve", "actor": "token"}
    assert value(after, "moderation_moderation_actions_total", **labels) == (
        value(before, "moderation_moderation_actions_total", **labels) + 1
    )


def test_thread_reads_count_cache_misses_then_hits(client):
    assert post_comment(client, uri="/cached/").status_code == 201
    query = {"site": "blog", "uri": "/cached/"}
    before = scrape(client)
    assert client.get(THREAD_PATH, query_string=query).status_code == 200  # built: a miss
    assert client.get(THREAD_PATH, query_string=query).status_code == 200  # the fast path: a hit
    after = scrape(client)
    hits = value(after, "moderation_cache_lookups_total", layer="shared", result="hit") + value(
        after, "moderation_cache_lookups_total", layer="answers", result="hit"
    )
    hits_before = value(
        before, "moderation_cache_lookups_total", layer="shared", result="hit"
    ) + value(before, "moderation_cache_lookups_total", layer="answers", result="hit")
    misses = "moderation_cache_lookups_total"
    assert value(after, misses, layer="shared", result="miss") == (
        value(before, misses, layer="shared", result="miss") + 1
    )
    assert hits == hits_before + 1
    read = {"route": THREAD_PATH, "method": "GET", "status": "200"}
    assert value(after, "moderation_http_requests_total", **read) == (
        value(before, "moderation_http_requests_total", **read) + 2
    )  # one answered by Flask, one by the fast path: both counted once
    timed = {"route": THREAD_PATH}
    assert value(after, "moderation_http_request_duration_seconds_count", **timed) == (
        value(before, "moderation_http_request_duration_seconds_count", **timed) + 2
    )
    fast = {"route": THREAD_PATH, "le": "10.0"}
    assert value(after, "moderation_http_request_duration_seconds_bucket", **fast) == (
        value(before, "moderation_http_request_duration_seconds_bucket", **fast) + 2
    )


class Refusing:
    """An SMTP server that refuses every recipient for good (550)."""

    async def handle_RCPT(self, server, session, envelope, address, options):
        return "550 5.1.1 no such user here"


def message(to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "comments@example.org", to, "Counting mails"
    mail.set_content("One mail.")
    return mail


def test_mails_are_counted_as_sent_refused_failed_and_suppressed(client, database, ctx, smtp):
    def deliver_via(port: int, to: str) -> bool:
        settings = make_settings(
            ctx.settings.data_path.parent, **{"mail.smtp_host": "127.0.0.1", "mail.smtp_port": port}
        )
        return mailing.deliver(database, replace(ctx, settings=settings), message(to), to)

    before = scrape(client)
    assert deliver_via(smtp.port, "reader@example.org") is True
    refusing = Controller(Refusing(), hostname="127.0.0.1", port=free_port(), ready_timeout=5.0)
    refusing.start()
    try:
        assert deliver_via(refusing.port, "gone@example.org") is False
    finally:
        refusing.stop()
    assert deliver_via(smtp.port, "gone@example.org") is False  # suppressed now: not even tried
    with pytest.raises(ConnectionRefusedError):
        deliver_via(free_port(), "reader@example.org")  # nobody listens: tried again later
    after = scrape(client)
    for outcome in ("sent", "refused", "suppressed", "failed"):
        assert value(after, "moderation_mails_total", outcome=outcome) == (
            value(before, "moderation_mails_total", outcome=outcome) + 1
        ), outcome
    assert len(smtp.messages) == 1


def test_the_outbox_backlog_and_dead_letters_are_read_at_scrape_time(client, session, ctx, clock):
    waiting = scrape(client)
    assert value(waiting, "moderation_database_up") == 1
    first = outbox.enqueue(session, ctx, "mail", {"to": "x@example.org"})
    outbox.enqueue(session, ctx, "mail", {"to": "y@example.org"})
    session.commit()
    clock.advance(90)
    after = scrape(client)
    assert value(after, "moderation_outbox_backlog", kind="mail") == 2
    assert value(after, "moderation_outbox_oldest_age_seconds") >= 90
    entry = session.get(OutboxEntry, first)
    entry.dead_at = ctx.clock()
    session.flush()
    dead = scrape(client)
    assert value(dead, "moderation_outbox_backlog", kind="mail") == 1
    assert value(dead, "moderation_outbox_dead_letters", kind="mail") == 1
    assert value(dead, "moderation_job_consumer_heartbeat_age_seconds") == -1  # never beat


def test_each_sites_spam_cut_offs_are_read_at_scrape_time(client, session, clock):
    shipped = spam_service.base_model().cutoffs
    cold = scrape(client)
    for name in ("spam", "unsure"):
        assert value(cold, "moderation_spam_cutoff_shipped", cutoff=name) == getattr(shipped, name)
        for site in ("blog", "other"):
            assert value(cold, "moderation_spam_cutoff", site=site, cutoff=name) == getattr(
                shipped, name
            )
    session.add(
        ClassifierCutoff(
            site="blog",
            unsure=0.5,
            spam=0.9995,
            ham_decisions=3,
            spam_decisions=0,
            updated_at=clock(),
        )
    )
    session.commit()
    raised = scrape(client)
    assert value(raised, "moderation_spam_cutoff", site="blog", cutoff="spam") == 0.9995
    assert value(raised, "moderation_spam_cutoff", site="other", cutoff="spam") == shipped.spam
    assert value(raised, "moderation_spam_cutoff_shipped", cutoff="spam") == shipped.spam


def test_labels_stay_bounded_whatever_the_paths_and_methods(client):
    junk = [f"/no/such/{uuid.uuid4().hex}" for _ in range(5)]
    for path in junk:
        assert client.get(path).status_code == 404
    assert client.open("/healthz", method="BREW").status_code == 405
    text = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert not any(path in text for path in junk)
    assert "BREW" not in text
    samples = scrape(client)
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(samples, "moderation_http_requests_total", **unmatched) >= 5
    routes = {dict(labels).get("route") for (name, labels) in samples if "http" in name}
    assert all(route == "unmatched" or route.startswith("/") for route in routes if route)
    assert not any("@" in str(labels) for (_, labels) in samples)  # no e-mail is ever a label


@pytest.mark.parametrize("address", ["203.0.113.9", "10.1.2.3", "2001:db8::1"])
def test_metrics_are_refused_from_other_addresses(client, address):
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert r.status_code == 403
    assert r.json["error"]["code"] == "forbidden"
    assert "moderation_" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "settings",
    [{"metrics.token": TOKEN, "metrics.allow": ["192.0.2.0/24"], "guard.trusted_proxies": ["::1"]}],
    indirect=True,
)
def test_allowed_networks_tokens_and_proxies(client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.77"}).status_code == 200
    # Loopback is no longer allowed once [metrics] allow lists something else.
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", environ_base=outside, headers=bearer).status_code == 200
    wrong = {"Authorization": f"Bearer {TOKEN}x"}
    assert client.get("/metrics", environ_base=outside, headers=wrong).status_code == 403
    # Behind the trusted proxy, the forwarded client decides, not the proxy's own address.
    proxy = {"REMOTE_ADDR": "::1"}
    for client_address, code in (("203.0.113.9", 403), ("192.0.2.5", 200)):
        r = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": client_address})
        assert r.status_code == code, client_address


def test_the_sample_grafana_dashboard_names_only_metrics_we_expose(client, session, ctx):
    """docs/grafana-dashboard.json: every metric its queries use is one ``/metrics`` serves."""
    thread = make_thread(session)
    held = make_comment(session, thread, status=CommentStatus.pending)
    token = accounts.create_api_token(session, ctx, "grafana")[1]
    client.post(
        f"/api/v1/moderation/comments/{held.id}/approve",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert post_comment(client, uri="/grafana/").status_code == 201
    outbox.enqueue(session, ctx, "mail", {"to": "x@example.org"})
    session.commit()
    text = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    families = {family.name for family in text_string_to_metric_families(text)} | {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bmoderation_[a-z_]+", target["expr"])
    }
    assert len(used) >= 10
    # Families not yet seen in this process (no Akismet call, mail or verification here) still
    # have to be ours: their names come from the module that defines them.
    defined = {m._name for m in vars(metrics_module).values() if hasattr(m, "_name")}
    known = families | {f"{n}_total" for n in defined} | {f"{n}_bucket" for n in defined}
    assert used <= known, used - known


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"metrics.allow": ["10.0.0.0/8", "not-a-network"]}, "[metrics] allow: 'not-a-network'"),
        ({"metrics.token": "short"}, "[metrics] token: at least 16 characters"),
    ],
)
def test_a_bad_metrics_setting_stops_the_start(tmp_path, override, message):
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **override)
    assert message in str(caught.value)


def test_a_database_that_does_not_answer_still_leaves_a_scrape(tmp_path):
    """The outbox gauges go, `moderation_database_up` says 0, the heartbeat is still read."""
    gone = Database(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}")
    try:
        families = list(StateCollector(gone, lambda: 2.5).collect())
    finally:
        gone.dispose()
    values = {f.name: [s.value for s in f.samples] for f in families}
    assert values == {
        "moderation_database_up": [0.0],
        "moderation_job_consumer_heartbeat_age_seconds": [2.5],
    }
