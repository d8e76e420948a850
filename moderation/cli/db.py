"""``moderation db``: the database schema (Alembic migrations), backups and restores."""

from __future__ import annotations

from pathlib import Path

import click

from moderation.cli import State, pass_state


@click.group()
def db() -> None:
    """Database schema (Alembic migrations), backups and restores."""


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


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def db_backup(state: State, path: Path) -> None:
    """Copy the SQLite database to PATH (a new file) while the service runs.

    PostgreSQL: use pg_dump (the README shows how)."""
    from moderation.storage.backup import BackupError, backup

    try:
        copied = backup(state.settings.database.url, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {copied.path} ({copied.bytes:,} bytes, schema {copied.revision})")


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@pass_state
def db_restore(state: State, path: Path, force: bool) -> None:
    """Replace the SQLite database with the backup at PATH."""
    from moderation.runtime.readiness import head_revisions
    from moderation.storage.backup import BackupError, restore

    try:
        copied = restore(state.settings.database.url, path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {path} into {copied.path} (schema {copied.revision})")
    if copied.revision not in head_revisions():
        click.echo("the backup's schema is older: run `moderation db upgrade`")
