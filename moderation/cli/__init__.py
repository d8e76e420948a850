"""The ``moderation`` command: the group, its shared state, and one module per command group.

``db`` (migrations, backups), ``moderators``, ``tokens``, ``spam`` (train, evaluate),
``linkbacks`` (discovery, send), ``serve`` (serve, worker), ``setup`` (init-config), ``privacy``
and ``interchange`` (import, export) each hold their commands; this module registers them on `main`.
"""

from __future__ import annotations

import click

from moderation.config import ConfigError, Settings, config_path, load_settings
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


def _register(group: click.Group) -> None:
    """Add every command group to GROUP (the modules import `State` and `pass_state` from here,
    so they are imported once both exist)."""
    from moderation.cli import (
        db,
        interchange,
        linkbacks,
        moderators,
        privacy,
        serve,
        setup,
        spam,
        tokens,
    )

    for command in (
        serve.serve,
        db.db,
        moderators.moderators,
        tokens.tokens,
        serve.worker,
        spam.spam,
        setup.init_config,
        linkbacks.linkbacks,
        privacy.privacy_group,
        interchange.import_command,
        interchange.export_command,
    ):
        group.add_command(command)


_register(main)
