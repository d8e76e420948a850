"""``moderation privacy``: personal-data requests. ``export EMAIL`` prints everything kept about an
address as JSON (GDPR articles 15 and 20); ``erase EMAIL`` anonymises that address's comments, or
with ``--delete`` deletes them (article 17)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from moderation.cli import State, pass_state
from moderation.services import build_context, privacy


@click.group("privacy")
def privacy_group() -> None:
    """Personal-data requests: export or erase what is kept about an e-mail address."""


@privacy_group.command("export")
@click.argument("email")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="A file.")
@pass_state
def privacy_export(state: State, email: str, output: Path | None) -> None:
    """Print (or write to a file) every comment kept for EMAIL, as JSON."""
    with state.database().read() as session:
        data = privacy.export_personal_data(session, email)
    document = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")
        click.echo(f"{len(data['comments'])} comments written to {output}", err=True)


@privacy_group.command("erase")
@click.argument("email")
@click.option("--delete", is_flag=True, help="Delete the comments instead of anonymising them.")
@pass_state
def privacy_erase(state: State, email: str, delete: bool) -> None:
    """Anonymise EMAIL's comments (name, e-mail, website, IP removed; the text stays), or delete
    them with --delete (a comment with replies stays as their placeholder)."""
    ctx = build_context(state.settings)
    with state.database().write() as tx:
        count = privacy.erase_personal_data(tx, ctx, email, delete=delete)
    done = "deleted" if delete else "anonymised"
    click.echo(f"{count} comment{'s' * (count != 1)} {done}")
