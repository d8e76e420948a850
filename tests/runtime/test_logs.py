"""The service's log lines: JSON on stderr, without the job queue's info lines about the tasks that
run every minute (the outbox sweep and the digest), which said nothing four times a minute."""

from __future__ import annotations

import json
import logging

import pytest

from moderation.runtime.jobs import Jobs
from moderation.runtime.logs import configure_logging
from moderation.services import build_context
from tests.conftest import make_settings


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def jobs(tmp_path, database):
    settings = make_settings(tmp_path, **{"jobs.immediate": False})
    return Jobs(settings, database, build_context(settings))


def logged(capsys) -> list[dict[str, str]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_the_every_minute_tasks_run_without_info_lines(jobs, capsys, restore_logging):
    configure_logging("info")
    jobs.huey.execute(jobs.sweep_task.s())
    jobs.huey.execute(jobs.digest_task.s())
    jobs.huey.execute(jobs.purge_task.s())  # hourly: its lines stay
    lines = logged(capsys)
    messages = [line["message"] for line in lines if line["logger"].startswith("huey")]
    assert messages, "huey logged nothing at all"
    assert not [m for m in messages if "outbox.sweep" in m or "jobs.digest" in m]
    assert [m for m in messages if m.startswith("Executing") and ".purge: " in m]


def test_their_warnings_pass_and_debug_shows_everything(jobs, capsys, restore_logging):
    configure_logging("info")
    task = jobs.digest_task.s()
    logging.getLogger("huey").warning("%s failed, will retry", task)
    assert [line["level"] for line in logged(capsys)] == ["warning"]
    configure_logging("debug")
    jobs.huey.execute(jobs.sweep_task.s())
    messages = [line["message"] for line in logged(capsys) if line["logger"].startswith("huey")]
    assert [m for m in messages if m.startswith("Executing") and "outbox.sweep" in m]
