"""`metrics.Batched`: the fast path's tallies reach the metrics exactly as direct calls would, only
later (issue 23: metrics must cost the hot path next to nothing)."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from moderation.runtime import metrics


def pair(name: str) -> tuple[Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter(f"{name}_c", "counted", ["route"], registry=registry)
    histogram = Histogram(
        f"{name}_h", "timed", ["route"], buckets=metrics.LATENCY_BUCKETS, registry=registry
    )
    return counter, histogram


def test_a_flush_adds_what_direct_calls_would_have_bound_for_bound():
    batched_c, batched_h = pair("batched")
    direct_c, direct_h = pair("direct")
    batch = metrics.Batched(every=3600)
    durations = [0.0004, 0.001, 0.001000001, 0.0025, 0.3, 9.99, 10.0, 42.0] * 3
    for seconds in durations:
        batch.add(batched_c.labels("/r"), batched_h.labels("/r"), seconds, now=0.0)
        direct_c.labels("/r").inc()
        direct_h.labels("/r").observe(seconds)
    # The first call was due (a new batch flushes at once); the rest wait for the next flush.
    assert batched_c.labels("/r")._value.get() == 1
    metrics.flush_all()

    def samples(metric, name):
        return [
            (s.name.removeprefix(name), s.labels, s.value)
            for m in metric.collect()
            for s in m.samples
            if not s.name.endswith("_created")
        ]

    assert samples(batched_c, "batched") == samples(direct_c, "direct")
    batched, direct = samples(batched_h, "batched"), samples(direct_h, "direct")
    assert [s for s in batched if s[0] != "_h_sum"] == [s for s in direct if s[0] != "_h_sum"]
    (batched_sum,) = (s[2] for s in batched if s[0] == "_h_sum")
    (direct_sum,) = (s[2] for s in direct if s[0] == "_h_sum")
    assert batched_sum == pytest.approx(direct_sum, rel=1e-12)  # summed in another order


def test_counts_from_many_threads_are_not_lost():
    counter, _ = pair("threads")
    batch = metrics.Batched(every=3600)
    child = counter.labels("/r")

    def work():
        for _ in range(5000):
            batch.count(child)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch.flush()
    assert child._value.get() == 20000
