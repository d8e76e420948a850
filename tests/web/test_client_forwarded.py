"""X-Forwarded-For from a trusted proxy (finding 10): each hop is validated as an address; ports and
brackets are taken off (``1.2.3.4:5678``, ``[2001:db8::1]:80``), so a proxy that writes the
client's port cannot give every connection a rate-limit key of its own; garbage is never a
client address (we fall back to the peer); the right-most untrusted valid address wins.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from moderation.app import create_app
from moderation.services.tokens import Tokens
from moderation.web.client import client_ip, parse_networks
from tests.conftest import make_settings

PROXY = "10.0.0.5"
NETS = parse_networks(["10.0.0.0/8", "fd00::/8"])


def from_proxy(*forwarded: str, peer: str = PROXY):
    headers = Headers([("X-Forwarded-For", value) for value in forwarded])
    return EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_request()


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:5678", "203.0.113.7"),
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ('"[2001:db8::1]:443"', "2001:db8::1"),
    ],
)
def test_one_hop_in_any_usual_form_gives_the_bare_address(forwarded, expected):
    assert client_ip(from_proxy(forwarded), NETS) == expected


def test_two_ports_of_one_client_are_one_key():
    first = client_ip(from_proxy("203.0.113.7:1111"), NETS)
    assert first == client_ip(from_proxy("203.0.113.7:2222"), NETS)


@pytest.mark.parametrize(
    "forwarded",
    [
        "garbage",
        "unknown",
        "203.0.113.7:99999",
        "203.0.113.7:port",
        "[2001:db8::1",
        "999.1.1.1",
        "1.2.3.4.5",
        "_hidden",
        "' OR 1=1 --",
        "203.0.113.7\x00",
        "",
        ",,,",
    ],
)
def test_garbage_is_never_the_client_address_the_peer_is(forwarded):
    assert client_ip(from_proxy(forwarded), NETS) == PROXY


def test_garbage_right_of_a_valid_hop_is_not_skipped_over():
    """Whatever a trusted proxy appended is valid; garbage there means the header cannot be
    trusted further left (the client may have written it): the peer it is."""
    assert client_ip(from_proxy("6.6.6.6, junk"), NETS) == PROXY


def test_garbage_left_of_the_hop_the_proxy_appended_is_ignored():
    assert client_ip(from_proxy("junk, 203.0.113.7:40000"), NETS) == "203.0.113.7"


def test_the_right_most_untrusted_valid_address_wins_across_trusted_hops():
    forwarded = "6.6.6.6, [2001:db8::7]:443, fd00::1, 10.1.2.3:8080"
    assert client_ip(from_proxy(forwarded), NETS) == "2001:db8::7"


def test_several_headers_are_read_as_one_list_in_order():
    assert client_ip(from_proxy("6.6.6.6", "203.0.113.7, 10.1.1.1"), NETS) == "203.0.113.7"


def test_many_values_are_bounded_and_still_answer():
    forwarded = ", ".join(["10.9.9.9"] * 5000 + ["203.0.113.7"])
    assert client_ip(from_proxy(forwarded), NETS) == "203.0.113.7"
    only_trusted = ", ".join(["10.9.9.9"] * 5000)
    assert client_ip(from_proxy(only_trusted), NETS) == PROXY


def test_every_hop_trusted_gives_the_left_most():
    assert client_ip(from_proxy("10.1.1.1:5, 10.2.2.2"), NETS) == "10.1.1.1"


def test_an_untrusted_peer_s_header_is_ignored_whatever_it_says():
    assert client_ip(from_proxy("203.0.113.7", peer="198.51.100.9"), NETS) == "198.51.100.9"


def test_a_client_behind_a_proxy_cannot_dodge_the_rate_limit_with_ports(tmp_path, database, ctx):
    settings = make_settings(
        tmp_path, **{"guard.rate_limit": "1 per minute", "guard.trusted_proxies": ["10.0.0.0/8"]}
    )
    context = replace(ctx, settings=settings, tokens=Tokens.from_settings(settings))
    client = create_app(settings, database=database, context=context).test_client()

    def ping(port: int) -> int:
        headers = {"X-Forwarded-For": f"203.0.113.7:{port}"}
        environ = {"REMOTE_ADDR": PROXY}
        return client.post(
            "/trackback/blog/post/", headers=headers, environ_base=environ
        ).status_code

    assert ping(1111) == 200  # (an error response: no url; counted all the same)
    assert ping(2222) == 429
