"""The package as users get it: a wheel installed without the dev extras migrates and serves.

The slow tests build the wheel from a copy of the sources, install it in one fresh venv (pip fetches
the dependencies; its cache makes that quick) and run `moderation db upgrade` and `moderation serve`
from that venv: on SQLite with a plain install, then on PostgreSQL with the ``[postgres]`` extra
added. The fast tests check that pyproject lists every folder and every imported library.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import venv
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import httpx
import pytest

from tests.conftest import ENGINES, PG_ADMIN_URL, REQUIRE_PG, fresh_database_url, pg_reachable

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

CONFIG = """
[server]
secret_key = "wheel-test-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
host = "127.0.0.1"
port = {port}
workers = 1
threads = 2
data_dir = "{data}"

[database]
url = "{url}"

[sites.blog]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "none"

{extra}
"""


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalized (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def test_pyproject_lists_every_folder_of_the_package():
    """A new folder under moderation/ must be added to [tool.setuptools] packages, or the wheel
    leaves it out."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(path.relative_to(ROOT).parts)
        for path in [ROOT / "moderation", *(ROOT / "moderation").rglob("*")]
        if path.is_dir() and path.name != "__pycache__"
    }
    migrations = {"moderation.migrations", "moderation.migrations.versions"}
    assert listed - migrations == folders
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"moderation.migrations": "migrations"}


def test_every_imported_library_is_declared():
    """Each third-party module that moderation/ imports comes from a declared dependency (the
    PostgreSQL and Redis extras included)."""
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    declared = {_name(r) for r in [*project["dependencies"], *extras["postgres"], *extras["redis"]]}
    distributions = packages_distributions()
    undeclared = {}
    for path in (ROOT / "moderation").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top == "moderation":
                    continue
                names = {_name(d) for d in distributions.get(top, [top])}
                if not names & declared:
                    undeclared.setdefault(top, path.relative_to(ROOT).as_posix())
    assert not undeclared, f"imported but not declared in pyproject: {undeclared}"


# The wheel, installed and served.


def _environ() -> dict[str, str]:
    """The environment for the installed commands: nothing that points at this checkout or its
    venv, and none of the variables that override a config file."""
    drop = ("MODERATION_", "PYTHON", "VIRTUAL_ENV", "COV_CORE_", "COVERAGE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _run(*command: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Installed:
    """A fresh venv with the wheel installed, and a scratch folder to run its commands in."""

    def __init__(self, tmp: Path) -> None:
        source = tmp / "source"  # a clean copy: setuptools' build/ folder could carry stale files
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in ("moderation", "migrations"):
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        dist = tmp / "dist"
        pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
        _ok(_run(*pip, "wheel", "--no-deps", "-q", "-w", dist, source, cwd=tmp))
        (self.wheel,) = dist.glob("moderation-*.whl")
        venv.create(tmp / "venv", with_pip=True)
        self.bin = tmp / "venv" / "bin"
        self.work = tmp / "work"
        self.work.mkdir()
        self.pip("install", self.wheel)

    def pip(self, *args: str | Path) -> None:
        _ok(
            _run(
                self.bin / "python",
                "-m",
                "pip",
                "--disable-pip-version-check",
                "-q",
                *args,
                cwd=self.work,
                timeout=600,
            )
        )

    def python(self, code: str) -> str:
        return _ok(_run(self.bin / "python", "-c", code, cwd=self.work)).strip()

    def moderation(self, *args: str, config: str) -> subprocess.CompletedProcess:
        path = self.work / "config.toml"
        path.write_text(config)
        return _run(self.bin / "moderation", "--config", path, *args, cwd=self.work)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return Installed(tmp_path_factory.mktemp("wheel"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port: int, url: str, data: Path, extra: str = "") -> str:
    return CONFIG.format(port=port, url=url, data=data, extra=extra)


def wait_healthy(base: str, process: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def migrate_serve_and_post(installed: Installed, url: str, name: str) -> None:
    """`db upgrade`, then `serve`: /healthz answers, a comment is accepted; the server is always
    stopped."""
    port = free_port()
    data = installed.work / f"var-{name}"
    text = config(port, url, data)
    _ok(installed.moderation("db", "upgrade", config=text))
    log_path = installed.work / f"serve-{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [installed.bin / "moderation", "--config", installed.work / "config.toml", "serve"],
            cwd=installed.work,
            env=_environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_healthy(base, process), "no /healthz:\n" + log_path.read_text()
            comment = {
                "site": "blog",
                "uri": "/post/",
                "text": "From the wheel",
                "author": "Ann",
                "email": "ann@example.org",
            }
            response = httpx.post(f"{base}/api/v1/comments", json=comment, timeout=10)
            assert response.status_code in (201, 202), response.text
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    assert "Traceback" not in log_path.read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_plain_install_migrates_and_serves_on_sqlite(installed):
    # A plain install: no PostgreSQL driver, no Redis client, the package from the venv.
    found = installed.python(
        "import importlib.util as u, moderation, moderation.storage.migrations as s;"
        "print(u.find_spec('psycopg'), u.find_spec('redis'), moderation.__file__, s.MIGRATIONS)"
    ).split()
    assert found[:2] == ["None", "None"]
    assert all(Path(p).is_relative_to(installed.bin.parent) for p in found[2:]), found
    migrate_serve_and_post(installed, f"sqlite:///{installed.work / 'moderation.db'}", "sqlite")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_plain_install_names_the_extra_postgresql_and_redis_need(installed):
    data = installed.work / "var-refused"
    postgres = installed.moderation(
        "db", "upgrade", config=config(8000, "postgresql+psycopg://x@127.0.0.1/x", data)
    )
    assert postgres.returncode != 0
    assert "pip install 'moderation[postgres]'" in postgres.stderr, postgres.stderr
    redis_jobs = '[jobs]\nbackend = "redis"\n\n[redis]\nurl = "redis://127.0.0.1:6379/0"\n'
    redis = installed.moderation(
        "db", "upgrade", config=config(8000, "sqlite:///x.db", data, redis_jobs)
    )
    assert redis.returncode != 0
    assert "pip install 'moderation[redis]'" in redis.stderr, redis.stderr


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    if "postgresql" not in ENGINES:
        pytest.skip("PostgreSQL not selected (MODERATION_TEST_DATABASES)")
    problem = pg_reachable()
    if problem:
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    url, drop = fresh_database_url("postgresql", tmp_path)
    try:
        yield url
    finally:
        drop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_postgres_extra_migrates_and_serves_on_postgresql(installed, postgres_url):
    installed.pip("install", f"{installed.wheel}[postgres]")
    assert installed.python("import psycopg; print(psycopg.__name__)") == "psycopg"
    migrate_serve_and_post(installed, postgres_url, "postgresql")
