"""Resident memory of `moderation serve`: each worker, the main process and the job consumer.

    .venv/bin/python bench/memory_bench.py [--workers 2] [--requests 500] [--clients 4]
    .venv/bin/python bench/memory_bench.py --imports

Sets up a fresh demo installation in a temporary folder (``moderation init-config --demo``,
``moderation db upgrade``, SQLite), with the rate and flood limits lifted so that every post is
scored, and starts ``moderation serve``. Prints the memory of every process of the server's family
three times: once started (before any request), after a warm-up of 80 requests per worker
(enough that each worker answers the demo page, embed.js, thread reads, counts and posts, so the
spam model is loaded and the scorers have run) and after the load: ``--requests`` requests from
``--clients`` threads. Every request goes on a new connection, so that the kernel spreads them
over the workers, in the proportions of a page view (per 20: 10 thread reads, 6 counts of 10
pages, 1 demo page, 1 embed.js, 2 comment posts).

Per process: RSS (``VmRSS``); PSS and USS from ``/proc/<pid>/smaps_rollup`` when the kernel has it.
The workers are forked from the main process, so their RSS counts pages they share with it and
with one another; USS (private pages) is what one more worker would cost, and PSS shares the shared
pages out, so the sum of PSS is the family's memory.

``--imports`` instead prints, in a fresh interpreter, the RSS of a worker's imports step by step
(the ``moderation`` command's own imports, the app's modules, the app built with the demo config,
the base spam model) and which of the packages a plain worker need not carry it imported;
then what each heavy package adds alone, each in a fresh interpreter on top of Flask, SQLAlchemy
and click (a package's own cost, whatever else imports it).

Run it with ``PYTHONPATH=/path/to/other/checkout`` to measure another commit (the `moderation`
package is imported from ``PYTHONPATH`` first). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "moderation.cli"]
TEXTS = [
    "I think the argument in the second paragraph holds, but the *example* is a stretch.",
    "Thanks for writing this up. We hit the same problem last year and ended up with a "
    "[similar approach](https://example.org/notes).\n\n- one\n- two",
    "Could you say more about `co-production`? The term is new to me.",
    "> quoted text\n\nAnd my reply to it, with **emphasis**.",
    "Cheap watches and replica bags, best price online, visit http://cheap.example.com now!!!",
    "Great post! Check out my channel for free gift cards http://spam.example.net/win",
]
EXTRA_CONFIG = """
[guard]
rate_limit = "100000000 per minute"
edit_rate_limit = "100000000 per minute"
flood_seconds = 0
"""
# `--imports`: each of these is imported alone, in a fresh interpreter, on top of BASE.
BASE = ["flask", "sqlalchemy.orm", "click"]
PACKAGES = [
    "granian",
    "huey",
    "redis",
    "psycopg",
    "alembic",
    "authlib.oauth2.rfc6749.parameters",
    "joserfc.jwk",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "httpx",
    "akismet",
    "mf2py",
    "defusedxml.ElementTree",
    "xmlrpc.client",
    "markdown_it",
    "nh3",
    "prometheus_client",
    "limits",
    "argon2",
    "flask_wtf",
    "flask_login",
]
# The packages a plain worker (SQLite, no sign-in, no Akismet) should not carry.
NOT_NEEDED = ["redis", "psycopg", "alembic", "authlib", "joserfc", "cryptography", "httpx", "rich"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> dict[str, float]:
    """RSS, and PSS and USS when ``smaps_rollup`` exists, of process `pid`, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["rss"] = int(line.split()[1]) / 1024
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    try:
        fields = {
            parts[0].rstrip(":"): int(parts[1])
            for parts in (line.split() for line in rollup.read_text().splitlines()[1:])
            if len(parts) >= 2 and parts[1].isdigit()
        }
    except OSError:
        return out
    out["pss"] = fields.get("Pss", 0) / 1024
    out["uss"] = (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024
    return out


def family(pid: int) -> list[tuple[str, int]]:
    """(role, pid) of the server process and its children: Granian's workers (forked, so with the
    same command line) and the job consumer (``moderation worker``)."""
    found = [("main", pid)]
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = 0
    for child in sorted(map(int, children)):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in cmdline:
            found.append(("job consumer", child))
        else:
            workers += 1
            found.append((f"worker {workers}", child))
    return found


def report(title: str, server: int) -> None:
    print(f"\n{title}")
    print(f"{'process':<14}{'pid':>8}{'RSS MB':>10}{'PSS MB':>10}{'USS MB':>10}")
    totals = {"rss": 0.0, "pss": 0.0}
    for role, pid in family(server):
        try:
            m = memory(pid)
        except OSError:
            continue
        for key in totals:
            totals[key] += m.get(key, 0.0)
        pss = f"{m['pss']:>10.1f}{m['uss']:>10.1f}" if "pss" in m else f"{'-':>10}{'-':>10}"
        print(f"{role:<14}{pid:>8}{m['rss']:>10.1f}{pss}")
    print(f"{'sum':<14}{'':>8}{totals['rss']:>10.1f}{totals['pss']:>10.1f}")


def wait_ready(port: int, workers: int, seconds: float = 60) -> None:
    """Until /healthz answers and `workers` sockets listen on `port` (one per worker on Linux)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    table = Path("/proc/net/tcp")
    while table.exists() and time.monotonic() < deadline:
        rows = [line.split() for line in table.read_text().splitlines()[1:]]
        listening = sum(1 for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port)
        if listening >= workers:
            break
        time.sleep(0.1)
    time.sleep(1)  # the workers settle (imports after the first request are counted later)


class Load:
    """Requests of a page view's mix, each on a new connection; counts statuses."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.posted = 0

    def one(self, client: httpx.Client, kind: str, rng: random.Random) -> None:
        page = rng.randint(1, 20)
        if kind == "thread":
            r = client.get("/api/v1/threads/comments", params={"site": "demo", "uri": f"/p{page}/"})
        elif kind == "counts":
            uris = [("uri", f"/p{i}/") for i in range(1, 11)]
            r = client.get("/api/v1/counts", params=[("site", "demo"), *uris])
        elif kind == "demo":
            r = client.get("/demo/")
        elif kind == "embed":
            r = client.get("/embed.js", headers={"Accept-Encoding": "gzip"})
        else:
            with self.lock:
                self.posted += 1
                n = self.posted
            text = f"{rng.choice(TEXTS)} ({n})"
            body = {
                "site": "demo",
                "uri": f"/p{page}/",
                "text": text,
                "author": f"Reader {n % 50}",
                "email": f"reader{n % 50}@example.org",
            }
            if n % 3 == 0:
                body["website"] = f"http://site{n % 7}.example.com"
            r = client.post("/api/v1/comments", json=body)
        with self.lock:
            self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1

    def run(self, requests: int, clients: int, seed: int) -> float:
        mix = ["thread"] * 10 + ["counts"] * 6 + ["demo", "embed"] + ["post"] * 2
        kinds = [mix[i % len(mix)] for i in range(requests)]
        random.Random(seed).shuffle(kinds)
        chunks = [kinds[i::clients] for i in range(clients)]

        def work(chunk: list[str], n: int) -> None:
            rng = random.Random(seed * 100 + n)
            limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request
            with httpx.Client(base_url=self.base, limits=limits, timeout=30) as client:
                for kind in chunk:
                    self.one(client, kind, rng)

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(chunks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started


ALONE = """
import gc, importlib, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
for name in sys.argv[2].split(","):
    importlib.import_module(name)
gc.collect()
before, count = rss(), len(sys.modules)
importlib.import_module(sys.argv[1])
gc.collect()
print(f"{sys.argv[1]:<48}{rss() - before:>+8.1f}{len(sys.modules) - count:>9}")
"""

WORKER = """
import gc, json, os, subprocess, sys, tempfile
from pathlib import Path
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
last = rss()
def step(label):
    global last
    gc.collect()
    now = rss()
    print(f"{label:<48}{now:>8.1f}{now - last:>+8.1f}{len(sys.modules):>9}")
    last = now
print(f"{'a worker, step by step':<48}{'RSS MB':>8}{'added':>8}{'modules':>9}")
step("(interpreter)")
import moderation.cli, moderation.runtime.server
step("the moderation command's own imports")
import moderation
folder = Path(tempfile.mkdtemp(prefix="moderation-memory-"))
os.chdir(folder)
subprocess.run([sys.executable, "-m", "moderation.cli", "init-config", "--demo"], check=True,
               capture_output=True)
import moderation.app
step("import moderation.app")
from moderation.app import create_app
from moderation.config import load_settings
app = create_app(load_settings(folder / "config.toml"))
step("create_app(demo config)")
from moderation.services.spam import base_model
base_model()
step("the base spam model loaded")
loaded = [name for name in json.loads(sys.argv[1]) if name in sys.modules]
print("imported, of", ", ".join(json.loads(sys.argv[1])) + ":", ", ".join(loaded) or "none")
print("moderation from", Path(moderation.__file__).parent)
"""


def imports() -> None:
    """RSS of a worker's imports step by step, then of each package alone (see the module's
    description). Fresh interpreters, run outside the checkout so that ``PYTHONPATH`` decides
    which `moderation` is measured."""
    import json

    where = tempfile.gettempdir()
    subprocess.run([sys.executable, "-c", WORKER, json.dumps(NOT_NEEDED)], check=True, cwd=where)
    print(f"\n{'alone, on top of ' + ' + '.join(BASE):<48}{'added':>8}{'modules':>9}")
    for name in PACKAGES:
        out = subprocess.run(
            [sys.executable, "-c", ALONE, name, ",".join(BASE)],
            capture_output=True,
            text=True,
            cwd=where,
        )
        print(out.stdout.rstrip() or f"{name:<48}{'not importable':>17}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="[server] threads per worker")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4, help="threads sending requests")
    parser.add_argument("--no-consumer", action="store_true", help="no embedded job consumer")
    parser.add_argument("--imports", action="store_true", help="RSS per import instead")
    parser.add_argument("--keep", action="store_true", help="keep the server's folder")
    args = parser.parse_args()
    if args.imports:
        imports()
        return
    import moderation

    folder = Path(tempfile.mkdtemp(prefix="moderation-memory-"))
    port = free_port()
    subprocess.run(
        [*CLI, "init-config", "--demo", "--port", str(port)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    config = folder / "config.toml"
    server_lines = [f"workers = {args.workers}", 'log_level = "warning"', "access_log = false"]
    if args.threads:
        server_lines.append(f"threads = {args.threads}")
    text = config.read_text().replace("[server]\n", "[server]\n" + "\n".join(server_lines) + "\n")
    text += EXTRA_CONFIG
    if args.no_consumer:
        text += "\n[jobs]\nembedded_consumer = false\n"
    config.write_text(text)
    subprocess.run([*CLI, "db", "upgrade"], cwd=folder, check=True, capture_output=True)
    server = subprocess.Popen(
        [*CLI, "serve"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(port, args.workers)
        print(
            f"moderation serve ({Path(moderation.__file__).parent}), {args.workers} workers, "
            f"demo config on SQLite; Python {sys.version.split()[0]}"
        )
        report("started, before any request", server.pid)
        load = Load(port)
        # Warm-up: 80 requests per worker, on new connections that the kernel spreads.
        warm = load.run(20 * 4 * args.workers, args.clients, seed=1)
        time.sleep(1)
        report(f"after warm-up ({20 * 4 * args.workers} requests, {warm:.1f} s)", server.pid)
        took = load.run(args.requests, args.clients, seed=2)
        time.sleep(1)
        report(f"after the load ({args.requests} requests, {took:.1f} s)", server.pid)
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load.statuses.items()))
        print(f"\nstatuses over both runs: {statuses}; comments posted: {load.posted}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
