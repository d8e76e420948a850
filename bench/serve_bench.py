"""Seed 100 threads × 50 comments, start `moderation serve`, measure reads, counts and posts with wrk.

    .venv/bin/python bench/serve_bench.py [--seconds 10] [--connections 32] [--workers 2]

Needs Debian's wrk (apt-get install -y wrk). Prints requests/s and p50/p99 per scenario.
Figures are for this machine only (2 cores shared by server and load generator): compare ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "moderation.cli"]
TEXTS = [
    "I think the argument in the second paragraph holds, but the *example* is a stretch.",
    "Thanks for writing this up. We hit the same problem last year and ended up with a "
    "[similar approach](https://example.org/notes).\n\n- one\n- two",
    "Could you say more about `co-production`? The term is new to me.",
    "> quoted text\n\nAnd my reply to it, with **emphasis**.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, workers: int, seconds: float = 30) -> None:
    """Wait until `workers` sockets listen on `port` (Linux: Granian gives each worker its own,
    with SO_REUSEPORT). /healthz answers as soon as one worker is up; wrk's connections, opened
    at once and kept alive, would then all go to that worker for the whole run and leave a core
    idle (seen here: posts at half speed, with 32 connections on one worker and 0 on the other)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        time.sleep(2)
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = [line.split() for line in table.read_text().splitlines()[1:]]
        listening = sum(1 for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port)
        if listening >= workers:
            return
        time.sleep(0.1)
    raise SystemExit(f"only some of the {workers} workers listen on port {port}")


def start_serve(folder: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`moderation serve` in `folder` on `port`, once /healthz answers and every worker listens."""
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    wait_listening(port, workers)
    return server


def write_config(folder: Path, port: int, workers: int, threads: int = 4) -> None:
    (folder / "config.toml").write_text(f"""
[server]
secret_key = "benchmark-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
workers = {workers}
threads = {threads}
access_log = false
log_level = "warning"

[database]
url = "sqlite:///var/bench.db"

[sites.bench]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "none"

[guard]
rate_limit = "100000000 per minute"
flood_seconds = 0
""")


def seed(folder: Path, threads: int = 100, per_thread: int = 50) -> None:
    """Insert approved comments directly (rendered once, as the service does)."""
    os.chdir(folder)
    from moderation.config import load_settings
    from moderation.domain.states import CommentKind, CommentStatus
    from moderation.markup import render
    from moderation.models import Comment, Thread
    from moderation.storage.db import Database

    settings = load_settings(folder / "config.toml")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Database(settings.database.url).write() as session:
        for t in range(1, threads + 1):
            thread = Thread(
                site="bench",
                uri=f"/thread-{t}/",
                title=f"Thread {t}",
                created_at=start,
                approved_count=per_thread,
                version=1,
            )
            session.add(thread)
            for c in range(per_thread):
                when = start + timedelta(minutes=c)
                text = TEXTS[c % len(TEXTS)]
                session.add(
                    Comment(
                        thread=thread,
                        kind=CommentKind.comment,
                        status=CommentStatus.approved,
                        author=f"Reader {c}",
                        email=f"reader{c}@example.org",
                        text=text,
                        html=render(text),
                        ip="192.0.2.1",
                        created_at=when,
                        approved_at=when,
                    )
                )


def wrk(port: int, scenario: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(HERE / "moderation_wrk.lua"),
            f"http://127.0.0.1:{port}",
            "--",
            scenario,
            "bench",
            "100",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    rps, p50, p99, non2xx, errors = (float(v) for v in line.split()[1:])
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": non2xx, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    folder = Path(tempfile.mkdtemp(prefix="moderation-bench-"))
    port = free_port()
    write_config(folder, port, args.workers, args.threads)
    subprocess.run([*CLI, "db", "upgrade"], cwd=folder, check=True, capture_output=True)
    seed(folder)
    server = start_serve(folder, port, args.workers)
    try:
        print(
            f"moderation serve, {args.workers} workers; wrk -t2 -c{args.connections} "
            f"-d{args.seconds}s; 100 threads x 50 comments (SQLite)"
        )
        print(f"{'scenario':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for scenario, label in (
            ("thread", "GET a 50-comment thread"),
            ("counts", "GET counts for 10 pages"),
            ("post", "POST a comment"),
        ):
            r = wrk(port, scenario, args.seconds, args.connections)
            print(
                f"{label:<28}{r['rps']:>10.0f}{r['p50']:>10.1f}{r['p99']:>10.1f}"
                f"{int(r['non2xx']):>10}"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
