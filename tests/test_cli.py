import hashlib
import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from moderation.cli import main
from moderation.passwords import verify_password
from moderation.scorers.classifier.model import DECISION_WEIGHT


def run(args, cwd, stdin=None, check=True):
    out = subprocess.run(
        [sys.executable, "-m", "moderation.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def workdir(tmp_path):
    run(["init-config", "--demo"], tmp_path)
    run(["db", "upgrade"], tmp_path)
    return tmp_path


def query(workdir, sql):
    engine = sa.create_engine(f"sqlite:///{workdir / 'var' / 'moderation.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql)).all()
    engine.dispose()
    return rows


def test_every_command_group_is_registered_and_runs_as_a_module(tmp_path):
    commands = {name: sorted(getattr(c, "commands", {})) for name, c in main.commands.items()}
    assert commands == {
        "db": ["backup", "current", "downgrade", "restore", "upgrade"],
        "export": [],
        "import": [],
        "init-config": [],
        "linkbacks": ["discovery", "send"],
        "moderators": ["add", "password"],
        "privacy": ["erase", "export"],
        "serve": [],
        "spam": ["evaluate", "learn-history", "train"],
        "tokens": ["create", "list", "revoke"],
        "worker": [],
    }
    out = run(["--help"], tmp_path).stdout
    assert out.startswith("Usage: python -m moderation.cli [OPTIONS] COMMAND [ARGS]...")
    assert all(f"  {name} " in out for name in commands)


def test_init_config_writes_a_valid_private_config_once(tmp_path):
    first = run(["init-config", "--demo"], tmp_path)
    assert "wrote" in first.stdout
    text = (tmp_path / "config.toml").read_text()
    assert 'demo_site = "demo"' in text
    assert oct((tmp_path / "config.toml").stat().st_mode & 0o777) == "0o600"
    again = run(["init-config", "--demo"], tmp_path)
    assert "leaving it alone" in again.stdout
    assert (tmp_path / "config.toml").read_text() == text


def test_init_config_port_sets_the_demo_addresses_and_a_site_has_only_its_own_origin(tmp_path):
    from moderation.config import load_settings

    run(["init-config", "--demo", "--port", "18210", "demo.toml"], tmp_path)
    demo = load_settings(tmp_path / "demo.toml")
    assert demo.server.port == 18210
    assert demo.server.public_url == "http://127.0.0.1:18210"
    assert demo.sites["demo"].origins == ("http://127.0.0.1:18210", "http://localhost:18210")
    run(["init-config", "prod.toml"], tmp_path)
    prod = load_settings(tmp_path / "prod.toml")
    assert prod.sites["blog"].origins == ("https://blog.example.org",)
    bad = run(["init-config", "--port", "0", "x.toml"], tmp_path, check=False)
    assert bad.returncode == 2


def test_db_upgrade_creates_the_schema(workdir):
    names = {r[0] for r in query(workdir, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"threads", "comments", "moderation_events", "alembic_version"} <= names


def test_moderators_add_reads_password_from_stdin_and_hashes_it(workdir):
    out = run(
        ["moderators", "add", "Mod@Example.org", "--role", "admin", "--password-stdin"],
        workdir,
        stdin="correct horse battery\n",
    )
    assert "moderator mod@example.org added (admin)" in out.stdout
    ((email, role, password_hash),) = query(
        workdir, "SELECT email, role, password_hash FROM moderators"
    )
    assert (email, role) == ("mod@example.org", "admin")
    assert password_hash.startswith("$argon2id$")
    assert verify_password(password_hash, "correct horse battery")
    dup = run(
        ["moderators", "add", "mod@example.org", "--password-stdin"],
        workdir,
        stdin="another password\n",
        check=False,
    )
    assert dup.returncode != 0
    assert "exists already" in dup.stderr


def test_moderators_add_refuses_a_short_password(workdir):
    out = run(
        ["moderators", "add", "a@example.org", "--password-stdin"],
        workdir,
        stdin="short\n",
        check=False,
    )
    assert out.returncode != 0
    assert "at least 10 characters" in out.stderr


def test_tokens_create_prints_token_and_stores_only_its_hash(workdir):
    token = run(["tokens", "create", "ci-bot"], workdir).stdout.strip()
    assert token.startswith("mod_")
    assert len(token) > 40
    ((name, stored),) = query(workdir, "SELECT name, token_hash FROM api_tokens")
    assert name == "ci-bot"
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored


def test_bad_config_stops_with_the_key_named(tmp_path):
    (tmp_path / "config.toml").write_text(
        '[server]\nsecret_key = "0123456789abcdef0"\ncolour = 1\n'
    )
    out = run(["db", "upgrade"], tmp_path, check=False)
    assert out.returncode != 0
    assert "unknown key [server] colour" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_flag_and_environment_choose_the_file(tmp_path):
    run(["init-config", "--demo", str(tmp_path / "elsewhere.toml")], tmp_path)
    out = run(["--config", str(tmp_path / "elsewhere.toml"), "db", "upgrade"], tmp_path)
    assert "database at head" in out.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run(["db", "upgrade"], empty, check=False)
    assert "config file not found" in missing.stderr


SAMPLE = """author,email,url,content,label,source
Ann,ann@example.org,,Thanks for the clear write-up of the migration.,ham,t
Spam Bot,,http://cheap.example,CHECK OUT MY CHANNEL http://bit.ly/x subscribe!!!,spam,t
Bob,bob@example.org,,I disagree with the second point but enjoyed it.,ham,t
Promo,,,Earn money fast at http://cash.example click here,spam,t
"""


def test_spam_evaluate_prints_the_contract_keys_and_stores_nothing(workdir):
    (workdir / "rows.csv").write_text(SAMPLE)
    out = run(["spam", "evaluate", "rows.csv", "--json"], workdir).stdout
    result = json.loads(out)
    contract = {"precision", "recall", "f1", "auc", "fpr", "held", "rows", "rows_per_s"}
    assert set(result) == contract | {"recall_at_fpr_1pct", "recall_at_fpr_0_5pct"}
    assert result["rows"] == 4
    assert result["fpr"] == 0.0
    run(["spam", "evaluate", "rows.csv", "--online"], workdir)
    assert query(workdir, "SELECT count(*) FROM classifier_counts") == [(0,)]


def test_spam_train_teaches_the_shared_counts(workdir):
    (workdir / "rows.csv").write_text(SAMPLE)
    out = run(["spam", "train", "rows.csv"], workdir).stdout
    assert "learned 2 spam and 2 ham rows" in out
    assert query(workdir, "SELECT spam, ham FROM classifier_counts WHERE feature = ''") == [
        (2 * DECISION_WEIGHT, 2 * DECISION_WEIGHT)
    ]
    learned = json.loads(
        run(["spam", "evaluate", "rows.csv", "--base", "none", "--json"], workdir).stdout
    )
    assert learned["auc"] == 1.0  # it has seen exactly these rows


def test_spam_learn_history_teaches_an_imported_disqus_history_once(workdir):
    from pathlib import Path

    rich = Path(__file__).parent / "fixtures" / "imports" / "disqus" / "rich.xml"
    run(["import", "disqus", str(rich), "--site", "demo"], workdir)
    dry = run(["spam", "learn-history", "--site", "demo", "--dry-run"], workdir).stdout
    assert "demo: would learn 2 ham and 2 spam" in dry
    assert query(workdir, "SELECT count(*) FROM classifier_decisions") == [(0,)]
    out = run(["spam", "learn-history", "--site", "demo"], workdir).stdout
    assert "demo: learned 2 ham and 2 spam" in out
    assert "19 more ham only in the reserve" in out
    assert query(workdir, "SELECT ham_decisions, spam_decisions FROM classifier_cutoffs") == [
        (21, 2)
    ]
    assert query(
        workdir, "SELECT learned, count(*) FROM comments GROUP BY learned ORDER BY learned"
    ) == [(None, 22), ("ham", 2), ("spam", 2)]
    again = run(["spam", "learn-history", "--site", "demo"], workdir).stdout
    assert "nothing new" in again
