"""``moderation tokens``: API tokens for the moderation API: create, list, revoke.

Only a token's SHA-256 is stored, so ``list`` shows names, dates, whether a token is revoked and
whose it is, never the tokens. ``create --moderator EMAIL`` ties a token to a moderator: it sees
their sites only (`accounts.token_sites`) and is refused (401) once they are deactivated.
``revoke`` takes effect on the next request (`accounts.find_api_token` skips revoked tokens): the
moderation API answers it 401.
"""

from __future__ import annotations

from datetime import datetime

import click

from moderation.cli import State, pass_state
from moderation.errors import Duplicate, InvalidInput, NotFound
from moderation.services import Context, accounts
from moderation.services.tokens import Tokens
from moderation.storage.db import utcnow


@click.group()
def tokens() -> None:
    """API tokens for the moderation API."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--moderator",
    "email",
    metavar="EMAIL",
    help="the moderator the token belongs to: it sees their sites only, and dies with their account",
)
@pass_state
def tokens_create(state: State, name: str, email: str | None) -> None:
    """Print a new API token called NAME (only its hash is stored: keep it now)."""
    ctx = Context(settings=state.settings, tokens=Tokens.from_settings(state.settings))
    try:
        with state.database().write() as tx:
            moderator_id = None
            if email is not None:
                moderator = accounts.find_moderator(tx, email)
                if moderator is None:
                    raise NotFound(f"no moderator {email}")
                moderator_id = moderator.id
            _, token = accounts.create_api_token(tx, ctx, name, moderator_id=moderator_id)
    except (NotFound, InvalidInput, Duplicate) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(token)


def _when(moment: datetime | None, never: str = "never") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else never


@tokens.command("list")
@pass_state
def tokens_list(state: State) -> None:
    """List the API tokens: id, name, created, last used, active or revoked, and the moderator a
    token belongs to ("-": none, it sees every site); never the tokens."""
    with state.database().read() as session:
        rows = accounts.list_api_tokens(session)
        if not rows:
            click.echo("no API tokens (moderation tokens create NAME makes one)")
            return
        width = max(len("NAME"), *(len(row.name) for row, _ in rows))
        click.echo(
            f"{'ID':>5}  {'NAME':<{width}}  {'CREATED':<16}  {'LAST USED':<16}  "
            f"{'STATE':<24}  MODERATOR"
        )
        for row, owner in rows:
            state_text = f"revoked {_when(row.revoked_at)}" if row.revoked_at else "active"
            click.echo(
                f"{row.id:>5}  {row.name:<{width}}  {_when(row.created_at):<16}  "
                f"{_when(row.last_used_at):<16}  {state_text:<24}  {owner or '-'}"
            )


@tokens.command("revoke")
@click.argument("name", required=False)
@click.option(
    "--id", "token_id", type=int, help="the token's id (from tokens list) instead of NAME"
)
@pass_state
def tokens_revoke(state: State, name: str | None, token_id: int | None) -> None:
    """Revoke the API token called NAME (or --id): refused (401) from the next request on."""
    if (name is None) == (token_id is None):
        raise click.UsageError("give the token's NAME or --id, one of them")
    try:
        with state.database().write() as tx:
            row = accounts.revoke_api_token(tx, utcnow(), name=name, token_id=token_id)
            revoked = row.name
    except (NotFound, InvalidInput) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"token {revoked} revoked: the moderation API refuses it from now on")
