"""`moderation serve` as a real process, spoken to over real HTTP."""

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from moderation.runtime.process import limit_malloc_arenas

pytestmark = pytest.mark.slow

CONFIG = """
[server]
secret_key = "serve-test-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
workers = 2
threads = 2
demo_site = "demo"

[database]
url = "sqlite:///var/serve.db"

[sites.demo]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "none"

[guard]
rate_limit = "5 per minute"
flood_seconds = 0

[jobs]
heartbeat_seconds = 1
heartbeat_max_age_seconds = 5
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base, seconds=30):
    """Whether `base` answered /healthz with 200 within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def migrate(tmp, config):
    """`config` written to ``tmp/config.toml`` and its database migrated; the CLI's command."""
    (tmp / "config.toml").write_text(config)
    cli = [sys.executable, "-m", "moderation.cli"]
    subprocess.run([*cli, "db", "upgrade"], cwd=tmp, check=True, capture_output=True, timeout=60)
    return cli


def serving(tmp, port, cli):
    """Run `moderation serve` in `tmp` until the generator is closed: yields (base, log, pid)."""
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], cwd=tmp, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_healthy(base):
        proc.terminate()
        pytest.fail("server did not start: " + (tmp / "server.log").read_text())
    yield base, tmp / "server.log", proc.pid
    proc.terminate()
    proc.wait(15)
    log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    yield from serving(tmp, port, migrate(tmp, CONFIG.format(port=port)))


def test_serve_answers_health_posts_and_threads(server):
    base, *_ = server
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    r = httpx.post(
        f"{base}/api/v1/comments",
        json={
            "site": "demo",
            "uri": "/demo/",
            "text": "Over real HTTP",
            "author": "Ann",
            "email": "ann@example.org",
        },
    )
    assert r.status_code == 201, r.text
    thread = httpx.get(f"{base}/api/v1/threads/comments", params={"site": "demo", "uri": "/demo/"})
    assert thread.json()["thread"]["count"] == 1
    assert "Over real HTTP" in thread.json()["comments"][0]["html"]
    assert httpx.get(f"{base}/demo/").status_code == 200


def test_serve_rate_limit_holds_exactly_across_two_workers(server):
    base, *_ = server
    codes = []
    for i in range(9):  # fresh connections, spread over both worker processes
        with httpx.Client() as c:
            r = c.post(
                f"{base}/api/v1/comments",
                json={
                    "site": "demo",
                    "uri": "/rl/",
                    "text": f"comment {i}",
                    "email": f"p{i}@example.org",
                },
            )
            codes.append(r.status_code)
    # One comment was already posted by the previous test in this minute window.
    assert sum(c in (201, 202) for c in codes) == 4, codes  # published or held: both accepted
    assert codes.count(429) == 5, codes


def test_serve_garbage_gets_json_errors_and_no_traceback(server):
    base, log, _ = server
    for payload in (b"\xff\xfe", b"{", b"[]", b"null", b'{"site": {"$gt": 1}}'):
        r = httpx.post(
            f"{base}/api/v1/comments", content=payload, headers={"Content-Type": "application/json"}
        )
        assert r.status_code in (400, 429), r.text
        assert "error" in r.json()
    time.sleep(0.3)
    text = log.read_text()
    assert "Traceback" not in text
    assert '"path": "/api/v1/comments"' in text  # structured access log lines
    # The server's own lines (Granian starting its workers) are JSON too: one format to parse.
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(r["logger"].startswith("_granian") for r in records)


def test_serve_refuses_an_oversized_body_before_reading_it(server):
    base, *_ = server
    # The Webmention endpoint: its rate-limit counter is its own, untouched by the other tests.
    big = b"source=" + b"a" * 2_000_000  # four times [server] max_body_bytes
    r = httpx.post(
        f"{base}/webmention",
        content=big,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


def children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(cmdline)
    return found


def test_serve_runs_the_job_consumer_beside_the_workers(server):
    *_, pid = server
    commands = children(pid)
    assert any(c.rstrip().endswith(" worker") for c in commands), commands


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_ARENA_MAX) is glibc's")
def test_serve_caps_malloc_arenas_on_glibc():
    """glibc accepts the cap (mallopt returns 1); `serve` and `worker` set it before any thread."""
    assert limit_malloc_arenas() is True
    assert limit_malloc_arenas(4) is True


def test_a_second_serve_on_a_port_in_use_refuses_to_start(server, tmp_path):
    """Granian binds with SO_REUSEPORT: without a check, a second server would share the port and
    take half the connections with whatever configuration it has."""
    base, *_ = server
    port = int(base.rsplit(":", 1)[1])
    (tmp_path / "config.toml").write_text(CONFIG.format(port=port))
    (tmp_path / "var").mkdir()
    second = subprocess.Popen(
        [sys.executable, "-m", "moderation.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a second server that did start goes with its workers
    )
    try:
        _, stderr = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
        pytest.fail("a second server started on a port in use")
    assert second.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in stderr
    assert "Traceback" not in stderr
    assert httpx.get(f"{base}/healthz").status_code == 200  # the first one is untouched


def consumers(pid):
    """Pids of the `moderation worker` processes `pid` started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid and cmdline.rstrip().endswith(" worker") and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_for(condition, seconds=30.0):
    """Poll `condition` until it holds; the bound only ends a test that would otherwise hang."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def ready(base):
    return httpx.get(f"{base}/readyz", timeout=5).status_code == 200


def test_serve_restarts_a_killed_job_consumer(server):
    """Finding 6: after ``kill -9`` of the consumer, serve logs it and starts a new one, whose
    heartbeat keeps /readyz at 200."""
    base, log, pid = server
    assert wait_for(lambda: ready(base)), httpx.get(f"{base}/readyz").text
    [old] = consumers(pid)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: consumers(pid) not in ([], [old])), log.read_text()[-2000:]
    [new] = consumers(pid)
    heartbeat = log.parent / "var" / "worker.heartbeat"
    after_restart = heartbeat.stat().st_mtime
    assert wait_for(lambda: heartbeat.stat().st_mtime > after_restart)  # the new one beats
    assert ready(base)
    text = log.read_text()
    assert f"the job consumer (pid {old}) exited with -9" in text
    assert f"the job consumer was started again (pid {new}, restart 1)" in text


def test_serve_stops_its_job_consumer_when_it_stops(tmp_path):
    port = free_port()
    (tmp_path / "config.toml").write_text(CONFIG.format(port=port))
    cli = [sys.executable, "-m", "moderation.cli"]
    subprocess.run([*cli, "db", "upgrade"], cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: len(consumers(proc.pid)) == 1)
        [consumer] = consumers(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    assert (
        not Path(f"/proc/{consumer}").exists() or "Z" in Path(f"/proc/{consumer}/stat").read_text()
    )
