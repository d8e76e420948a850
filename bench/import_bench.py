"""Time and peak memory of importing a generated WordPress export, per engine.

    .venv/bin/python bench/import_bench.py [--comments 100000] [--per-post 50]
                                           [--engines sqlite,postgresql] [--pg-url URL]

Writes a WXR 1.2 file with ``write_wxr`` (the exporter's own writer): ``--comments`` comments over
posts of ``--per-post`` each, a third of them replies (chains up to five deep), 80 % approved, 10 %
pending, 8 % spam, 2 % trash, a trackback and a pingback per post. Then, per engine, in a fresh
database (a file in a temporary directory; a throwaway database on the PostgreSQL server, dropped
afterwards), runs ``moderation import wordpress FILE --site bench`` as a child process twice: the
import, and the same import again (everything already present). Prints wall time, comments per
second and each child's own peak resident memory (``ru_maxrss`` from ``wait4``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moderation.domain.states import CommentKind, CommentStatus  # noqa: E402
from moderation.interchange.records import CommentRecord, ThreadRecord  # noqa: E402
from moderation.interchange.wordpress import write_wxr  # noqa: E402
from moderation.storage import migrations  # noqa: E402

SITE = "https://bench.example"
PHRASE = (
    "the argument in this post holds but the example is a stretch thanks for writing we hit same "
    "problem last year and ended up with a similar approach could you say more about it"
)
WORDS = PHRASE.split(" ")


def status(rng: random.Random) -> CommentStatus:
    roll = rng.random()
    if roll < 0.80:
        return CommentStatus.approved
    if roll < 0.90:
        return CommentStatus.pending
    if roll < 0.98:
        return CommentStatus.spam
    return CommentStatus.deleted


def threads(total: int, per_post: int) -> Iterator[tuple[ThreadRecord, list[CommentRecord]]]:
    rng = random.Random(11)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    made = 0
    post = 0
    while made < total:
        post += 1
        thread = ThreadRecord(str(post), f"{SITE}/{post}/", f"Post {post}", start, False)
        comments: list[CommentRecord] = []
        for n in range(min(per_post, total - made)):
            made += 1
            kind = CommentKind.comment
            if n == 1:
                kind = CommentKind.trackback
            elif n == 2:
                kind = CommentKind.pingback
            parent = None
            if kind is CommentKind.comment and comments and rng.random() < 1 / 3:
                parent = comments[-1].source_id if rng.random() < 0.5 else comments[0].source_id
            text = " ".join(rng.choices(WORDS, k=rng.randint(8, 60))).capitalize() + "."
            comments.append(
                CommentRecord(
                    source_id=str(made),
                    thread_key=thread.key,
                    kind=kind,
                    status=status(rng),
                    text=text,
                    created_at=start + timedelta(minutes=made),
                    parent_id=parent,
                    text_format="html",
                    author=f"Reader {made % 5000}",
                    email=f"reader{made % 5000}@example.org",
                    website=f"https://site{made}.example/"
                    if kind is not CommentKind.comment
                    else "",
                    ip=f"198.51.{made % 256}.{made // 256 % 256}",
                    linkback_source=(
                        f"https://site{made}.example/" if kind is not CommentKind.comment else None
                    ),
                )
            )
        yield thread, comments


def run(config: Path, export: Path) -> tuple[float, float, str]:
    """One import as a child process: seconds, its own peak RSS in MiB (``wait4``), its summary."""
    command = [sys.executable, "-m", "moderation.cli", "--config", str(config), "import"]
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, "wordpress", str(export), "--site", "bench"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"the import failed ({child.returncode}):\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def config_for(folder: Path, url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""[server]
secret_key = ["bench-secret-key-0123456789abcdef"]
public_url = "http://127.0.0.1:8000"
data_dir = "{folder / "var"}"

[database]
url = "{url}"

[sites.bench]
url = "{SITE}"
origins = ["{SITE}"]
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--per-post", type=int, default=50)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export = folder / "export.xml"
        started = time.perf_counter()
        with export.open("w", encoding="utf-8") as out:
            write_wxr(out, SITE, "Bench", threads(args.comments, args.per_post))
        size = export.stat().st_size / 2**20
        print(
            f"wrote {args.comments:,} comments, {size:.1f} MiB of WXR"
            f" in {time.perf_counter() - started:.1f} s"
        )
        for kind in args.engines.split(","):
            if kind == "sqlite":
                url = f"sqlite:///{folder / 'bench.db'}"
                drop = None
            else:
                name = f"import_bench_{os.getpid()}"
                admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"CREATE DATABASE {name}")
                url = str(sa.make_url(args.pg_url).set(database=name))

                def drop(admin: sa.Engine = admin, name: str = name) -> None:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
                    admin.dispose()

            try:
                migrations.upgrade(url)
                config = config_for(folder, url)
                for label in ("import", "again"):
                    seconds, peak, summary = run(config, export)
                    rate = args.comments / seconds
                    print(
                        f"  {kind:<10} {label:<6} {seconds:7.1f} s  {rate:8,.0f} comments/s"
                        f"  peak RSS {peak:6.0f} MiB"
                    )
                    if label == "import":
                        for line in summary.splitlines()[:3]:
                            print(f"      {line}")
            finally:
                if drop is not None:
                    drop()


if __name__ == "__main__":
    main()
