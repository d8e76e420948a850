"""Akismet black-holed (a port that accepts and never answers) under `moderation serve`: 12 concurrent
posts, a PATCH loop and three webmentions at once. Prints each answer's status and time, and whether
every post answered within the Akismet timeout plus one second with no server error.

    .venv/bin/python bench/black_hole_akismet.py [--timeout 3] [--workers 2] [--threads N] [--posts 12]

Exits non-zero when a request answered 5xx or a post took longer than the bound.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.serve_bench import CLI, free_port, start_serve  # noqa: E402
from tests.fakes.black_hole import BlackHole  # noqa: E402

KEY = "black-hole-key"


def write_config(
    folder: Path, port: int, workers: int, threads: int | None, akismet: str, timeout: float
) -> None:
    site = f"http://127.0.0.1:{port}"
    (folder / "config.toml").write_text(f"""
[server]
secret_key = "benchmark-secret-key-0123456789"
public_url = "{site}"
workers = {workers}
{"" if threads is None else f"threads = {threads}"}
access_log = false
log_level = "warning"

[database]
url = "sqlite:///var/bench.db"

[sites.bench]
url = "{site}"
origins = ["{site}"]
moderation = "none"

[guard]
rate_limit = "100000 per minute"
flood_seconds = 0

[akismet]
key = "{KEY}"
endpoint = "{akismet}"
timeout = {timeout}
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, help="threads per worker (default: the service's)")
    parser.add_argument("--posts", type=int, default=12)
    parser.add_argument("--edits", type=int, default=8)
    parser.add_argument("--webmentions", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="moderation-black-hole-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with BlackHole() as hole:
        write_config(folder, port, args.workers, args.threads, hole.url, args.timeout)
        subprocess.run([*CLI, "db", "upgrade"], cwd=folder, check=True, capture_output=True)
        server = start_serve(folder, port, args.workers)
        try:
            results = run(base, args)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            shutil.rmtree(folder, ignore_errors=True)
        print(f"connections the black hole accepted: {hole.accepted}")
    report(results, args.timeout)


def run(base: str, args: argparse.Namespace) -> dict[str, list[tuple[int, float]]]:
    headers = {"Origin": base}
    client = httpx.Client(timeout=60, headers=headers)
    first = client.post(
        f"{base}/api/v1/comments",
        json={"site": "bench", "uri": "/post/", "text": "To be edited.", "author": "E"},
    ).json()
    comment_id, token = first["comment"]["id"], first["edit_token"]
    results: dict[str, list[tuple[int, float]]] = {"post": [], "edit": [], "webmention": []}

    def timed(kind: str, method: str, url: str, **kw: object) -> None:
        began = time.perf_counter()
        with httpx.Client(timeout=60, headers=headers) as own:
            status = own.request(method, url, **kw).status_code  # type: ignore[arg-type]
        results[kind].append((status, time.perf_counter() - began))

    def poster(i: int) -> None:
        body = {"site": "bench", "uri": "/post/", "text": f"Comment {i}.", "author": f"R{i}"}
        timed("post", "POST", f"{base}/api/v1/comments", json=body)

    def editor() -> None:
        for i in range(args.edits):
            timed(
                "edit",
                "PATCH",
                f"{base}/api/v1/comments/{comment_id}",
                json={"text": f"Edit {i}."},
                headers={"X-Edit-Token": token, **headers},
            )

    def mentioner(i: int) -> None:
        form = {"source": f"https://example.com/reply-{i}", "target": f"{base}/post/"}
        timed("webmention", "POST", f"{base}/webmention", data=form)

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(args.posts)]
    threads.append(threading.Thread(target=editor))
    threads += [threading.Thread(target=mentioner, args=(i,)) for i in range(args.webmentions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def report(results: dict[str, list[tuple[int, float]]], timeout: float) -> None:
    failed = False
    print(f"{'kind':<12}{'n':>4}{'statuses':>22}{'max s':>8}{'median s':>10}")
    for kind, rows in results.items():
        statuses = sorted({s for s, _ in rows})
        times = sorted(t for _, t in rows)
        median = times[len(times) // 2] if times else 0.0
        print(
            f"{kind:<12}{len(rows):>4}{statuses!s:>22}{max(times, default=0):>8.2f}{median:>10.2f}"
        )
        failed |= any(s >= 500 for s, _ in rows)
    slowest = max((t for _, t in results["post"]), default=0.0)
    within = slowest <= timeout + 1
    print(f"every post within the Akismet timeout + 1 s ({timeout + 1:.1f} s): {within}")
    print(f"no 5xx: {not failed}")
    sys.exit(0 if within and not failed else 1)


if __name__ == "__main__":
    main()
