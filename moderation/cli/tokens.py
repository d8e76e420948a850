"""``moderation tokens``: API tokens for the moderation API."""

from __future__ import annotations

import hashlib
import secrets

import click
from sqlalchemy import select

from moderation.cli import State, pass_state
from moderation.models import ApiToken


@click.group()
def tokens() -> None:
    """API tokens for the moderation API."""


@tokens.command("create")
@click.argument("name")
@pass_state
def tokens_create(state: State, name: str) -> None:
    """Print a new API token called NAME (only its hash is stored: keep it now)."""
    token = "mod_" + secrets.token_urlsafe(32)
    with state.database().write() as tx:
        if tx.scalar(select(ApiToken.id).where(ApiToken.name == name)):
            raise click.ClickException(f"a token named {name} exists already")
        tx.add(ApiToken(name=name, token_hash=hashlib.sha256(token.encode()).hexdigest()))
    click.echo(token)
