"""``moderation spam``: the local spam scorer (rules and classifier), taught and measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from moderation.cli import State, pass_state
from moderation.config import Settings
from moderation.storage.db import Database


@click.group()
def spam() -> None:
    """The local spam scorer: teach it, measure it."""


@spam.command("train")
@click.argument("csv_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--site",
    default=None,
    metavar="SITE",
    help="also keep each row, scored just before it is learned, in this site's reserve of "
    "decisions, which calibrates the site's cut-offs as its moderators' decisions do",
)
@pass_state
def spam_train(state: State, csv_files: tuple[str, ...], site: str | None) -> None:
    """Teach the shared classifier labelled rows (author,email,url,content,label,source)."""
    from moderation.scorers.classifier.features import features
    from moderation.scorers.evaluation import read_rows
    from moderation.services import build_context
    from moderation.services.spam import calibrate_site, learn, model_for, record_decision

    if site is not None and site not in state.settings.sites:
        raise click.ClickException(f"--site: no site {site!r} in the configuration")
    ctx = build_context(state.settings)
    total = {"spam": 0, "ham": 0}
    with state.database().write() as tx:
        for path in csv_files:
            for row in read_rows(path):
                submission = evaluation_submission(row)
                model = None
                if site is not None:
                    feats = features(submission)
                    model = model_for(tx, feats)
                    record_decision(tx, ctx, site, None, row.is_spam, model.score(feats), False)
                learn(tx, submission, row.is_spam, model=model)
                total["spam" if row.is_spam else "ham"] += 1
        cutoffs = calibrate_site(tx, ctx, site) if site is not None else None
    click.echo(f"learned {total['spam']} spam and {total['ham']} ham rows")
    if cutoffs is not None:
        click.echo(f"{site}: cut-offs unsure {cutoffs.unsure:.6f}, spam {cutoffs.spam:.6f}")


@spam.command("learn-history")
@click.option("--site", "site_id", required=True, metavar="SITE", help="the site whose history")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="only the newest N comments not learned yet (still taught oldest first)",
)
@click.option("--dry-run", is_flag=True, help="work it all out, print it, write nothing")
@pass_state
def spam_learn_history(state: State, site_id: str, limit: int | None, dry_run: bool) -> None:
    """Teach the classifier the site's stored history (its imported comments, approved or spam,
    never learned) and fill its reserve of decisions, which calibrates its cut-offs.

    Each comment is scored just before it is learned, as a moderator's decision is. The model
    learns no more ham than spam from one history (a ham-only one, as WordPress, Isso and Remark42
    exports are, only fills the reserve); running it again finds nothing new.
    """
    from moderation.services import build_context
    from moderation.services.spam_history import UnknownSite, learn_history

    ctx = build_context(state.settings)
    try:
        report = learn_history(state.database(), ctx, site_id, limit=limit, dry_run=dry_run)
    except UnknownSite:
        raise click.ClickException(f"--site: no site {site_id!r} in the configuration") from None
    for line in report.lines():
        click.echo(line)


@spam.command("evaluate")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--online", is_flag=True, help="learn each row's label right after scoring it")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.option(
    "--base",
    default="shipped",
    metavar="shipped|none|FILE",
    help="start from the shipped base model (default), from nothing, or from a model "
    "file written by scripts/train_base_model.py; what this installation learned "
    "(spam train, moderators) is always added",
)
@click.option(
    "--history",
    "history_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="CSV",
    help="rows posted before CSV_FILE's (each row's source is its page; a spam label is a copy "
    "marked spam), for the repeated-text rule only: never scored, never learned",
)
@click.option(
    "--flagged",
    is_flag=True,
    help="also list each ham row sent to spam (to stderr with --json): the false positives",
)
@pass_state
def spam_evaluate(
    state: State,
    csv_file: str,
    online: bool,
    as_json: bool,
    base: str,
    history_files: tuple[str, ...],
    flagged: bool,
) -> None:
    """Score rows with the local scorer alone (rules and classifier; no Akismet, nothing stored).

    Besides the verdicts' precision, recall and false-positive rate, it prints the recall at fixed
    false-positive rates of the classifier's probability (recall_at_fpr_1pct, _0_5pct), which
    compare across runs whatever cut-offs are in force.

    The repeated-text rule sees the rows before each row, in file order, as the earlier comments
    (a row's source is its page): a copy counts as marked spam once it was scored spam or, with
    --online, once its label was learned as spam.
    """
    import itertools
    import json

    from moderation.scorers.evaluation import SPAM_VERDICTS, evaluate, read_rows

    history = [row for path in history_files for row in read_rows(path)]
    score_row, learn_row = local_scorer(state.settings, state.database(), base, history)
    false_positives: list[str] = []
    numbers = itertools.count(1)  # `evaluate` scores each row once, in file order

    def scored(row: Any) -> Any:
        verdict, prob = score_row(row)
        number = next(numbers)
        if flagged and not row.is_spam and verdict in SPAM_VERDICTS:
            text = " ".join(row.content.split())
            shown = text if len(text) <= 100 else text[:99] + "…"
            place = f"row {number}" + (f" ({row.source})" if row.source else "")
            false_positives.append(f"{place}, p={prob:.4f}: {shown}")
        return verdict, prob

    result = evaluate(read_rows(csv_file), scored, learn_row, online=online)
    if as_json:
        click.echo(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            shown = f"{value:.4f}" if isinstance(value, float) and key != "rows_per_s" else value
            click.echo(f"{key:>{width}}: {shown}")
    if flagged:
        say = f"ham sent to spam: {len(false_positives)}"
        for line in [say, *(f"  {fp}" for fp in false_positives)]:
            click.echo(line, err=as_json)


def evaluation_submission(row: Any) -> Any:
    """A CSV row as the widget would send it. The open sets carry no user agent or IP, so a
    browser's user agent stands in (else the missing-user-agent rule would fire on every row)."""
    import dataclasses

    return dataclasses.replace(row.submission(), user_agent="Mozilla/5.0 (evaluation)")


def local_scorer(
    settings: Settings, database: Database, base: str, history: Sequence[Any] = ()
) -> tuple[Any, Any]:
    """score_row/learn_row over the rules and an in-memory classifier: the base model (or
    nothing) plus the counts this installation learned, with the model's cut-offs. Online learning
    stays in memory, and calibrates the cut-offs from the rows learned so far as a site's are.

    The repeated-text rule counts the `history` rows (a spam label is a copy marked spam) and the
    rows scored before, each marked spam when its verdict was spam (or, online, its label is)."""
    import collections

    from moderation.domain.scoring import Thresholds, combine
    from moderation.models import ClassifierCount
    from moderation.scorers.classifier import ClassifierScorer, SpamModel
    from moderation.scorers.classifier.calibration import calibrate
    from moderation.scorers.classifier.features import features
    from moderation.scorers.evaluation import SPAM_VERDICTS, RepeatCounter
    from moderation.scorers.rules import RuleLists, RuleScorer, RuleSettings
    from moderation.services.spam import TOTALS, WEIGHT_PREFIX, base_model, held_ham_share

    shipped = base_model()
    if base == "shipped":
        model = shipped.copy()
    elif base == "none":
        model = SpamModel(params=shipped.params, cutoffs=shipped.cutoffs)
    else:
        try:
            model = SpamModel.from_bytes(Path(base).read_bytes())
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"--base: cannot read a model from {base}: {exc}") from None
    with database.read() as session:
        for row in session.scalars(select(ClassifierCount)):
            if row.feature == TOTALS:
                model.spam_total += row.spam
                model.ham_total += row.ham
                continue
            weight = row.feature.startswith(WEIGHT_PREFIX)
            table = model.weights if weight else model.counts
            key = row.feature.removeprefix(WEIGHT_PREFIX) if weight else row.feature
            pair = table.setdefault(key, [0.0, 0.0])
            pair[0] += row.spam
            pair[1] += row.ham

    spam = settings.spam
    rules = RuleScorer(
        RuleSettings(max_links=spam.max_links, count_website_as_link=spam.count_website_as_link),
        RuleLists(
            moderation_keys=spam.moderation_keys,
            disallowed_keys=spam.disallowed_keys,
            blocked_ips=spam.blocked_ips,
            blocked_emails=spam.blocked_emails,
            blocked_domains=spam.blocked_domains,
        ),
    )
    classifier = ClassifierScorer(model)
    thresholds = Thresholds(spam.unsure_threshold, spam.spam_threshold)
    # Online, the cut-offs are calibrated as a site's are: each row's probability, scored before
    # its label is learned, joins a reserve of the newest `decision_reserve` ham.
    reserve: collections.deque[float] = collections.deque(maxlen=spam.decision_reserve)
    last: dict[str, Any] = {}
    repeats = RepeatCounter()
    for earlier in history:
        repeats.add(earlier, earlier.is_spam)
    window = spam.repeat_window_days > 0

    def score_row(row: Any) -> tuple[Any, float]:
        submission = evaluation_submission(row)
        feats = features(submission)
        signal, prob = classifier.judge(feats)
        last.update(row=row, feats=feats, prob=prob)
        if window:
            submission = repeats.submission(row, submission)
        verdict = combine([*rules.score(submission), signal], thresholds).verdict
        if window:
            repeats.add(row, verdict in SPAM_VERDICTS)
        return verdict, prob

    def learn_row(row: Any) -> None:
        if last.get("row") is not row:
            score_row(row)
        if not row.is_spam:
            reserve.append(last["prob"])
            classifier.cutoffs = calibrate(
                list(reserve), model.cutoffs, spam.max_false_positive_share, held_ham_share()
            )
        classifier.model.learn_decision(last["feats"], row.is_spam)
        if window:  # a moderator's decision replaces the verdict's mark
            repeats.add(row, row.is_spam)

    return score_row, learn_row
