"""``moderation spam train --site``: labelled history teaches the classifier and calibrates the
site's cut-offs, on the test's database (SQLite and PostgreSQL); ``spam evaluate --history``."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from moderation.models import ClassifierCount, ClassifierCutoff, ClassifierDecision
from moderation.scorers.classifier.model import DECISION_WEIGHT

PLAIN = [
    "I tried the second approach on my laptop and it worked after a restart.",
    "Could you say more about how the cache is invalidated when a post changes?",
    "We ran into the same problem last spring; pinning the version fixed it.",
    "The diagrams helped a lot with the part about indexes, and the query plans too.",
]
SPAM = "CHECK OUT MY CHANNEL http://bit.ly/x subscribe!!!"


def history(path, ham: int, spam: int) -> None:
    lines = ["author,email,url,content,label,source"]
    lines += [f'Reader {i},,,"{PLAIN[i % 4]} ({i})",ham,blog' for i in range(ham)]
    lines += [f"Bot {i},,,{SPAM} {i},spam,blog" for i in range(spam)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_train_with_a_site_fills_its_reserve_and_calibrates_it(cli, tmp_path, session):
    history(tmp_path / "old.csv", ham=30, spam=10)
    out = cli("spam", "train", "old.csv", "--site", "demo").output
    assert "learned 10 spam and 30 ham rows" in out
    assert "demo: cut-offs unsure" in out
    kinds = dict(
        session.execute(
            select(ClassifierDecision.is_spam, func.count()).group_by(ClassifierDecision.is_spam)
        ).all()
    )
    assert kinds == {False: 30, True: 10}
    row = session.get(ClassifierCutoff, "demo")
    assert (row.ham_decisions, row.spam_decisions) == (30, 10)
    assert session.get(ClassifierCount, "").ham == 30 * DECISION_WEIGHT


def test_train_without_a_site_leaves_the_cut_offs_alone(cli, tmp_path, session):
    history(tmp_path / "old.csv", ham=3, spam=1)
    cli("spam", "train", "old.csv")
    assert session.scalar(select(func.count()).select_from(ClassifierDecision)) == 0
    assert session.scalar(select(func.count()).select_from(ClassifierCutoff)) == 0


def test_train_refuses_an_unknown_site(cli, tmp_path, session):
    history(tmp_path / "old.csv", ham=1, spam=1)
    result = cli("spam", "train", "old.csv", "--site", "nowhere", ok=False)
    assert result.exit_code != 0
    assert "no site 'nowhere'" in result.output
    assert session.scalar(select(func.count()).select_from(ClassifierCount)) == 0


def test_evaluate_with_history_scores_only_the_file_s_rows(cli, tmp_path):
    """--history rows are earlier pages for the repeated-text rule: never scored themselves."""
    history(tmp_path / "old.csv", ham=6, spam=4)
    (tmp_path / "new.csv").write_text(
        "author,email,url,content,label,source\n"
        f"Bot,,,{SPAM} 1,spam,other-page\n"
        f'Ann,,,"{PLAIN[0]}",ham,other-page\n',
        encoding="utf-8",
    )
    out = cli("spam", "evaluate", "new.csv", "--history", "old.csv", "--json").output
    assert json.loads(out)["rows"] == 2
    missing = cli("spam", "evaluate", "new.csv", "--history", "nowhere.csv", ok=False)
    assert missing.exit_code != 0


def test_learn_history_teaches_a_site_s_imported_comments_once(cli, session):
    """``spam learn-history``: the dry run writes nothing; the run learns, then finds nothing."""
    from moderation.domain.states import CommentStatus
    from moderation.models import Comment
    from tests.factories import make_comment, make_thread

    thread = make_thread(session, site="demo")
    for i in range(6):
        make_comment(
            session,
            thread,
            status=CommentStatus.spam if i % 2 else CommentStatus.approved,
            text=f"{SPAM} {i}" if i % 2 else f"{PLAIN[i % 4]} ({i})",
            import_source="wordpress",
            import_id=str(i),
        )
    dry = cli("spam", "learn-history", "--site", "demo", "--dry-run").output
    assert "demo: would learn 3 ham and 3 spam" in dry
    assert "cut-offs before: unsure" in dry
    assert session.scalar(select(func.count()).select_from(ClassifierCount)) == 0

    out = cli("spam", "learn-history", "--site", "demo").output
    assert "demo: learned 3 ham and 3 spam" in out
    assert "reserve: 6 decisions added" in out
    assert "cut-offs after: unsure" in out
    session.expire_all()
    marks = session.scalars(select(Comment.learned).order_by(Comment.id)).all()
    assert marks == ["ham", "spam"] * 3
    assert session.get(ClassifierCutoff, "demo").ham_decisions == 3

    again = cli("spam", "learn-history", "--site", "demo").output
    assert "demo: learned 0 ham and 0 spam" in again
    refused = cli("spam", "learn-history", "--site", "nowhere", ok=False)
    assert refused.exit_code != 0
    assert "no site 'nowhere'" in refused.output


def test_evaluate_flagged_lists_the_ham_sent_to_spam(cli, tmp_path):
    """``--flagged`` names each false positive (row, source, probability, text) and nothing else;
    with --json the list goes to stderr and stdout stays one JSON object."""
    rows = ["author,email,url,content,label,source"]
    rows += [f'Reader,,,"{PLAIN[0]}",ham,blog'] * 3
    rows += [f"Bot,,,{SPAM},ham,shop"]  # mislabelled: the scorer calls it spam
    rows += [f"Bot,,,{SPAM} again,spam,shop"]
    (tmp_path / "rows.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = cli("spam", "evaluate", "rows.csv", "--flagged").output
    assert "ham sent to spam: 1\n" in out
    (line,) = [x for x in out.splitlines() if x.startswith("  row ")]
    assert line.startswith("  row 4 (shop), p=")
    assert line.endswith(f": {SPAM}")
    result = cli("spam", "evaluate", "rows.csv", "--flagged", "--json")
    assert json.loads(result.stdout)["fpr"] == 0.25
    assert "ham sent to spam: 1" in result.stderr
