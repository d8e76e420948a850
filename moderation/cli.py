"""The ``moderation`` command."""

from __future__ import annotations

import getpass
import hashlib
import secrets
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from moderation.config import ConfigError, Settings, config_path, load_settings
from moderation.models import ApiToken, Moderator, Role
from moderation.storage.db import Database


class State:
    """Lazily loaded settings, so ``--help`` works without a config file."""

    def __init__(self, path: str | None) -> None:
        self.path = config_path(path)
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The checked settings; a bad config ends the command with its message."""
        if self._settings is None:
            try:
                self._settings = load_settings(self.path)
            except ConfigError as exc:
                raise click.ClickException(f"config: {exc}") from None
        return self._settings

    def database(self) -> Database:
        """A database handle for one command."""
        return Database(self.settings.database.url)


pass_state = click.make_pass_decorator(State)


@click.group()
@click.option(
    "--config",
    "config",
    metavar="PATH",
    help="config file (else $MODERATION_CONFIG, else ./config.toml)",
)
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Comments and linkbacks, scored for spam, moderated, served fast."""
    ctx.obj = State(config)


@main.command()
@click.option("--host", default=None, help="address to bind (default [server] host)")
@click.option("--port", type=int, default=None, help="port (default [server] port)")
@click.option(
    "--workers", type=int, default=None, help="worker processes (default [server] workers)"
)
@pass_state
def serve(state: State, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the app with Granian (a production WSGI server)."""
    from moderation.runtime.server import run

    run(state.settings, host=host, port=port, workers=workers, config_path=state.path)


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_state
def db_upgrade(state: State, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from moderation.storage import migrations

    migrations.upgrade(state.settings.database.url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@pass_state
def db_downgrade(state: State, revision: str) -> None:
    """Revert migrations down to REVISION ("base" removes everything)."""
    from moderation.storage import migrations

    migrations.downgrade(state.settings.database.url, revision)
    click.echo(f"database at {revision}")


@db.command("current")
@pass_state
def db_current(state: State) -> None:
    """Print the database's revision."""
    from moderation.storage import migrations

    migrations.current(state.settings.database.url)


@main.group()
def moderators() -> None:
    """Moderator accounts."""


@moderators.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="moderator")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@pass_state
def moderators_add(state: State, email: str, role: str, password_stdin: bool) -> None:
    """Create a moderator who signs in with EMAIL."""
    from moderation.passwords import hash_password

    password = _read_password(password_stdin)
    database = state.database()
    with database.write() as session:
        if session.scalar(select(Moderator.id).where(Moderator.email == email.lower())):
            raise click.ClickException(f"a moderator {email} exists already")
        session.add(
            Moderator(email=email.lower(), password_hash=hash_password(password), role=Role(role))
        )
    click.echo(f"moderator {email.lower()} added ({role})")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the passwords differ")
    if len(password) < 10:
        raise click.ClickException("a password needs at least 10 characters")
    return password


@main.group()
def tokens() -> None:
    """API tokens for the moderation API."""


@tokens.command("create")
@click.argument("name")
@pass_state
def tokens_create(state: State, name: str) -> None:
    """Print a new API token called NAME (only its hash is stored: keep it now)."""
    token = "mod_" + secrets.token_urlsafe(32)
    with state.database().write() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
            raise click.ClickException(f"a token named {name} exists already")
        session.add(ApiToken(name=name, token_hash=hashlib.sha256(token.encode()).hexdigest()))
    click.echo(token)


@main.command()
@click.option("--threads", type=int, default=2, help="job threads")
@pass_state
def worker(state: State, threads: int) -> None:
    """Run the background-job consumer (Akismet re-checks and feedback, mail, purges)."""
    from moderation.runtime.jobs import Jobs
    from moderation.runtime.logs import configure_logging
    from moderation.runtime.process import limit_malloc_arenas
    from moderation.services import build_context

    configure_logging(state.settings.server.log_level)
    limit_malloc_arenas()
    jobs = Jobs(state.settings, state.database(), build_context(state.settings))
    # Whatever was due when the last worker stopped (or was never queued) is queued again now.
    jobs.sweep()
    jobs.consumer(workers=threads).run()  # type: ignore[attr-defined]


@main.group()
def spam() -> None:
    """The local spam scorer: teach it, measure it."""


@spam.command("train")
@click.argument("csv_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@pass_state
def spam_train(state: State, csv_files: tuple[str, ...]) -> None:
    """Teach the shared classifier labelled rows (author,email,url,content,label,source)."""
    from moderation.scorers.evaluation import read_rows
    from moderation.services.spam import learn

    total = {"spam": 0, "ham": 0}
    with state.database().write() as session:
        for path in csv_files:
            for row in read_rows(path):
                learn(session, evaluation_submission(row), row.is_spam)
                total["spam" if row.is_spam else "ham"] += 1
    click.echo(f"learned {total['spam']} spam and {total['ham']} ham rows")


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
@pass_state
def spam_evaluate(state: State, csv_file: str, online: bool, as_json: bool, base: str) -> None:
    """Score rows with the local scorer alone (rules and classifier; no Akismet, nothing stored)."""
    import json

    from moderation.scorers.evaluation import evaluate, read_rows

    score_row, learn_row = local_scorer(state.settings, state.database(), base)
    result = evaluate(read_rows(csv_file), score_row, learn_row, online=online)
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) and key != "rows_per_s" else value
        click.echo(f"{key:>11}: {shown}")


def evaluation_submission(row: Any) -> Any:
    """A CSV row as the widget would send it. The open sets carry no user agent or IP, so a
    browser's user agent stands in (else the missing-user-agent rule would fire on every row)."""
    import dataclasses

    return dataclasses.replace(row.submission(), user_agent="Mozilla/5.0 (evaluation)")


def local_scorer(settings: Settings, database: Database, base: str) -> tuple[Any, Any]:
    """score_row/learn_row over the rules and an in-memory classifier: the base model (or
    nothing) plus the counts this installation learned. Online learning stays in memory."""
    from moderation.domain.scoring import Thresholds, combine
    from moderation.models import ClassifierCount
    from moderation.scorers.classifier import ClassifierScorer, SpamModel
    from moderation.scorers.heuristics import RuleLists, RuleScorer, RuleSettings
    from moderation.services.spam import TOTALS, base_model

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
            else:
                counts = model.counts.setdefault(row.feature, [0.0, 0.0])
                counts[0] += row.spam
                counts[1] += row.ham

    spam = settings.spam
    rules = RuleScorer(
        RuleSettings(max_links=spam.max_links),
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

    def score_row(row: Any) -> tuple[Any, float]:
        submission = evaluation_submission(row)
        signal, prob = classifier.assess(submission)
        return combine([*rules.score(submission), signal], thresholds).verdict, prob

    def learn_row(row: Any) -> None:
        classifier.learn(evaluation_submission(row), row.is_spam)

    return score_row, learn_row


@main.command("init-config")
@click.argument("path", default="config.toml")
@click.option("--demo", is_flag=True, help="a local demo site on http://127.0.0.1:8000")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init_config(path: str, demo: bool, force: bool) -> None:
    """Write a starting config file with a fresh secret key."""
    target = Path(path)
    if target.exists() and not force:
        click.echo(f"{target} exists; leaving it alone")
        return
    target.write_text(_config_text(demo))
    target.chmod(0o600)
    click.echo(f"wrote {target}")


def _config_text(demo: bool) -> str:
    here = "http://127.0.0.1:8000"
    site_url = here if demo else "https://blog.example.org"
    lines: list[Any] = [
        "[server]",
        f'secret_key = "{secrets.token_urlsafe(32)}"',
        f'public_url = "{here if demo else "https://comments.example.org"}"',
        'demo_site = "demo"' if demo else "",
        "",
        "[database]",
        'url = "sqlite:///var/moderation.db"',
        "",
        "[sites.demo]" if demo else "[sites.blog]",
        f'url = "{site_url}"',
        f'origins = ["{site_url}", "http://localhost:8000"]',
        'moderation = "first-time"',
        "",
    ]
    return "\n".join(str(line) for line in lines)


@main.group()
def linkbacks() -> None:
    """Linkbacks: what a page must carry to receive them, and sending them for a post."""


@linkbacks.command("discovery")
@click.argument("site")
@click.argument("uri")
@click.option("--title", default="", help="the page's title, for the TrackBack RDF block")
@click.option("--json", "as_json", is_flag=True, help="one JSON object, as GET /api/v1/discovery")
@pass_state
def linkbacks_discovery(state: State, site: str, uri: str, title: str, as_json: bool) -> None:
    """Print the discovery markup and headers for page URI (a path) of SITE."""
    import json

    from moderation.errors import InvalidInput
    from moderation.services.linkbacks import discovery
    from moderation.services.tokens import Tokens

    if not uri.startswith("/"):
        raise click.ClickException("URI is the page's path, starting with /")
    try:
        found = discovery(state.settings, Tokens.from_settings(state.settings), site, uri, title)
    except InvalidInput:
        raise click.ClickException(f"no site {site!r} in {state.path}") from None
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    click.echo(f"<!-- in the <head> of {found.page_url} -->\n{found.html}\n")
    click.echo(f"<!-- in its <body> -->\n{found.trackback_rdf}\n")
    click.echo(f"# HTTP headers, if the host can send them\nLink: {found.link_header}")
    click.echo(f"X-Pingback: {found.x_pingback}")


@linkbacks.command("send")
@click.argument("url")
@pass_state
def linkbacks_send(state: State, url: str) -> None:
    """Tell the pages that the post at URL links to: a webmention, else a pingback, else a
    trackback, whichever each page advertises. Prints one line per page."""
    from moderation.errors import ModerationError
    from moderation.net.fetcher import Fetcher
    from moderation.net.guarded import FetchError
    from moderation.services.sending import Poster, send_linkbacks

    fetch = state.settings.fetch
    try:
        results = send_linkbacks(Fetcher(fetch), Poster(fetch), url)
    except (FetchError, ModerationError) as exc:
        raise click.ClickException(f"cannot read the post {url}: {exc}") from None
    if not results:
        click.echo("the post links to no other page")
    for result in results:
        click.echo(result.line())


if __name__ == "__main__":  # pragma: no cover
    main()
