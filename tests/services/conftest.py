"""Fixtures of the linkback service tests (``test_linkbacks_*.py``), which switch `network` and
`fetcher` on for every test with ``pytestmark = pytest.mark.usefixtures("network", "fetcher")``.

Sources live on a `FakeSite` on 127.0.0.1 named ``public.test`` through a fake DNS; `network`
fails any attempt to connect beyond loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation.net.fetcher import Fetcher
from tests.fakes.web_site import FakeSite, Network, default_dns, guard_network
from tests.services.linkback_helpers import make_fetcher


@pytest.fixture
def network(monkeypatch) -> Network:
    return guard_network(monkeypatch)


@pytest.fixture
def dns():
    return default_dns()


@pytest.fixture
def source_site() -> Iterator[FakeSite]:
    with FakeSite() as site:
        yield site


@pytest.fixture
def fetcher(ctx, dns) -> Fetcher:
    ctx.extras["fetcher"] = make_fetcher(dns)
    return ctx.extras["fetcher"]
