"""Seed a million comments, then time the dashboard's queue page and a search, per engine.

    .venv/bin/python bench/queue_bench.py [--rows 1000000] [--engines sqlite,postgresql]
                                          [--repeat 30] [--pg-url postgresql+psycopg://...]

Seeds by bulk insert (SQLite ``executemany`` in one transaction, PostgreSQL ``COPY``) into a throwaway
database: a file in a temporary directory, and a fresh database on the server of ``--pg-url`` that is
dropped afterwards. Statuses are spread like a busy blog's: 2 % pending, 60 % approved, 35 % spam (a
third of it discarded), 3 % deleted. Then, through the real app and a signed-in moderator (Flask's
test client, so the figures include the ORM and the template, not the network):

* ``queue``: the pending tab's first page (50 rows, tab counts, latest spam checks);
* ``queue deep``: the approved tab, 2,000 pages in (keyset cursor: as fast as page 1);
* ``search rare`` / ``search common``: the approved tab searched for a rare and a common word, and
  ``search pending`` the pending tab for the rare one (a case-insensitive substring over five
  columns; from three characters the trigram index of migration 0012 finds the candidates: FTS5 on
  SQLite, which the seeding fills through its triggers, ``pg_trgm`` GIN on PostgreSQL); each page
  also counts the search's matches in every tab (`queue.search_counts`);
* ``search e-mail``: the spam tab searched for an address;
* ``api``: ``GET /api/v1/moderation/comments?status=spam``.

Prints p50/p95 in milliseconds per engine, the tab counts and search counts alone (the services, no
HTTP), and the query plans of the page query and of a rare-word search. Figures depend on the
machine: compare engines and scenarios in the same run.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moderation.app import create_app
from moderation.config import settings_from_mapping
from moderation.domain.states import CommentStatus
from moderation.services import Context, accounts, queue_filters
from moderation.services import queue as queue_service
from moderation.services.tokens import Tokens
from moderation.storage import migrations
from moderation.storage.db import Database

COLUMNS = (
    "id",
    "thread_id",
    "kind",
    "status",
    "author",
    "email",
    "website",
    "ip",
    "user_agent",
    "referrer",
    "text",
    "html",
    "created_at",
    "approved_at",
    "deleted_at",
    "discarded",
    "uid",
)
CORPUS = (
    "the argument in this post holds but the example is a stretch thanks for writing we hit "
    "same problem last year and ended up with similar approach could you say more about "
    "co-production budget residents panel council ward data second year"
)
WORDS = CORPUS.split()
PASSWORD = "benchmark password"  # noqa: S105
START = datetime(2024, 1, 1)


def status_for(rng: random.Random) -> tuple[str, bool]:
    roll = rng.random()
    if roll < 0.02:
        return "pending", False
    if roll < 0.62:
        return "approved", False
    if roll < 0.97:
        return "spam", rng.random() < 1 / 3
    return "deleted", False


def rows(count: int, threads: int) -> Iterator[tuple[Any, ...]]:
    """Comment rows in id order; one in 10,000 says "zanzibar" (the rare search word)."""
    rng = random.Random(7)
    for i in range(1, count + 1):
        status, discarded = status_for(rng)
        words = rng.choices(WORDS, k=rng.randint(8, 40))
        if i % 10_000 == 0:
            words.insert(rng.randrange(len(words)), "Zanzibar")
        text = " ".join(words).capitalize() + "."
        created = START + timedelta(seconds=i * 30)
        n = rng.randrange(50_000)
        yield (
            i,
            rng.randrange(1, threads + 1),
            "comment",
            status,
            f"Reader {n}",
            f"reader{n}@example.org",
            f"https://reader{n}.example" if n % 4 == 0 else "",
            f"198.51.{n % 256}.{n // 256 % 256}",
            "Mozilla/5.0",
            "",
            text,
            f"<p>{text}</p>",
            created,
            created if status == "approved" else None,
            created if status == "deleted" else None,
            discarded,
            f"{i:032x}",
        )


def thread_rows(threads: int) -> list[tuple[Any, ...]]:
    return [
        (i, "blog" if i % 3 else "docs", f"/posts/{i}/", f"Post {i}", START, False, 0, 0)
        for i in range(1, threads + 1)
    ]


THREAD_COLUMNS = ("id", "site", "uri", "title", "created_at", "closed", "approved_count", "version")


def seed_sqlite(url: str, count: int, threads: int) -> None:
    conn = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")

    def iso(v: Any) -> Any:
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v

    marks = ", ".join("?" * len(THREAD_COLUMNS))
    conn.executemany(
        f"INSERT INTO threads ({', '.join(THREAD_COLUMNS)}) VALUES ({marks})",
        [tuple(map(iso, r)) for r in thread_rows(threads)],
    )
    marks = ", ".join("?" * len(COLUMNS))
    conn.executemany(
        f"INSERT INTO comments ({', '.join(COLUMNS)}) VALUES ({marks})",
        (tuple(map(iso, r)) for r in rows(count, threads)),
    )
    conn.execute("COMMIT")
    conn.close()


def seed_postgresql(url: str, count: int, threads: int) -> None:
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            with cur.copy(f"COPY threads ({', '.join(THREAD_COLUMNS)}) FROM STDIN") as copy:
                for row in thread_rows(threads):
                    copy.write_row(row)
            with cur.copy(f"COPY comments ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count, threads):
                    copy.write_row(row)
            for table in ("threads", "comments"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        raw.commit()
    finally:
        raw.close()
    # What autovacuum does soon after a bulk load: statistics for the planner, and the visibility
    # map that lets the tab counts be index-only scans.
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm the caches once
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def plans(database: Database, cursor: int) -> list[str]:
    """The plans of a page of the pending tab and of a deep page of the approved tab."""
    out = []
    with database.reader.connect() as conn:
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        for status, at in ((CommentStatus.pending, None), (CommentStatus.approved, cursor)):
            query = queue_service.queue_query(
                queue_filters.QueueFilter(status), limit=51, cursor=at
            )
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            out += [
                f"{status.value}: " + " ".join(map(str, r))
                for r in conn.exec_driver_sql(explain + sql)
            ]
        f = queue_filters.QueueFilter(CommentStatus.approved, q="zanzibar")
        query = queue_service.queue_query(f, limit=51, dialect=conn.dialect.name)
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        out += ["search: " + " ".join(map(str, r)) for r in conn.exec_driver_sql(explain + sql)]
    return out


def measure(kind: str, url: str, tmp: Path, repeat: int) -> dict[str, tuple[float, float]]:
    settings = settings_from_mapping(
        {
            "server": {
                "secret_key": ["bench-secret-key-0123456789"],
                "public_url": "http://localhost",
                "data_dir": str(tmp / f"var-{kind}"),
                "access_log": False,
            },
            "database": {"url": url},
            "sites": {
                "blog": {
                    "url": "https://blog.example.org",
                    "origins": ["https://blog.example.org"],
                },
                "docs": {
                    "url": "https://docs.example.org",
                    "origins": ["https://docs.example.org"],
                },
            },
        }
    )
    database = Database(url)
    ctx = Context(settings=settings, tokens=Tokens.from_settings(settings))
    app = create_app(settings, database=database, context=ctx)
    with database.write() as session:
        accounts.add_moderator(session, ctx, "bench@example.org", "admin", PASSWORD)
        token = accounts.create_api_token(session, ctx, "bench")[1]
    client = app.test_client()
    page = client.get("/moderate/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post(
        "/moderate/login",
        data={"csrf_token": csrf, "email": "bench@example.org", "password": PASSWORD},
    )

    def get(path: str, **kw: Any) -> Callable[[], None]:
        def run() -> None:
            response = client.get(path, **kw)
            assert response.status_code == 200, (path, response.status_code)

        return run

    with database.read() as session:
        f = queue_filters.QueueFilter(CommentStatus.approved)
        cursor = None
        for _ in range(2_000):  # walk 2,000 pages of ids cheaply to find a deep cursor
            cursor = session.scalar(
                sa.select(sa.func.min(sa.text("id"))).select_from(
                    queue_service.queue_query(f, limit=50, cursor=cursor)
                    .with_only_columns(sa.column("id"))
                    .subquery()
                )
            )
    scenarios = {
        "queue": get("/moderate/"),
        "queue deep": get(f"/moderate/?status=approved&cursor={cursor}"),
        "search rare": get("/moderate/?status=approved&q=zanzibar"),
        "search common": get("/moderate/?status=approved&q=budget"),
        "search pending": get("/moderate/?status=pending&q=zanzibar"),
        "search e-mail": get("/moderate/?status=spam&q=reader4242@example.org"),
        "api": get(
            "/api/v1/moderation/comments?status=spam", headers={"Authorization": f"Bearer {token}"}
        ),
    }
    results = {name: timed(fn, repeat) for name, fn in scenarios.items()}
    with database.read() as reader:
        pending = queue_filters.QueueFilter(CommentStatus.pending)
        results["tab counts"] = timed(lambda: queue_service.status_counts(reader, pending), repeat)
        rare = pending.but(q="zanzibar")
        results["search counts"] = timed(lambda: queue_service.search_counts(reader, rare), repeat)
    for line in plans(database, cursor or 1):
        print(f"    plan: {line}")
    database.dispose()
    return results


def pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"moderation_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return sa.make_url(admin_url).set(database=name).render_as_string(False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for kind in args.engines.split(","):
            drop: Callable[[], None] = lambda: None  # noqa: E731
            if kind == "sqlite":
                url = f"sqlite:///{tmp / 'bench.sqlite3'}"
            else:
                url, drop = pg_database(args.pg_url)
            try:
                migrations.upgrade(url)
                start = time.perf_counter()
                (seed_sqlite if kind == "sqlite" else seed_postgresql)(url, args.rows, args.threads)
                print(
                    f"{kind}: seeded {args.rows:,} comments in {time.perf_counter() - start:.1f} s"
                )
                for scenario, (p50, p95) in measure(kind, url, tmp, args.repeat).items():
                    print(f"  {scenario:<15} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
            finally:
                drop()


if __name__ == "__main__":
    main()
