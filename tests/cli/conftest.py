"""The CLI tests' runner: ``moderation ...`` in process (click's runner) with a demo config whose
database is the test's (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from moderation.cli import main


@pytest.fixture
def cli(tmp_path, db_url, monkeypatch):
    """Run ``moderation ...`` with a demo config whose database is the test's."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init-config", "--demo"]).exit_code == 0
    monkeypatch.setenv("MODERATION_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MODERATION_DATABASE_URL", db_url)

    def invoke(*args: str, ok: bool = True, stdin: str | None = None):
        result = runner.invoke(main, list(args), input=stdin)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke
