"""The container image (``Containerfile``), built and run as a user would, without a registry.

Image registries are not reachable here, so the base is a Debian made locally:
``mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm``, imported
with ``podman import``. It is kept between runs under a tag keyed by that command's hash (made
again only when the command changes, or after ``podman rmi``). ``buildah bud --isolation chroot``
builds the image on it, with this machine's pip configuration and CA bundle mounted read-only so
that pip inside the build reaches the package registry as it does outside. ``buildah run
--isolation chroot`` then runs the init step (``moderation db upgrade``) and ``moderation serve``,
which answers ``/healthz``, ``/readyz`` and a post on loopback (``podman run`` is refused by this
sandbox). Needs root, buildah, podman and mmdebstrap (``.ci/run`` installs them); skipped, with
the reason, without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_wheel import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
MMDEBSTRAP = [
    "mmdebstrap",
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates",
    "bookworm",
]
BASE_TAG = (
    "localhost/debian-python:" + hashlib.sha256(" ".join(MMDEBSTRAP).encode()).hexdigest()[:12]
)
DEPENDENCIES_TAG = "localhost/moderation-test-dependencies:latest"
UID = 10001  # the image's user (Containerfile)

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the first test builds the image (about a minute, more under load)
    pytest.mark.needs("buildah", "buildah"),
    pytest.mark.needs("podman", "podman"),
    pytest.mark.needs("mmdebstrap", "mmdebstrap"),
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah --isolation chroot needs root here"),
]

CONFIG = """
[server]
public_url = "http://127.0.0.1:{port}"
workers = 1
threads = 2

[sites.blog]
url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
moderation = "none"
"""


def run(*command: str | Path, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run a command to its end; its output, or a failure showing what it printed."""
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def pip_files() -> list[Path]:
    """The files pip's configuration is made of here (what ``pip config debug`` lists as
    existing) and the files they name (the CA bundle, a constraints file)."""
    debug = run(sys.executable, "-m", "pip", "config", "debug")
    files = {Path(p) for p in re.findall(r"^\s+(/\S+), exists: True$", debug, re.M)}
    for value in re.findall(r"^\s+\S+?[:=]\s*'?([^'\n]+)'?$", debug, re.M):
        files.update(Path(word) for word in value.split() if word.startswith("/"))
    return sorted(path for path in files if path.is_file())


def containers_env(tmp: Path) -> dict[str, str]:
    """The environment for buildah and podman: a containers.conf without default ulimits (this
    sandbox refuses to set them)."""
    conf = tmp / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return containers_env(tmp_path_factory.mktemp("containers"))


@pytest.fixture(scope="module")
def base(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Debian base image, made (about 30 s) unless a run before left it."""
    exists = subprocess.run(["podman", "image", "exists", BASE_TAG], env=env, check=False)
    if exists.returncode != 0:
        rootfs = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
        run(*MMDEBSTRAP, rootfs, env=env)
        run("podman", "import", rootfs, BASE_TAG, env=env)
        rootfs.unlink()
    return BASE_TAG


@pytest.fixture(scope="module")
def image(base: str, env: dict[str, str]) -> Iterator[str]:
    """The image built from this checkout's Containerfile; removed afterwards.

    Its first stage (the dependencies' wheels, from pyproject.toml alone) is kept between runs
    under a tag of its own, so that a run after a change of the code only builds the project's
    wheel and installs (about 20 s instead of 50); the other layers are pruned an hour later.
    """
    tag = f"localhost/moderation-test:{os.getpid()}"
    build = ["buildah", "bud", "--isolation", "chroot", "--format", "docker", "--layers"]
    build += ["--build-arg", f"BASE={base}", "-f", str(ROOT / "Containerfile")]
    build += [arg for path in pip_files() for arg in ("-v", f"{path}:{path}:ro")]
    run(*build, "--target", "dependencies", "-t", DEPENDENCIES_TAG, ROOT, env=env, timeout=900)
    run(*build, "-t", tag, ROOT, env=env, timeout=900)
    yield tag
    subprocess.run(["buildah", "rmi", "--force", tag], env=env, capture_output=True, check=False)
    subprocess.run(
        ["podman", "image", "prune", "--force", "--filter", "until=1h"],
        env=env,
        capture_output=True,
        check=False,
    )


class Container:
    """A working container of the image, with a host folder as its /data volume."""

    def __init__(self, image: str, data: Path, env: dict[str, str]) -> None:
        self.env, self.data = env, data
        self.name = run("buildah", "from", image, env=env).strip()
        # `buildah run` hides a declared volume under a fresh copy of the image's folder, which a
        # `-v` onto it does not replace; without the declaration the folder is mounted as given.
        run("buildah", "config", "--volume", "/data-", self.name, env=env)

    def config(self, *args: str) -> None:
        run("buildah", "config", *args, self.name, env=self.env)

    def command(self, *command: str) -> list[str]:
        """``buildah run`` of `command` in the container, /data mounted."""
        return [
            "buildah", "run", "--isolation", "chroot", "-v", f"{self.data}:/data", self.name,
            "--", *command,
        ]  # fmt: skip

    def run(self, *command: str) -> str:
        return run(*self.command(*command), env=self.env)

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.name], env=self.env, capture_output=True, check=False)


@pytest.fixture
def container(image: str, env: dict[str, str], tmp_path: Path) -> Iterator[Container]:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)  # a volume the image's user may write, as `podman volume` makes
    made = Container(image, data, env)
    yield made
    made.remove()


def image_config(image: str, env: dict[str, str]) -> dict[str, Any]:
    inspected = json.loads(run("buildah", "inspect", "--type", "image", image, env=env))
    config: dict[str, Any] = inspected["Docker"]["config"]
    return config


def test_image_runs_as_a_user_with_data_volume_entry_point_and_healthcheck(image, env):
    config = image_config(image, env)
    assert config["User"] == "moderation"
    assert list(config["Volumes"]) == ["/data"]
    assert config["WorkingDir"] == "/data"
    assert config["Entrypoint"] == ["moderation"]
    assert config["Cmd"][0] == "serve"
    assert "MODERATION_CONFIG=/data/config.toml" in config["Env"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])


def test_image_has_no_build_tools(container):
    """The wheels were built in a stage of their own: no compiler in the image."""
    found = subprocess.run(
        container.command("sh", "-c", "command -v gcc cc make; true"),
        env=container.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == ""
    assert container.run("id", "-u").strip() == str(UID)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop `buildah run` and what runs under it (its own process group)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_image_upgrades_serves_health_and_a_post(container, env, image):
    """The init step, then the server: configured by the mounted file plus the environment
    (the secret key and the database URL), on the /data volume, as the image's user."""
    port = free_port()
    (container.data / "config.toml").write_text(CONFIG.format(port=port))
    os.chown(container.data / "config.toml", UID, UID)
    container.config(
        "--env", "MODERATION_SECRET_KEY=image-test-secret-key-0123456789",
        "--env", "MODERATION_DATABASE_URL=sqlite:////data/from-env.db",
    )  # fmt: skip
    assert "head" in container.run("moderation", "db", "upgrade")
    assert (container.data / "from-env.db").stat().st_uid == UID

    log_path = container.data.parent / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            container.command("moderation", "serve", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base, process, 120), "no /healthz:\n" + log_path.read_text()
        comment = {"site": "blog", "uri": "/post/", "text": "From the image", "author": "Ann"}
        response = httpx.post(f"{base}/api/v1/comments", json=comment, timeout=10)
        assert response.status_code == 201, response.text
        assert response.json()["comment"]["html"] == "<p>From the image</p>"
        # The embedded job consumer runs in the image too: /readyz turns 200 once it has beaten.
        deadline = time.monotonic() + 60
        while (ready := httpx.get(f"{base}/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)
        # The image's own HEALTHCHECK command, on the port this test serves on.
        check = image_config(image, env)["Healthcheck"]["Test"][1:]
        container.run(*[part.replace(":8000/", f":{port}/") for part in check])
    finally:
        stop(process)
    assert "Traceback" not in log_path.read_text()
