"""The systemd units in ``deploy/``, checked by systemd's own ``systemd-analyze``.

``verify`` parses a unit as systemd would load it and says what it would ignore (an unknown key, a
value it cannot parse) or refuse (a command that is not there); it exits 0 on warnings, so the
test also requires it to print nothing. The units name ``/opt/moderation/bin/moderation``, where
docs/operations.md installs it; the copy checked here names this venv's command instead. Skipped,
with the reason, where ``systemd-analyze`` is missing (``.ci/run`` installs systemd).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
INSTALLED = "/opt/moderation/bin/moderation"

pytestmark = [pytest.mark.deploy, pytest.mark.needs("systemd-analyze", "systemd")]


def local_copy(unit: Path, tmp: Path, change: tuple[str, str] | None = None) -> Path:
    """`unit` in `tmp`, naming this venv's `moderation` (and with `change` made, if any)."""
    text = unit.read_text()
    assert INSTALLED in text
    text = text.replace(INSTALLED, str(Path(sys.executable).parent / "moderation"))
    if change:
        assert change[0] in text
        text = text.replace(*change)
    copy = tmp / unit.name
    copy.write_text(text)
    return copy


def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_deploy_has_the_server_and_worker_units():
    assert [u.name for u in UNITS] == ["moderation-worker.service", "moderation.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_verifies_without_a_warning(unit, tmp_path):
    result = analyze("verify", local_copy(unit, tmp_path))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_runs_unprivileged_and_sandboxed(unit, tmp_path):
    """systemd's own exposure score stays at "OK" (the hardening options were all understood)."""
    text = unit.read_text()
    assert "User=moderation" in text
    assert "db upgrade" not in text.split("[Unit]", 1)[1]  # migrations are an explicit step
    result = analyze("security", "--offline=yes", "--threshold=30", local_copy(unit, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Overall exposure level" in result.stdout
    assert " OK " in result.stdout.splitlines()[-1], result.stdout.splitlines()[-1]


def test_verify_would_catch_a_mistyped_key(tmp_path):
    """The check above can fail: a misspelt key is reported."""
    unit = local_copy(DEPLOY / "moderation.service", tmp_path, ("Restart=", "Restrat="))
    result = analyze("verify", unit)
    assert "Unknown key 'Restrat'" in result.stdout + result.stderr
