"""Instructions per comment post, counted by callgrind: a figure this VM's speed drift cannot move.

    .venv/bin/python bench/post_instructions.py [--few 20] [--many 120] [--reads]

``--reads`` counts thread reads instead (each thread's answer built once, then served by the fast
path, as most page views are).

Seeds the benchmark data (100 threads × 50 comments, SQLite) once, then runs the app in process under
``valgrind --tool=callgrind`` twice, posting `few` and then `many` comments through the Flask test
client (the whole app: rate limit, Markdown, scoring, guards, inserts, commit); start-up and seeding
cancel out of the difference. Prints instructions per post. Needs Debian's valgrind; takes a few
minutes (callgrind runs the interpreter about fifty times slower).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serve_bench import CLI, seed, write_config  # noqa: E402


def _client(folder: Path) -> Any:
    """The app's test client, counting its metrics in files as under `moderation serve`."""
    os.chdir(folder)
    from moderation.app import create_app
    from moderation.config import load_settings

    try:
        from moderation.runtime import metrics
    except ImportError:  # a revision before the metrics, for comparisons
        pass
    else:
        metrics.use_directory(folder / "var" / "metrics", clear=True)
    return create_app(load_settings(folder / "config.toml")).test_client()


def read_many(folder: Path, count: int, warm: int) -> None:
    """In process: read every thread once (building its answer), then `count` reads over them."""
    client = _client(folder)
    for i in range(100 + count):
        query = {"site": "bench", "uri": f"/thread-{1 + i % 100}/"}
        response = client.get("/api/v1/threads/comments", query_string=query)
        if response.status_code != 200:
            raise SystemExit(f"read {i}: {response.status_code} {response.data[:200]!r}")


def post_many(folder: Path, count: int, warm: int) -> None:
    """In process: post `warm` comments, then `count` more (each unique, spread over 50 threads)."""
    client = _client(folder)
    for i in range(warm + count):
        body = {
            "site": "bench",
            "uri": f"/thread-{51 + i % 50}/",
            "author": f"Reader {i}",
            "text": f"Benchmark comment {i} with *some* Markdown.",
            "email": f"r{i}@example.org",
        }
        response = client.post("/api/v1/comments", json=body)
        if response.status_code not in (201, 202):
            raise SystemExit(f"post {i}: {response.status_code} {response.data[:200]!r}")


def instructions(seeded: Path, work: Path, count: int, warm: int, reads: bool = False) -> int:
    """Total instructions of one run that posts `count` comments after `warm` ones."""
    shutil.copytree(seeded, work, dirs_exist_ok=True)
    out = work / "callgrind.out"
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--inner",
            str(count),
            "--warm",
            str(warm),
            "--folder",
            str(work),
            *(["--reads"] if reads else []),
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        raise SystemExit(
            f"the run under callgrind failed: {run.stdout[-300:]} {run.stderr[-1500:]}"
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if not found:
        raise SystemExit(f"no callgrind total in: {run.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=20)
    parser.add_argument("--many", type=int, default=120)
    parser.add_argument("--warm", type=int, default=10, help="posts before the counted ones")
    parser.add_argument("--reads", action="store_true", help="count thread reads, not posts")
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        (read_many if args.reads else post_many)(args.folder, args.inner, args.warm)
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed: apt-get install -y valgrind")
    root = Path(tempfile.mkdtemp(prefix="moderation-instructions-"))
    try:
        seeded = root / "seeded"
        seeded.mkdir()
        write_config(seeded, 0, 1)
        subprocess.run([*CLI, "db", "upgrade"], cwd=seeded, check=True, capture_output=True)
        seed(seeded)
        few = instructions(seeded, root / "few", args.few, args.warm, args.reads)
        many = instructions(seeded, root / "many", args.many, args.warm, args.reads)
        each = (many - few) / (args.many - args.few)
        what = "thread read" if args.reads else "post"
        print(
            f"{each / 1e6:.3f} M instructions per {what} "
            f"(callgrind; {args.few} and {args.many} {what}s after {args.warm})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
