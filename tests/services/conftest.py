"""Fixtures of the service tests. Their `ctx` fetches through a `Fetcher` on the test DNS; the
linkback tests (``test_linkbacks_*.py``) also switch `network` on for every test with
``pytestmark = pytest.mark.usefixtures("network", "fetcher")``.

Sources live on a `FakeSite` on 127.0.0.1 named ``public.test`` through a fake DNS; `network`
fails any attempt to connect beyond loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation.net.fetcher import Fetcher
from moderation.services import Context
from moderation.services.tokens import Tokens
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
def fetcher(dns) -> Fetcher:
    return make_fetcher(dns)


@pytest.fixture
def ctx(settings, clock, fetcher) -> Context:
    """A service context with the test clock, the null scorer and a fetcher on the test DNS."""
    return Context(
        settings=settings, tokens=Tokens.from_settings(settings), clock=clock, fetcher=fetcher
    )
