"""Fixtures of the web tests. Their `ctx` (the app's) fetches through the receiving side's
`fetcher`; the linkback endpoint tests (``test_linkbacks_*.py``) also switch `network` on for every
test with ``pytestmark = pytest.mark.usefixtures("network", "fetcher")``.

Sources are `FakeSite` pages named ``public.test`` through a fake DNS; `network` keeps every
connection on loopback.

The dashboard tests (``test_dashboard*.py``) switch `fast_hashes` on the same way; their fixtures
are at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from moderation import passwords
from moderation.net.fetcher import Fetcher
from moderation.services import Context, accounts
from moderation.services.tokens import Tokens
from tests.factories import make_thread
from tests.fakes.web_site import FakeSite, guard_network
from tests.web.dashboard_helpers import PASSWORD, Dashboard
from tests.web.linkback_helpers import receiving_fetcher


@pytest.fixture
def network(monkeypatch):
    # requests (ronkyuu) and urllib (xmlrpc.client) would send loopback traffic to a proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return guard_network(monkeypatch)


@pytest.fixture
def fetcher() -> Fetcher:
    return receiving_fetcher()


@pytest.fixture
def ctx(settings, clock, fetcher) -> Context:
    """A service context with the test clock, the null scorer and the receiving side's fetcher."""
    return Context(
        settings=settings, tokens=Tokens.from_settings(settings), clock=clock, fetcher=fetcher
    )


@pytest.fixture
def source_site() -> Iterator[FakeSite]:
    with FakeSite() as site:
        yield site


# --- the dashboard's tests (test_dashboard.py, test_dashboard_actions.py) ----------------------------


@pytest.fixture
def fast_hashes(monkeypatch):
    """Cheap argon2 parameters: the tests sign in often; what is tested is the flow."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def admin(session, ctx):
    return accounts.add_moderator(session, ctx, "admin@example.org", "admin", PASSWORD)


@pytest.fixture
def moderator(session, ctx):
    return accounts.add_moderator(session, ctx, "mod@example.org", "moderator", PASSWORD)


@pytest.fixture
def dash(client):
    return Dashboard(client)


@pytest.fixture
def as_admin(dash, admin):
    assert dash.login(admin.email).status_code == 303
    return dash


@pytest.fixture
def as_moderator(dash, moderator):
    assert dash.login(moderator.email).status_code == 303
    return dash


@pytest.fixture
def thread(session):
    return make_thread(session, title="Co-production")
