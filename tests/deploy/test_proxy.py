"""The reverse-proxy examples in ``deploy/`` (nginx and Caddy), run for real in front of the app.

Debian's nginx runs with ``deploy/nginx/moderation-proxy.conf`` (what every location includes)
and Caddy with ``deploy/Caddyfile`` (its site address and upstream swapped for loopback ports),
in front of the app on another loopback port. The reader connects from 127.0.0.2 (the whole of
127.0.0.0/8 is this machine) so that the reader, the proxy (127.0.0.1) and a forged address are
three different addresses, and the address stored with a posted comment says which one the
service believed: the reader's when ``[guard] trusted_proxies`` lists the proxy, even when the
reader sends an ``X-Forwarded-For`` of their own; the proxy's when it does not. Each proxy is
skipped, with the reason, where it is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from moderation.app import create_app
from moderation.models import Comment
from moderation.services import Context
from moderation.services.tokens import Tokens
from tests.conftest import SITE_URL, make_settings
from tests.fakes.app_server import AppServer, app_server
from tests.test_wheel import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
READER = "127.0.0.2"
FORGED = "203.0.113.9"

pytestmark = [pytest.mark.deploy, pytest.mark.slow]


NGINX_CONF = """
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    upstream moderation {{ server 127.0.0.1:{upstream}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ include {snippet}; }}
    }}
}}
"""

CADDY_GLOBAL = "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {tmp}/caddy\n}}\n"


def nginx_command(tmp: Path, upstream: int, port: int) -> list[str]:
    snippet = DEPLOY / "nginx" / "moderation-proxy.conf"
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream, port=port, snippet=snippet))
    return ["nginx", "-p", str(tmp), "-c", str(conf)]


def caddy_command(tmp: Path, upstream: int, port: int) -> list[str]:
    example = (DEPLOY / "Caddyfile").read_text()
    assert example.count("127.0.0.1:8000") == 2
    assert "comments.example.org {" in example
    site = example.replace("comments.example.org {", f"http://127.0.0.1:{port} {{")
    conf = tmp / "Caddyfile"
    conf.write_text(CADDY_GLOBAL.format(tmp=tmp) + site.replace(":8000", f":{upstream}"))
    return ["caddy", "run", "--adapter", "caddyfile", "--config", str(conf)]


PROXIES = [
    pytest.param(nginx_command, id="nginx", marks=pytest.mark.needs("nginx", "nginx-light")),
    pytest.param(caddy_command, id="caddy", marks=pytest.mark.needs("caddy", "caddy")),
]


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the proxy did not start: {log.read_text()}")


@pytest.fixture(params=[["127.0.0.1"], []], ids=["trusted", "untrusted"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppServer]:
    """The app on loopback, trusting the proxy's address (or nothing; `app.trusted` says which),
    every comment ham (the null scorer) so that the site's policy publishes it."""
    with app_server(tmp_path) as server:
        overrides = {
            "server.public_url": server.url,
            "database.url": server.db_url,
            "guard.trusted_proxies": request.param,
            "guard.flood_seconds": 0,
        }
        settings = make_settings(tmp_path, **overrides)
        context = Context(settings=settings, tokens=Tokens.from_settings(settings))
        server.serve(create_app(settings, database=server.database, context=context))
        server.trusted = bool(request.param)  # type: ignore[attr-defined]
        yield server


@pytest.fixture(params=PROXIES)
def proxy(request: pytest.FixtureRequest, app: AppServer, tmp_path: Path) -> Iterator[str]:
    """The proxy in front of `app`: its base URL."""
    tmp = tmp_path / "proxy"
    tmp.mkdir()
    port = free_port()
    command = request.param(tmp, int(app.url.rsplit(":", 1)[1]), port)
    log = tmp / "proxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HOME": str(tmp)}
        )
    try:
        wait_listening(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def post_from_reader(base: str, headers: dict[str, str] | None = None) -> int:
    """A comment posted through the proxy by a reader at `READER`: its id."""
    transport = httpx.HTTPTransport(local_address=READER)
    with httpx.Client(transport=transport, timeout=10) as client:
        response = client.post(
            f"{base}/api/v1/comments",
            json={"site": "blog", "uri": "/post/", "text": "Through the proxy", "author": "Ann"},
            headers={"Origin": SITE_URL, **(headers or {})},
        )
    assert response.status_code == 201, response.text
    comment_id: int = response.json()["comment"]["id"]
    return comment_id


def stored_ip(app: AppServer, comment_id: int) -> str:
    with app.database.read() as session:
        ip: str = session.scalar(sa.select(Comment.ip).where(Comment.id == comment_id))
    return ip


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "forged-header"])
def test_the_service_sees_the_reader_only_behind_a_trusted_proxy(app, proxy, forged):
    headers = {"X-Forwarded-For": FORGED} if forged else None
    expected = READER if app.trusted else "127.0.0.1"
    assert stored_ip(app, post_from_reader(proxy, headers)) == expected


@pytest.mark.needs("nginx", "nginx-light")
@pytest.mark.needs("openssl", "openssl")
def test_the_nginx_site_example_passes_nginx_t(tmp_path):
    """The whole site example (TLS, redirect, the probes kept inside) is valid nginx."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=comments.example.org", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "moderation.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/comments.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/comments.example.org/privkey.pem", str(key))
    site = site.replace(
        "snippets/moderation-proxy.conf", str(DEPLOY / "nginx" / "moderation-proxy.conf")
    )
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


@pytest.mark.parametrize("app", [["127.0.0.1"]], indirect=True, ids=["trusted"])
@pytest.mark.parametrize("proxy", [PROXIES[1]], indirect=True)
def test_the_caddy_example_keeps_the_probes_inside(app, proxy):
    """/healthz is for anyone (a load balancer); /readyz and /metrics only for this machine's
    own monitoring, at 127.0.0.1 (the reader here is at 127.0.0.2)."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=READER), timeout=10) as reader:
        assert reader.get(f"{proxy}/healthz").status_code == 200
        assert reader.get(f"{proxy}/readyz").status_code == 403
        assert reader.get(f"{proxy}/metrics").status_code == 403
    assert httpx.get(f"{proxy}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{proxy}/metrics", timeout=10).status_code == 200
