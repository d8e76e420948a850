"""Finding 8: the sign-in throttle stops guessing without handing anyone a lock-out.

Failures count per (address, IP) and per IP; the per-address ceiling only narrows what IPs that
already failed for that address may try. The real moderator, from an IP that has not failed, signs
in with the right password whatever strangers did to their address.
"""

from __future__ import annotations

import pytest

from moderation.web import auth
from tests.web.dashboard_helpers import Dashboard, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


def ip(n: int) -> dict[str, str]:
    return {"REMOTE_ADDR": f"198.51.{n // 250}.{n % 250 + 1}"}


HOME = {"REMOTE_ADDR": "192.0.2.200"}


def test_strangers_failing_for_an_address_do_not_lock_its_moderator_out(dash, admin):
    for _ in range(6):  # the probe: 5 (here 6) wrong passwords for the address, from one IP
        dash.login(admin.email, "wrong", environ_overrides=ip(0))
    assert dash.login(admin.email, environ_overrides=HOME).status_code == 303


def test_many_ips_failing_past_the_ceiling_do_not_lock_out_a_fresh_ip(dash, admin):
    attempts = auth.ADDRESS_CEILING.amount + 5
    for n in range(attempts):
        assert dash.login(admin.email, "wrong", environ_overrides=ip(n)).status_code == 401
    # over the ceiling, an IP that failed for the address gets no more tries for it ...
    refused = dash.login(admin.email, environ_overrides=ip(0))
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in text(refused)
    # ... and a new IP gets a single try, which the right password passes
    assert dash.login(admin.email, environ_overrides=HOME).status_code == 303


def test_over_the_ceiling_a_new_ip_gets_one_try_per_window(dash, admin):
    for n in range(auth.ADDRESS_CEILING.amount):
        dash.login(admin.email, "wrong", environ_overrides=ip(n))
    fresh = ip(999)
    assert dash.login(admin.email, "wrong", environ_overrides=fresh).status_code == 401
    assert dash.login(admin.email, environ_overrides=fresh).status_code == 429


def test_the_pair_is_throttled_after_five_failures(dash, admin):
    for _ in range(auth.PAIR_LIMIT.amount):
        assert dash.login(admin.email, "wrong", environ_overrides=ip(1)).status_code == 401
    response = dash.login(admin.email, environ_overrides=ip(1))  # even the right password
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 800
    assert "Try again in 15 minutes." in text(response)


def test_one_ip_spraying_addresses_is_throttled(dash, admin):
    for n in range(auth.IP_LIMIT.amount):
        dash.login(f"nobody{n}@example.org", "wrong", environ_overrides=ip(2))
    response = dash.login(admin.email, environ_overrides=ip(2))
    assert response.status_code == 429
    assert dash.login(admin.email, environ_overrides=HOME).status_code == 303


def test_an_ipv6_network_counts_as_one_ip(dash, admin):
    for n in range(auth.IP_LIMIT.amount):
        host = {"REMOTE_ADDR": f"2001:db8:1:2::{n + 1:x}"}
        dash.login(f"nobody{n}@example.org", "wrong", environ_overrides=host)
    other_host = {"REMOTE_ADDR": "2001:db8:1:2:ffff::1"}
    assert dash.login(admin.email, environ_overrides=other_host).status_code == 429
    other_network = {"REMOTE_ADDR": "2001:db8:1:3::1"}
    assert dash.login(admin.email, environ_overrides=other_network).status_code == 303


def test_a_success_clears_the_pairs_failures(app, dash, admin):
    for _ in range(auth.PAIR_LIMIT.amount - 1):
        dash.login(admin.email, "wrong", environ_overrides=ip(3))
    assert dash.login(admin.email, environ_overrides=ip(3)).status_code == 303
    later = Dashboard(app.test_client())
    for _ in range(auth.PAIR_LIMIT.amount):  # a fresh allowance after the success
        assert later.login(admin.email, "wrong", environ_overrides=ip(3)).status_code == 401
    assert later.login(admin.email, environ_overrides=ip(3)).status_code == 429
