"""A day's mix against `moderation serve`: reads, counts and posts together while a moderator acts.

    .venv/bin/python bench/mixed_bench.py [--seconds 20] [--single-seconds 10] [--connections 16]

The data of `serve_bench.py` (100 threads × 50 comments on SQLite, 2 workers). After 3 s of reads
that are not counted (every worker builds every page), each request type alone, with the same
requests the mix sends (thread reads spread over the 100 pages; counts of 10 pages; posts, on a
site of their own so that the read data stays the same), then the mix:
per 100 requests 90 thread reads, 9 counts and 1 post (to one of the 100 pages), while a moderator
approves a held comment on another site every 250 ms through the moderation API. wrk runs with
one connection per wrk thread (`mixed_wrk.lua` pairs each response with its request).

Prints requests/s and p50/p99 per request type and overall, and the figure the single scenarios
predict for the mix (the time-weighted harmonic mean: 1 / (0.90/reads + 0.09/counts + 0.01/posts)),
so that interference is a number: mixed / weighted. Needs Debian's wrk. Figures are for this
machine only: compare before and after within one sitting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serve_bench import CLI, free_port, seed, start_serve, write_config  # noqa: E402

MIX = {"read": 0.90, "counts": 0.09, "post": 0.01}
LABELS = {"read": "thread reads", "counts": "counts of 10 pages", "post": "posts", "all": "overall"}
HELD = 400  # pending comments on the moderator's site (4 a second are approved)
OTHER_SITES = """
[sites.other]
url = "http://other.example.org"
origins = ["http://other.example.org"]
moderation = "all"

[sites.posts]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "none"
"""


def seed_held(folder: Path, count: int = HELD) -> list[int]:
    """`count` comments waiting for a moderator on the site ``other``: their ids, oldest first."""
    os.chdir(folder)
    from moderation.config import load_settings
    from moderation.domain.states import CommentKind, CommentStatus
    from moderation.markup import render
    from moderation.models import Comment, Thread
    from moderation.storage.db import Database

    settings = load_settings(folder / "config.toml")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Database(settings.database.url).write() as session:
        thread = Thread(site="other", uri="/held/", title="Held", created_at=start, version=1)
        session.add(thread)
        comments = [
            Comment(
                thread=thread,
                kind=CommentKind.comment,
                status=CommentStatus.pending,
                author=f"Waiting {i}",
                email=f"waiting{i}@example.org",
                text=f"Held comment {i}",
                html=render(f"Held comment {i}"),
                ip="192.0.2.2",
                created_at=start,
            )
            for i in range(count)
        ]
        session.add_all(comments)
        session.flush()
        return [c.id for c in comments]


class Moderator(threading.Thread):
    """Approves the next held comment every `interval` seconds through the moderation API."""

    def __init__(self, base: str, token: str, ids: list[int], interval: float) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.ids, self.interval = base, token, ids, interval
        self.stop = threading.Event()
        self.took: list[float] = []
        self.failed = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=10) as client:
            next_at = time.monotonic()
            while not self.stop.is_set() and self.ids:
                comment_id = self.ids.pop(0)
                started = time.perf_counter()
                r = client.post(f"/api/v1/moderation/comments/{comment_id}/approve")
                self.took.append((time.perf_counter() - started) * 1000)
                self.failed += r.status_code != 200
                next_at += self.interval
                self.stop.wait(max(0.0, next_at - time.monotonic()))


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its descendants (Linux)."""
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        stats[int(path.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family = {pid}
    for _ in range(4):  # serve -> workers (and the job consumer) -> their threads' helpers
        family |= {p for p, (parent, _) in stats.items() if parent in family}
    ticks = sum(stats[p][1] for p in family if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    port: int, mode: str, site: str, seconds: int, connections: int, run: str, server: int
) -> dict:
    """One wrk run of `mixed_wrk.lua`: {type: (requests, p50, p99, non2xx)}, the RESULT, and the
    server's CPU milliseconds per request (the machine is shared: a figure less sensitive to what
    else runs than requests per second)."""
    cpu = server_cpu(server)
    out = subprocess.run(
        [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(HERE / "mixed_wrk.lua"),
            f"http://127.0.0.1:{port}",
            "--",
            mode,
            site,
            "100",
            run,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    result: dict = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "TYPE":
            result[parts[1]] = {
                "n": int(parts[2]),
                "p50": float(parts[3]),
                "p99": float(parts[4]),
                "non2xx": int(parts[5]),
            }
        elif parts and parts[0] == "RESULT":
            rps, p50, p99, non2xx, errors = (float(v) for v in parts[1:])
            result["all"] = {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(non2xx)}
            result["errors"] = int(errors)
    if "all" not in result:
        raise SystemExit(f"wrk printed no RESULT:\n{out.stdout}\n{out.stderr}")
    answered = sum(r["n"] for k, r in result.items() if k in MIX)
    result["cpu_ms"] = (server_cpu(server) - cpu) * 1000 / max(answered, 1)
    return result


def load() -> str:
    """The load averages (1, 5, 15 min): how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="of the mix")
    parser.add_argument("--single-seconds", type=int, default=10, help="of each type alone")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.25, help="between moderator actions")
    parser.add_argument("--keep", action="store_true", help="keep the server's folder")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    import moderation

    folder = Path(tempfile.mkdtemp(prefix="moderation-mixed-"))
    port = free_port()
    write_config(folder, port, args.workers, args.threads)
    with (folder / "config.toml").open("a") as config:
        config.write(OTHER_SITES.format(port=port))
    subprocess.run([*CLI, "db", "upgrade"], cwd=folder, check=True, capture_output=True)
    seed(folder)
    held = seed_held(folder)
    token = subprocess.run(
        [*CLI, "tokens", "create", "bench-moderator"],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = start_serve(folder, port, args.workers)
    run = str(int(time.time()))
    try:
        print(
            f"moderation from {Path(moderation.__file__).parent}; serve: {args.workers} workers x "
            f"{args.threads} threads; wrk -t{args.connections} -c{args.connections}; "
            f"100 threads x 50 comments (SQLite); load before {load()}"
        )
        # Every worker builds every page once before anything is measured (not counted).
        wrk(port, "read", "bench", 3, args.connections, run, server.pid)
        single = {}
        for mode, site in (("read", "bench"), ("counts", "bench"), ("post", "posts")):
            single[mode] = wrk(
                port, mode, site, args.single_seconds, args.connections, run, server.pid
            )
        moderator = Moderator(f"http://127.0.0.1:{port}", token, held, args.interval)
        moderator.start()
        mixed = wrk(port, "mix", "bench", args.seconds, args.connections, run, server.pid)
        moderator.stop.set()
        moderator.join(10)
        weighted = 1 / sum(share / single[mode]["all"]["rps"] for mode, share in MIX.items())
        print(f"load after {load()}")
        print(
            f"{'':<20}{'alone req/s':>12}{'p50':>8}{'p99':>8}   {'mixed n':>9}{'p50':>8}{'p99':>8}"
        )
        for kind in ("read", "counts", "post", "all"):
            alone = single[kind]["all"] if kind in single else None
            m = mixed.get(kind)
            left = (
                f"{alone['rps']:>12.0f}{alone['p50']:>8.2f}{alone['p99']:>8.2f}"
                if alone
                else f"{weighted:>12.0f}{'':>16}"
            )
            right = (
                f"{mixed['all']['rps']:>9.0f}/s" if kind == "all" else f"{m['n'] if m else 0:>11}"
            )
            pair = m if kind != "all" else mixed["all"]
            right += f"{pair['p50']:>8.2f}{pair['p99']:>8.2f}" if pair else ""
            print(f"{LABELS[kind]:<20}{left}   {right}")
        ratio = mixed["all"]["rps"] / weighted
        bad = sum(r["all"]["non2xx"] + r.get("errors", 0) for r in (*single.values(), mixed))
        took = sorted(moderator.took)
        print(
            f"mixed {mixed['all']['rps']:.0f}/s against {weighted:.0f}/s weighted from the "
            f"single scenarios: {ratio:.0%}; non-2xx or errors {bad}"
        )
        cpu_weighted = sum(share * single[mode]["cpu_ms"] for mode, share in MIX.items())
        print(
            "server CPU ms per request: alone "
            + ", ".join(f"{mode} {single[mode]['cpu_ms']:.3f}" for mode in MIX)
            + f"; weighted {cpu_weighted:.3f}; mixed {mixed['cpu_ms']:.3f} "
            f"({mixed['cpu_ms'] / cpu_weighted:.0%} of weighted; the moderator's approvals included)"
        )
        if took:
            print(
                f"moderator: {len(took)} approvals ({moderator.failed} failed), "
                f"p50 {statistics.median(took):.1f} ms, max {took[-1]:.1f} ms"
            )
        print(
            f"MIXED {mixed['all']['rps']:.0f} {weighted:.0f} cpu {mixed['cpu_ms']:.3f} "
            f"{cpu_weighted:.3f} "
            + " ".join(
                f"{k}:{mixed[k]['p50']:.2f}/{mixed[k]['p99']:.2f}"
                for k in ("read", "counts", "post", "all")
                if k in mixed
            )
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        if args.keep:
            print("kept", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
