"""How long ``moderation spam learn-history`` takes on an imported history, and how long each of
its writes holds the write lock.

    .venv/bin/python bench/learn_history_bench.py [--comments 20000] [--batch 500]

Writes a WordPress export with bench/import_bench.py's generator (80 % approved, 8 % spam, the rest
pending, trashed or linkbacks), imports it into a fresh SQLite database (``moderation import``, a
child process), then runs `learn_history` in this process with every ``database.write()`` block
timed. Prints the run's wall time, comments per second, the number of writes and the longest and
median time a write held the lock, then a second run (nothing new).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import import_bench  # noqa: E402

from moderation.config import load_settings  # noqa: E402
from moderation.interchange.wordpress import write_wxr  # noqa: E402
from moderation.services import build_context  # noqa: E402
from moderation.services.spam_history import learn_history  # noqa: E402
from moderation.storage import migrations  # noqa: E402
from moderation.storage.db import Database  # noqa: E402


def timed_writes(database: Database, held: list[float]) -> None:
    """Make every ``database.write()`` block append how long it held the lock to ``held``."""
    write = database.write

    @contextlib.contextmanager
    def timed() -> Iterator[Any]:
        with write() as tx:
            started = time.perf_counter()
            yield tx
        held.append(time.perf_counter() - started)

    database.write = timed  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--per-post", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export = folder / "export.xml"
        with export.open("w", encoding="utf-8") as out:
            write_wxr(
                out, import_bench.SITE, "Bench", import_bench.threads(args.comments, args.per_post)
            )
        url = f"sqlite:///{folder / 'bench.db'}"
        migrations.upgrade(url)
        config = import_bench.config_for(folder, url)
        seconds, _peak, _summary = import_bench.run(config, export)
        print(f"imported {args.comments:,} comments in {seconds:.1f} s (SQLite)")
        settings = load_settings(config)
        ctx = build_context(settings)
        for label in ("learn-history", "again"):
            database = Database(url)
            held: list[float] = []
            timed_writes(database, held)
            started = time.perf_counter()
            report = learn_history(database, ctx, "bench", batch=args.batch)
            wall = time.perf_counter() - started
            database.dispose()
            taught = report.learned_ham + report.learned_spam + report.reserve_only_ham
            print(
                f"  {label:<13} {wall:6.1f} s  {taught / wall if wall else 0:7,.0f} comments/s"
                f"  {len(held)} writes, lock held max {max(held, default=0) * 1000:5.0f} ms,"
                f" median {statistics.median(held) * 1000 if held else 0:5.0f} ms"
            )
            for line in report.lines():
                print(f"      {line}")


if __name__ == "__main__":
    main()
