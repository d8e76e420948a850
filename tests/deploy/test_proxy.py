"""The reverse-proxy examples in ``deploy/`` (nginx and Caddy), run for real in front of the app.

Debian's nginx runs the whole site example ``deploy/nginx/moderation.conf`` (with
``moderation-proxy.conf`` included, HTTPS with a certificate made here, loopback ports instead of
80 and 443) and Caddy runs ``deploy/Caddyfile`` (its site address in plain HTTP on loopback), each
in front of the app on another loopback port. The reader connects from 127.0.0.2 (the whole of
127.0.0.0/8 is this machine) so that the reader, the proxy (127.0.0.1) and a forged address are
three different addresses, and the address stored with a posted comment says which one the
service believed: the reader's when ``[guard] trusted_proxies`` lists the proxy, even when the
reader sends an ``X-Forwarded-For`` of their own; the proxy's when it does not. Each proxy is
skipped, with the reason, where it is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Proxy:
    """How to start a proxy, and how to reach it once started."""

    command: list[str]
    base: str
    tls: ssl.SSLContext | None = None  # trusts the certificate made for it

    def client(self, local_address: str | None = None) -> httpx.Client:
        """A client of the proxy, connecting from `local_address` when given."""
        verify: ssl.SSLContext | bool = self.tls or True
        transport = httpx.HTTPTransport(local_address=local_address, verify=verify)
        return httpx.Client(transport=transport, timeout=10)


def swap(text: str, old: str, new: str) -> str:
    """`text` with `old` (which must be there) replaced by `new`."""
    assert old in text, old
    return text.replace(old, new)


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
    include {tmp}/site.conf;
}}
"""


def nginx(tmp: Path, upstream: int, port: int) -> Proxy:
    """Debian's nginx with the whole site example: HTTPS on `port` with a certificate for
    127.0.0.1 made here, the redirect from plain HTTP on another port, loopback only."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "moderation.conf").read_text()
    for old, new in [
        ("/etc/letsencrypt/live/comments.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/comments.example.org/privkey.pem", str(key)),
        ("snippets/moderation-proxy.conf", str(DEPLOY / "nginx" / "moderation-proxy.conf")),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{free_port()};"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen [::]:80;", ""),
    ]:
        site = swap(site, old, new)
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp))
    command = ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
    tls = ssl.create_default_context(cafile=str(cert))
    return Proxy(command, f"https://127.0.0.1:{port}", tls)


CADDY_GLOBAL = "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {tmp}/caddy\n}}\n"


def caddy(tmp: Path, upstream: int, port: int) -> Proxy:
    """Caddy with the Caddyfile example, its site address in plain HTTP on `port` (the
    certificate it would get needs the internet)."""
    site = (DEPLOY / "Caddyfile").read_text()
    assert site.count("127.0.0.1:8000") == 2
    site = swap(site, "comments.example.org {", f"http://127.0.0.1:{port} {{")
    conf = tmp / "Caddyfile"
    conf.write_text(CADDY_GLOBAL.format(tmp=tmp) + site.replace(":8000", f":{upstream}"))
    command = ["caddy", "run", "--adapter", "caddyfile", "--config", str(conf)]
    return Proxy(command, f"http://127.0.0.1:{port}")


PROXIES = [
    pytest.param(
        nginx,
        id="nginx",
        marks=[pytest.mark.needs("nginx", "nginx-light"), pytest.mark.needs("openssl", "openssl")],
    ),
    pytest.param(caddy, id="caddy", marks=pytest.mark.needs("caddy", "caddy")),
]


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


def wait_listening(proxy: Proxy, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    with proxy.client() as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.get(f"{proxy.base}/healthz")
                return
            except httpx.TransportError:
                time.sleep(0.1)
    pytest.fail(f"the proxy did not start: {log.read_text()}")


@pytest.fixture(params=PROXIES)
def proxy(request: pytest.FixtureRequest, app: AppServer, tmp_path: Path) -> Iterator[Proxy]:
    """The proxy in front of `app`, running."""
    tmp = tmp_path / "proxy"
    tmp.mkdir()
    made: Proxy = request.param(tmp, int(app.url.rsplit(":", 1)[1]), free_port())
    log = tmp / "proxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            made.command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HOME": str(tmp)}
        )
    try:
        wait_listening(made, process, log)
        yield made
    finally:
        process.terminate()
        process.wait(15)


def post_from_reader(proxy: Proxy, headers: dict[str, str] | None = None) -> int:
    """A comment posted through the proxy by a reader at `READER`: its id."""
    with proxy.client(READER) as client:
        response = client.post(
            f"{proxy.base}/api/v1/comments",
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


@pytest.mark.parametrize("app", [["127.0.0.1"]], indirect=True, ids=["trusted"])
def test_the_examples_keep_the_probes_inside(app, proxy):
    """/healthz is for anyone (a load balancer); /readyz and /metrics only for this machine's
    own monitoring, at 127.0.0.1 (the reader here is at 127.0.0.2)."""
    with proxy.client(READER) as client:
        assert client.get(f"{proxy.base}/healthz").status_code == 200
        assert client.get(f"{proxy.base}/readyz").status_code == 403
        assert client.get(f"{proxy.base}/metrics").status_code == 403
    with proxy.client() as local:
        assert local.get(f"{proxy.base}/readyz").status_code == 200
        assert local.get(f"{proxy.base}/metrics").status_code == 200
