"""``moderation import`` and ``moderation export`` as a site owner runs them, on the test's
database: the summary, --dry-run, a malformed file's message, and an export to a file."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from moderation.models import Comment

ISSO = Path(__file__).parent.parent / "fixtures" / "imports" / "isso" / "comments.db"


def comments(session) -> int:
    return session.scalar(select(func.count()).select_from(Comment))


def test_import_prints_a_summary_and_a_second_run_adds_nothing(cli, session):
    dry = cli("import", "isso", str(ISSO), "--site", "demo", "--dry-run").output
    assert "would import: 15 comment approved" in dry
    assert comments(session) == 0
    first = cli("import", "isso", str(ISSO), "--site", "demo").output
    assert "isso: 19 comments on 3 pages (3 new pages)" in first
    assert "imported: 3 comment pending" in first
    assert "imported: 1 comment deleted" in first
    assert comments(session) == 19
    again = cli("import", "isso", str(ISSO), "--site", "demo").output
    assert "already present: 15 comment approved" in again
    assert "nothing new" in again
    assert comments(session) == 19


def test_a_malformed_file_is_refused_with_its_line_and_nothing_is_written(cli, session, tmp_path):
    bad = tmp_path / "cut.json"
    bad.write_text('{"format": "moderation-export", "version": 1, "threads": [\n{"uri": ')
    result = cli("import", "json", str(bad), "--site", "demo", ok=False)
    assert result.exit_code == 1
    assert "line 2" in result.output
    assert "nothing was imported" in result.output
    not_isso = cli("import", "isso", str(bad), "--site", "demo", ok=False)
    assert "not an Isso database" in not_isso.output
    unknown = cli("import", "isso", str(ISSO), "--site", "nope", ok=False)
    assert "no site 'nope'" in unknown.output
    assert comments(session) == 0


def test_export_to_a_file_and_to_standard_output(cli, tmp_path):
    cli("import", "isso", str(ISSO), "--site", "demo")
    target = tmp_path / "out.json"
    result = cli("export", "--site", "demo", "--format", "json", "-o", str(target))
    assert "19 comments exported" in result.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["site"]["id"] == "demo"
    assert sum(len(t["comments"]) for t in document["threads"]) == 19
    assert not (tmp_path / "out.json.part").exists()
    assert '"ip"' not in target.read_text(encoding="utf-8")
    with_ip = cli("export", "--site", "demo", "--with-ip").stdout
    assert '"ip": "203.0.113.0"' in with_ip


def test_an_erased_address_is_in_no_export(cli, session):
    from tests.factories import make_comment, make_thread

    thread = make_thread(session, site="demo", uri="/p/")
    make_comment(
        session,
        thread,
        author="Erin Erased",
        email="erin@example.org",
        website="https://erin.example",
        ip="198.51.100.7",
    )
    make_comment(session, thread, author="Kept", email="kept@example.org")
    before = cli("export", "--site", "demo", "--with-ip").stdout
    assert "erin@example.org" in before
    cli("privacy", "erase", "erin@example.org")
    for fmt in ("json", "wxr"):
        after = cli("export", "--site", "demo", "--format", fmt, "--with-ip").stdout
        for trace in ("erin@example.org", "Erin Erased", "erin.example", "198.51.100.7"):
            assert trace not in after
        assert "kept@example.org" in after
