"""`moderation serve` with two worker processes, on SQLite and on PostgreSQL: after an approval on
one page every worker answers that page anew and the other page as it is, and so after a write
made by another process (the CLI's privacy erase). Each read opens a new connection, so the reads
are spread over both workers (each has its own cache and kept answers; on SQLite, per-page stamps
in a shared file tell them what changed)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from moderation.storage import migrations
from tests.conftest import fresh_database_url
from tests.runtime.test_serve import free_port, migrate, serving

pytestmark = pytest.mark.slow
READS = 16  # fresh connections per check: all on one worker by chance once in 2**15

CONFIG = """
[server]
secret_key = "stamps-test-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
workers = 2
threads = 2

[database]
url = "{url}"

[sites.blog]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "all"

[guard]
rate_limit = "100000 per minute"
flood_seconds = 0
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str], Path]]:
    port = free_port()
    if request.param == "sqlite":
        url, drop = "sqlite:///var/stamps.db", lambda: None
    else:
        url, drop = fresh_database_url("postgresql", tmp_path)
        migrations.upgrade(url)
    cli = migrate(tmp_path, CONFIG.format(port=port, url=url))
    try:
        for base, *_ in serving(tmp_path, port, cli):
            yield base, cli, tmp_path
    finally:
        drop()


def read_everywhere(base: str, path: str, **params: Any) -> list[Any]:
    """The answers of `READS` reads, each on a new connection."""
    answers = []
    for _ in range(READS):
        with httpx.Client(base_url=base) as client:
            r = client.get(path, params={"site": "blog", **params})
            assert r.status_code == 200, r.text
            answers.append(r.json())
    return answers


def page(base: str, uri: str) -> list[dict[str, Any]]:
    return read_everywhere(base, "/api/v1/threads/comments", uri=uri)


def texts(answer: dict[str, Any]) -> list[str]:
    return [c["html"] for c in answer["comments"]]


def test_every_worker_reads_a_change_on_one_page_and_the_other_page_as_it_is(server):
    base, cli, folder = server
    token = subprocess.run(
        [*cli, "tokens", "create", "stamps"],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})

    def held(uri: str, text: str, email: str) -> int:
        body = {"site": "blog", "uri": uri, "text": text, "author": "Reader", "email": email}
        r = httpx.post(f"{base}/api/v1/comments", json=body)
        assert r.status_code == 202, r.text
        return int(r.json()["comment"]["id"])

    def approve(comment_id: int) -> None:
        r = api.post(f"/api/v1/moderation/comments/{comment_id}/approve")
        assert r.status_code == 200, r.text

    approve(held("/a/", "first on a", "ann@example.org"))
    approve(held("/b/", "first on b", "bob@example.org"))
    waiting = held("/a/", "second on a", "cat@example.org")
    b_before = page(base, "/b/")  # every worker builds, caches and keeps both pages
    assert {texts(a)[0] for a in page(base, "/a/")} == {"<p>first on a</p>"}
    counts = read_everywhere(base, "/api/v1/counts", uri=["/a/", "/b/"])
    assert {tuple(c["counts"].values()) for c in counts} == {(1, 1)}

    approve(waiting)
    for answer in page(base, "/a/"):
        assert texts(answer) == ["<p>first on a</p>", "<p>second on a</p>"]
        assert answer["thread"]["count"] == 2
    assert page(base, "/b/") == b_before
    assert texts(b_before[0]) == ["<p>first on b</p>"]
    counts = read_everywhere(base, "/api/v1/counts", uri=["/a/", "/b/"])
    assert {tuple(c["counts"].values()) for c in counts} == {(2, 1)}

    # Another process (the CLI) writes: the servers' workers see it at their next read.
    erased = subprocess.run(
        [*cli, "privacy", "erase", "bob@example.org"],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "1 comment anonymised" in erased.stdout
    for answer in page(base, "/b/"):
        assert [c["author"] for c in answer["comments"]] != ["Reader"]
        assert texts(answer) == ["<p>first on b</p>"]
    for answer in page(base, "/a/"):
        assert [c["author"] for c in answer["comments"]] == ["Reader", "Reader"]
    api.close()
