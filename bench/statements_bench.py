"""What a hot-path statement costs: `Prepared` against ``Session.execute`` of the same Core
statement, in process, on a migrated SQLite file (or the URL given).

    .venv/bin/python bench/statements_bench.py [--url URL] [--runs 5000]

Prints microseconds per statement for a one-row SELECT and a one-row INSERT, each way. This is
why the submission path (about ten statements a post) runs its statements through `Prepared`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import bindparam, select

from moderation.models import Thread
from moderation.storage import migrations as migrations
from moderation.storage.db import Database, utcnow
from moderation.storage.prepared import Prepared, insert_row

THREADS = Thread.__table__
FIND = select(THREADS.c.id, THREADS.c.version).where(
    THREADS.c.site == bindparam("site"), THREADS.c.uri == bindparam("uri")
)


def per_call(runs: int, call) -> float:
    started = time.perf_counter()
    for i in range(runs):
        call(i)
    return (time.perf_counter() - started) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="")
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    migrations.upgrade(url)
    database = Database(url)
    prepared = Prepared(FIND)
    now = utcnow()

    def row(i: int, way: str) -> dict[str, object]:
        return {
            "site": way,
            "uri": f"/p/{i}",
            "title": "",
            "created_at": now,
            "closed": False,
            "approved_count": 0,
            "version": 0,
        }

    with database.write() as tx:
        insert_row(tx, THREADS, row(0, "blog"))
        results = {
            "SELECT, Session.execute": per_call(
                args.runs, lambda i: tx.execute(FIND, {"site": "blog", "uri": "/p/0"}).first()
            ),
            "SELECT, Prepared": per_call(
                args.runs, lambda i: prepared.first(tx, {"site": "blog", "uri": "/p/0"})
            ),
            "INSERT, Session.execute": per_call(
                args.runs, lambda i: tx.execute(THREADS.insert(), row(i, "orm"))
            ),
            "INSERT, insert_row": per_call(
                args.runs, lambda i: insert_row(tx, THREADS, row(i, "prepared"))
            ),
        }
    for name, micros in results.items():
        print(f"{name:<26} {micros:7.1f} µs")
    database.dispose()


if __name__ == "__main__":
    main()
