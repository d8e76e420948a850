"""``/metrics`` of a real `moderation serve` with two worker processes and its job consumer: every
process counts into one directory, and one scrape from any worker adds them all up (issue 23)."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.runtime.test_serve import CONFIG, free_port, migrate, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics-serve")
    port = free_port()
    cli = migrate(tmp, CONFIG.format(port=port).replace("5 per minute", "50/minute"))
    # Files a previous server left behind (of processes long gone) must not be added up.
    stale = tmp / "var" / "metrics"
    stale.mkdir(parents=True)
    (stale / "counter_999999999.db").write_bytes(b"\0" * 16)
    for base, _log, _pid in serving(tmp, port, cli):
        yield base, tmp


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    r = httpx.get(f"{base}/metrics")
    assert r.status_code == 200, r.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_answered_by_either_worker_all_count(served):
    base, tmp = served
    assert not (tmp / "var" / "metrics" / "counter_999999999.db").exists()
    before = scrape(base)
    for _ in range(30):  # a new connection each: the kernel spreads them over both workers
        with httpx.Client() as fresh:
            assert fresh.get(f"{base}/healthz").status_code == 200
    after = scrape(base)
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(after, "moderation_http_requests_total", **labels) == (
        value(before, "moderation_http_requests_total", **labels) + 30
    )
    files = sorted(p.name for p in (tmp / "var" / "metrics").glob("histogram_*.db"))
    assert len(files) >= 2, files  # both workers answered (and each wrote its own file)


def test_a_post_in_a_worker_and_a_verification_in_the_consumer_count(served):
    base, _ = served
    before = scrape(base)
    r = httpx.post(
        f"{base}/api/v1/comments",
        json={"site": "demo", "uri": "/demo/", "text": "Counted once", "email": "a@example.org"},
    )
    assert r.status_code == 201, r.text
    # A Webmention whose source is on a private address: accepted, then refused by the consumer's
    # hardened fetcher (no outbound fetch to private addresses).
    mention = httpx.post(
        f"{base}/webmention",
        data={"source": "http://10.0.0.1/post", "target": f"{base}/demo/"},
    )
    assert mention.status_code in (201, 202), mention.text
    submitted = {"site": "demo", "kind": "comment", "verdict": "ham", "status": "approved"}
    refused = {"kind": "webmention", "outcome": "refused"}
    deadline = time.monotonic() + 30
    while True:
        after = scrape(base)
        if (
            value(after, "moderation_linkback_verifications_total", **refused)
            > value(before, "moderation_linkback_verifications_total", **refused)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.3)
    assert value(after, "moderation_submissions_total", **submitted) == (
        value(before, "moderation_submissions_total", **submitted) + 1
    )
    assert value(after, "moderation_linkback_verifications_total", **refused) == (
        value(before, "moderation_linkback_verifications_total", **refused) + 1
    )
    assert 0 <= value(after, "moderation_job_consumer_heartbeat_age_seconds") < 5
    assert value(after, "moderation_database_up") == 1
