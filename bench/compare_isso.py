"""Side by side on loopback: Isso 0.14.0, `moderation serve`, and a bare WSGI ceiling.

    .venv/bin/python bench/compare_isso.py [--seconds 10] [--connections 32] [--rounds 1]

Both systems get the same data (100 threads × 50 published comments, the same texts, every fifth a
reply), run with 2 worker processes each (Isso under gunicorn, as its docs deploy it; ours under
`moderation serve`, i.e. Granian with 4 threads per worker), and are driven by the same wrk load.
The ceiling is a bare WSGI app under the same server as ours (Granian, the same settings)
returning cached bytes of the same size as our thread JSON.
Prints requests/s and p50/p99 per scenario and the ratios ours/Isso and ours/ceiling. With
``--rounds N`` every measurement is taken N times, alternating, and the medians are printed (each
ratio is the median of the rounds' ratios): this VM's speed drifts between runs. ``--only post``
(repeatable) measures one scenario and prints every round's ratio as well.

Isso is installed from PyPI into .peers/isso-venv on first use (bench/isso/ holds the peer harness
from shared/peers/isso). Needs Debian's wrk. Figures are for this machine only: compare ratios.
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
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ISSO = HERE / "isso"
VENV = ROOT / ".peers" / "isso-venv"
sys.path.insert(0, str(HERE))

from serve_bench import CLI, free_port, wait_listening, write_config  # noqa: E402

TEXT = (
    "Comment {j} on thread {i}. Lorem ipsum dolor sit amet, *consectetur* "
    "adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "**magna** aliqua. Ut enim ad minim veniam, quis nostrud exercitation."
)
CEILING_APP = """
import os
BODY = open(os.environ["CEILING_BODY"], "rb").read()
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
"""


def ensure_isso() -> Path:
    if not (VENV / "bin" / "gunicorn").exists():
        print("installing Isso 0.14.0 into", VENV, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [
                str(VENV / "bin" / "pip"),
                "install",
                "-q",
                "-r",
                str(ISSO / "isso_peer.requirements.txt"),
            ],
            check=True,
        )
    return VENV


def wait_up(url: str) -> None:
    for _ in range(150):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def start_isso(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = (ISSO / "isso_peer.cfg.template").read_text()
    for key, value in {
        "@DBPATH@": str(work / "isso.db"),
        "@HOST@": f"http://127.0.0.1:{port}",
        "@MODERATION@": "false",
        "@PORT@": str(port),
    }.items():
        cfg = cfg.replace(key, value)
    (work / "isso.cfg").write_text(cfg)
    py = VENV / "bin" / "python"
    subprocess.run(
        [
            str(py),
            str(ISSO / "isso_seed.py"),
            "--config",
            str(work / "isso.cfg"),
            "--threads",
            "100",
            "--per-thread",
            "50",
            "sqlite",
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "ISSO_SETTINGS": str(work / "isso.cfg")}
    proc = subprocess.Popen(
        [
            str(VENV / "bin" / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "isso.run",
        ],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_up(f"http://127.0.0.1:{port}/?uri=%2Fthread-1")
    return proc, port


def seed_moderation(folder: Path) -> None:
    """The same rows as isso_seed.py: 37 commenters, every fifth comment a reply."""
    os.chdir(folder)
    from moderation.config import load_settings
    from moderation.domain.states import CommentKind, CommentStatus
    from moderation.markup import render
    from moderation.models import Comment, Thread
    from moderation.storage.db import Database

    settings = load_settings(folder / "config.toml")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Database(settings.database.url).write() as session:
        for i in range(1, 101):
            thread = Thread(
                site="bench",
                uri=f"/thread-{i}/",
                title=f"Thread {i}",
                created_at=start,
                approved_count=50,
                version=1,
            )
            session.add(thread)
            last_top = None
            for j in range(1, 51):
                k = (i * 50 + j) % 37
                text = TEXT.format(i=i, j=j)
                when = start + timedelta(seconds=i * 100 + j)
                comment = Comment(
                    thread=thread,
                    kind=CommentKind.comment,
                    status=CommentStatus.approved,
                    author=f"User {k}",
                    email=f"user{k}@example.com",
                    website=f"http://example.com/~user{k}",
                    text=text,
                    html=render(text),
                    ip="127.0.0.1",
                    created_at=when,
                    approved_at=when,
                    parent_id=last_top if j % 5 == 0 and last_top else None,
                )
                session.add(comment)
                if comment.parent_id is None:
                    session.flush()
                    last_top = comment.id


def start_moderation(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    folder = work / "moderation"
    folder.mkdir()
    write_config(folder, port, 2)
    subprocess.run([*CLI, "db", "upgrade"], cwd=folder, check=True, capture_output=True)
    seed_moderation(folder)
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_up(f"http://127.0.0.1:{port}/healthz")
    wait_listening(port, 2)
    return proc, port


def start_ceiling(work: Path, body: bytes) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (work / "ceiling_app.py").write_text(CEILING_APP)
    (work / "ceiling.json").write_bytes(body)
    env = {**os.environ, "CEILING_BODY": str(work / "ceiling.json")}
    # The same server and settings as `moderation serve` (moderation/runtime/server.py) with our bench
    # config: Granian, WSGI, HTTP/1, 2 workers x 4 threads.
    granian = Path(sys.executable).parent / "granian"
    proc = subprocess.Popen(
        [
            str(granian),
            "--interface",
            "wsgi",
            "--http",
            "1",
            "--no-ws",
            "--workers",
            "2",
            "--blocking-threads",
            "4",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "ceiling_app:app",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_up(f"http://127.0.0.1:{port}/")
    wait_listening(port, 2)
    return proc, port


def wrk(
    port: int, script: Path, args: list[str], seconds: int, conns: int
) -> tuple[float, float, float]:
    cmd = [
        "wrk",
        "-t2",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
        "--",
        *args,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    for line in out.splitlines():
        if line.startswith("RESULT"):
            rps, p50, p99, failed, errors = (float(v) for v in line.split()[1:6])
            if failed or errors:  # a cheap 409 or 429 would pass for speed
                raise SystemExit(f"moderation answered {failed:.0f} non-2xx, {errors:.0f} errors")
            return rps, p50, p99
        if line.startswith("ISSO_WRK_RESULT"):
            fields = dict(part.split("=") for part in line.split()[1:])
            if int(fields["non2xx3xx"]):
                raise SystemExit(f"isso answered {fields['non2xx3xx']} non-2xx/3xx")
            return float(fields["rps"]), float(fields["p50_ms"]), float(fields["p99_ms"])
    raise SystemExit(f"no result from wrk: {out}")


def median_of(results: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The median requests/s, p50 and p99 of several runs, each taken on its own."""
    rps, p50, p99 = zip(*results, strict=True)
    return statistics.median(rps), statistics.median(p50), statistics.median(p99)


def worker_rss_mb(parent: int) -> list[float]:
    """Resident memory of the direct children of `parent` (the server's workers, the job worker)."""
    sizes = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        sizes.append(int(rss.split()[1]) / 1024)
    return sorted(sizes)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate this many times, print medians"
    )
    parser.add_argument(
        "--only",
        choices=("thread", "counts", "post"),
        action="append",
        help="measure only this scenario (repeatable); every round's ratio is then printed too",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    ensure_isso()
    work = Path(tempfile.mkdtemp(prefix="moderation-vs-isso-"))
    procs = []
    try:
        isso, isso_port = start_isso(work)
        procs.append(isso)
        ours, our_port = start_moderation(work)
        procs.append(ours)
        body = httpx.get(
            f"http://127.0.0.1:{our_port}/api/v1/threads/comments",
            params={"site": "bench", "uri": "/thread-1/"},
        ).content
        ceiling, ceiling_port = start_ceiling(work, body)
        procs.append(ceiling)
        ours_lua, isso_lua = HERE / "moderation_wrk.lua", ISSO / "isso_wrk.lua"
        isso_args = lambda s: [s, "100", f"http://127.0.0.1:{isso_port}"]  # noqa: E731
        # (label, our wrk arguments, Isso's); the posts of each round are new comments, not 409s
        rows = lambda run: [  # noqa: E731
            (label, ours, isso)
            for label, ours, isso in (
                ("thread read (50 comments)", ["thread", "bench", "100"], isso_args("fetch")),
                ("counts for 10 pages", ["counts", "bench", "100"], isso_args("count")),
                ("post a comment", ["post", "bench", "100", str(run)], isso_args("post")),
            )
            if not args.only or ours[0] in args.only
        ]
        with_ceiling = not args.only or "thread" in args.only
        print(
            f"wrk -t2 -c{args.connections} -d{args.seconds}s; 2 worker processes each; "
            f"100 threads x 50 comments; median of {args.rounds} round(s)"
        )
        # Each round measures the ceiling and every scenario once, ours right before Isso's, so
        # that the machine's drift (large on a shared VM) hits both sides of a ratio alike.
        runs: dict[str, list[tuple[float, float, float]]] = {}
        for run in range(args.rounds):
            if with_ceiling:
                runs.setdefault("ceiling", []).append(
                    wrk(ceiling_port, ours_lua, ["get", "/"], args.seconds, args.connections)
                )
            for label, our_args, isso_a in rows(run):
                runs.setdefault(label, []).append(
                    wrk(our_port, ours_lua, our_args, args.seconds, args.connections)
                )
                runs.setdefault(label + " isso", []).append(
                    wrk(isso_port, isso_lua, isso_a, args.seconds, args.connections)
                )
        print(f"{'scenario':<27}{'system':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        if with_ceiling:
            c = median_of(runs["ceiling"])
            print(
                f"{'cached bytes (ceiling)':<27}{'bare WSGI':<12}"
                f"{c[0]:>9.0f}{c[1]:>9.1f}{c[2]:>9.1f}"
            )
        for label, _ours, _isso in rows(0):
            o, i = median_of(runs[label]), median_of(runs[label + " isso"])
            print(f"{label:<27}{'moderation':<12}{o[0]:>9.0f}{o[1]:>9.1f}{o[2]:>9.1f}")
            print(f"{'':<27}{'isso 0.14.0':<12}{i[0]:>9.0f}{i[1]:>9.1f}{i[2]:>9.1f}")
            ratio = statistics.median(
                a[0] / b[0] for a, b in zip(runs[label], runs[label + " isso"], strict=True)
            )
            extra = ""
            if label.startswith("thread"):
                share = statistics.median(
                    a[0] / b[0] for a, b in zip(runs[label], runs["ceiling"], strict=True)
                )
                extra = f", {share:.0%} of the ceiling"
            print(f"{'':<27}{'ratio':<12}{ratio:>8.1f}x  p99 {o[2] / i[2]:.2f}x{extra}")
            if args.only:
                each = [
                    f"{a[0] / b[0]:.2f}"
                    for a, b in zip(runs[label], runs[label + " isso"], strict=True)
                ]
                print(f"{'':<27}{'each round':<12}{' '.join(each)}")
        sizes = ", ".join(f"{mb:.0f} MB" for mb in worker_rss_mb(ours.pid))
        print(f"moderation processes' resident memory after the runs: {sizes}")
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
