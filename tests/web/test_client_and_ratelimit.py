import multiprocessing
import time

from werkzeug.test import EnvironBuilder

from moderation.web.client import client_ip, parse_networks
from moderation.web.ratelimit import SQLiteStorage, storage_uri


def request_from(peer, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_request()


def test_client_ip_ignores_forwarded_for_from_untrusted_peer():
    req = request_from("198.51.100.9", "1.2.3.4")
    assert client_ip(req, parse_networks([])) == "198.51.100.9"
    assert client_ip(req, parse_networks(["10.0.0.0/8"])) == "198.51.100.9"


def test_client_ip_trusted_proxy_chain_yields_first_untrusted_hop():
    nets = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    req = request_from("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3")
    assert client_ip(req, nets) == "203.0.113.7"  # 6.6.6.6 was written by the client itself


def test_client_ip_trusted_proxy_without_header_is_the_peer():
    assert client_ip(request_from("10.0.0.1"), parse_networks(["10.0.0.0/8"])) == "10.0.0.1"


def test_sqlite_storage_counts_in_a_fixed_window(tmp_path):
    store = SQLiteStorage(storage_uri(tmp_path / "c.sqlite3"))
    assert [store.incr("k", 1) for _ in range(3)] == [1, 2, 3]
    assert store.get("k") == 3
    assert store.get_expiry("k") > time.time()
    time.sleep(1.05)
    assert store.get("k") == 0
    assert store.incr("k", 60) == 1
    store.clear("k")
    assert store.get("k") == 0
    assert store.check()


def _hammer(path, n):
    store = SQLiteStorage(storage_uri(path))
    for _ in range(n):
        store.incr("shared", 60)


def test_sqlite_storage_holds_exactly_across_processes(tmp_path):
    """Four processes × 50 increments: exactly 200, as with one shared counter."""
    path = tmp_path / "shared.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert SQLiteStorage(storage_uri(path)).get("shared") == 200
