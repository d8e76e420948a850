"""``moderation import FORMAT FILE --site SITE`` and ``moderation export --site SITE --format F``:
bringing comments from WordPress, Disqus, Isso, Remark42 or our own export, and taking them away."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from moderation.cli import State, pass_state
from moderation.errors import DatabaseBusy, InvalidInput
from moderation.interchange.records import MalformedExport
from moderation.services import build_context, exports, imports


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(imports.FORMATS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--site", "site_id", required=True, help="The site (from the config) to import into.")
@click.option("--dry-run", is_flag=True, help="Read the file and report; change nothing.")
@click.option(
    "--learn",
    is_flag=True,
    help="Then teach the classifier from the site's history, as `spam learn-history` does.",
)
@pass_state
def import_command(
    state: State, fmt: str, file: Path, site_id: str, dry_run: bool, learn: bool
) -> None:
    """Import FILE, an export of FORMAT (wordpress: WXR; disqus: XML; isso: its SQLite database;
    remark42: a backup; json: ours), into SITE. Running it again adds nothing twice."""
    ctx = build_context(state.settings)
    database = state.database()
    show = sys.stderr.isatty()
    try:
        with click.progressbar(
            length=0, label=f"importing {file.name}", file=sys.stderr, hidden=not show
        ) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            summary = imports.run_import(
                database,
                ctx,
                site_id,
                fmt,
                file,
                dry_run=dry_run,
                learn=learn,
                progress=advance,
            )
    except MalformedExport as exc:
        raise click.ClickException(f"{file}: {exc}; nothing was imported") from None
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    except DatabaseBusy:
        raise click.ClickException(
            "the database stayed busy; run the same import again: it goes on where it stopped"
        ) from None
    for line in summary.lines():
        click.echo(line)


@click.command("export")
@click.option("--site", "site_id", required=True, help="The site (from the config) to export.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(exports.EXPORT_FORMATS),
    default="json",
    show_default=True,
    help="json: ours, imports back losslessly; wxr: WordPress's.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="A file.")
@click.option("--with-ip", is_flag=True, help="Include IP addresses, user agents and referrers.")
@pass_state
def export_command(
    state: State, site_id: str, fmt: str, output: Path | None, with_ip: bool
) -> None:
    """Write every thread and comment of SITE (to standard output, or to a file with -o)."""
    site = state.settings.sites.get(site_id)
    if site is None:
        raise click.ClickException(f"no site {site_id!r} in the config")
    database = state.database()
    if output is None:
        count = exports.export_site(database, site_id, site, fmt, sys.stdout, with_ip=with_ip)
    else:
        partial = output.with_name(output.name + ".part")
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            count = exports.export_site(database, site_id, site, fmt, out, with_ip=with_ip)
        partial.replace(output)  # a file that is there is complete
    click.echo(f"{count} comments exported", err=True)
