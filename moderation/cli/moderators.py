"""``moderation moderators``: moderator accounts: add one, change a password (which ends the
moderator's sessions: `accounts.set_password`)."""

from __future__ import annotations

import getpass
import sys

import click
from sqlalchemy import select

from moderation.cli import State, pass_state
from moderation.models import Moderator, Role


@click.group()
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
    with database.write() as tx:
        if tx.scalar(select(Moderator.id).where(Moderator.email == email.lower())):
            raise click.ClickException(f"a moderator {email} exists already")
        tx.add(
            Moderator(email=email.lower(), password_hash=hash_password(password), role=Role(role))
        )
    click.echo(f"moderator {email.lower()} added ({role})")


@moderators.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@pass_state
def moderators_password(state: State, email: str, password_stdin: bool) -> None:
    """Give the moderator who signs in with EMAIL a new password; their sessions end (every
    browser signed in as them must sign in again)."""
    from moderation.services import accounts

    password = _read_password(password_stdin)
    with state.database().write() as tx:
        found = tx.scalar(select(Moderator.id).where(Moderator.email == email.strip().lower()))
        if found is None:
            raise click.ClickException(f"no moderator {email}")
        accounts.set_password(tx, found, password)
    click.echo(f"password of {email.strip().lower()} changed; their sessions have ended")


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
