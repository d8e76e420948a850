"""``moderation db``: the database schema (Alembic migrations)."""

from __future__ import annotations

import click

from moderation.cli import State, pass_state


@click.group()
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
