"""``GET /metrics`` (Prometheus' text format) and the per-request counters behind it.

Who may scrape: a client whose address (behind `[guard] trusted_proxies`, as everywhere) is in
``[metrics] allow``, or any client presenting ``[metrics] token`` as a bearer token. Anyone else
gets 403 in the API's error shape. The answer is never cached.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, g, request
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from moderation.models import ClassifierCutoff, OutboxEntry
from moderation.runtime import metrics
from moderation.services import spam as spam_service
from moderation.storage.db import Database, as_utc
from moderation.web import current
from moderation.web.client import client_ip, parse_networks
from moderation.web.errors import json_error
from moderation.web.public import consumer_heartbeat

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404, a bad method)


@bp.get("/metrics")
def scrape() -> Response:
    """Every metric of this instance's processes, and the outbox and consumer state read now."""
    if not _may_scrape():
        return json_error(
            403, "forbidden", "metrics are served to [metrics] allow addresses or with its token"
        )
    metrics.flush_all()  # this process's fast-path tallies (other workers' are at most 1 s late)
    body = metrics.render(
        StateCollector(
            current.database(), consumer_heartbeat().age, sorted(current.settings().sites)
        )
    )
    response = Response(body, content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


class StateCollector:
    """Gauges read from the database (and the consumer's heartbeat) at scrape time."""

    def __init__(
        self,
        database: Database,
        heartbeat_age: Callable[[], float | None] | None,
        sites: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.heartbeat_age = heartbeat_age
        self.sites = list(sites)

    def collect(self) -> Iterator[Metric]:
        """The outbox backlog, the age of its oldest waiting entry, dead letters, each site's spam
        cut-offs beside the shipped ones, the heartbeat."""
        backlog = GaugeMetricFamily(
            "moderation_outbox_backlog",
            "Side effects (mails, Akismet feedback, verifications) waiting to run, by kind.",
            labels=["kind"],
        )
        dead = GaugeMetricFamily(
            "moderation_outbox_dead_letters",
            "Side effects given up after their last attempt, waiting for an admin, by kind.",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "moderation_outbox_oldest_age_seconds",
            "Age of the oldest side effect still waiting (0 when none waits).",
        )
        cutoff = GaugeMetricFamily(
            "moderation_spam_cutoff",
            "A site's classifier cut-offs now (spam, unsure: held), calibrated from its "
            "moderators' decisions; the shipped ones until it has any.",
            labels=["site", "cutoff"],
        )
        shipped_cutoff = GaugeMetricFamily(
            "moderation_spam_cutoff_shipped",
            "The shipped model's classifier cut-offs (spam, unsure), every site's cold start.",
            labels=["cutoff"],
        )
        now = time.time()
        waiting = OutboxEntry.done_at.is_(None) & OutboxEntry.dead_at.is_(None)
        up = GaugeMetricFamily(
            "moderation_database_up", "Whether the database answered the scrape."
        )
        try:
            with self.database.read() as session:
                for kind, count in session.execute(
                    select(OutboxEntry.kind, func.count()).where(waiting).group_by(OutboxEntry.kind)
                ):
                    backlog.add_metric([kind], count)
                for kind, count in session.execute(
                    select(OutboxEntry.kind, func.count())
                    .where(OutboxEntry.dead_at.is_not(None))
                    .group_by(OutboxEntry.kind)
                ):
                    dead.add_metric([kind], count)
                first: datetime | None = session.scalar(
                    select(func.min(OutboxEntry.created_at)).where(waiting)
                )
                calibrated = {
                    row.site: row
                    for row in session.execute(
                        select(
                            ClassifierCutoff.site, ClassifierCutoff.unsure, ClassifierCutoff.spam
                        )
                    )
                }
        except Exception as exc:  # the scrape still shows the processes' metrics, and this
            log.warning("metrics: the outbox could not be read: %s", exc)
            up.add_metric([], 0)
            yield up
        else:
            oldest.add_metric([], max(now - as_utc(first).timestamp(), 0.0) if first else 0.0)
            up.add_metric([], 1)
            shipped = spam_service.base_model().cutoffs
            for name in ("spam", "unsure"):
                shipped_cutoff.add_metric([name], getattr(shipped, name))
            for site in self.sites:
                now_cut = calibrated.get(site, shipped)
                cutoff.add_metric([site, "spam"], now_cut.spam)
                cutoff.add_metric([site, "unsure"], now_cut.unsure)
            yield from (up, backlog, dead, oldest, cutoff, shipped_cutoff)
        if self.heartbeat_age is not None:
            age = self.heartbeat_age()
            beat = GaugeMetricFamily(
                "moderation_job_consumer_heartbeat_age_seconds",
                "Seconds since the job consumer last showed it was alive (-1: never).",
            )
            beat.add_metric([], -1.0 if age is None else age)
            yield beat


def _may_scrape() -> bool:
    settings = current.settings().metrics
    header = request.headers.get("Authorization", "")
    offered = header[7:].strip().encode() if header.startswith("Bearer ") else b""
    if settings.token and hmac.compare_digest(offered, settings.token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _allowed(current_app))


def _allowed(app: Flask) -> tuple[Any, ...]:
    networks = app.extensions.get("moderation.metrics.allow")
    if networks is None:
        networks = parse_networks(current.parts(app).context.settings.metrics.allow)
        app.extensions["moderation.metrics.allow"] = networks
    return networks


def init_request_metrics(app: Flask) -> None:
    """Count every request Flask answers, and time it, by route template (never the path)."""
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED
            method = request.method if request.method in _METHODS else "OTHER"
            key = (rule, method, response.status_code)
            pair = children.get(key)
            if pair is None:
                pair = children[key] = (
                    metrics.REQUESTS.labels(rule, method, str(response.status_code)),
                    metrics.REQUEST_SECONDS.labels(rule),
                )
            pair[0].inc()
            pair[1].observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
