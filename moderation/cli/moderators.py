"""``moderation moderators``: moderator accounts: add one (``--site`` lists the sites it may
moderate, none: every site), change a password (which ends the moderator's sessions:
`accounts.set_password`)."""

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
@click.option(
    "--site",
    "sites",
    multiple=True,
    metavar="SITE",
    help="a site id this moderator may moderate (repeatable; none: every site)",
)
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@pass_state
def moderators_add(
    state: State, email: str, role: str, sites: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a moderator who signs in with EMAIL; with ``--site``, only for those sites."""
    from moderation.errors import Duplicate, InvalidInput
    from moderation.services import Context, accounts
    from moderation.services.tokens import Tokens

    known = state.settings.sites
    unknown = sorted(set(sites) - set(known))
    if unknown:
        raise click.ClickException(
            f"unknown site {', '.join(unknown)} (the config has: {', '.join(sorted(known))})"
        )
    if sites and role == Role.admin.value:
        raise click.ClickException("an admin moderates every site: --site is for moderators")
    password = _read_password(password_stdin)
    ctx = Context(settings=state.settings, tokens=Tokens.from_settings(state.settings))
    with state.database().write() as tx:
        try:  # the dashboard's own path: the same checks, the same row
            moderator = accounts.add_moderator(tx, ctx, email, role, password)
            listed = accounts.set_sites(tx, moderator.id, sites, known)
        except (InvalidInput, Duplicate) as exc:
            raise click.ClickException(str(exc)) from None
    email = moderator.email
    where = f" for the sites {', '.join(listed)}" if listed else ""
    click.echo(f"moderator {email} added ({role}){where}")


@moderators.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@pass_state
def moderators_password(state: State, email: str, password_stdin: bool) -> None:
    """Give the moderator who signs in with EMAIL a new password; their sessions end (every
    browser signed in as them must sign in again)."""
    from moderation.errors import InvalidInput
    from moderation.services import accounts

    password = _read_password(password_stdin)
    with state.database().write() as tx:
        found = tx.scalar(select(Moderator.id).where(Moderator.email == email.strip().lower()))
        if found is None:
            raise click.ClickException(f"no moderator {email}")
        try:
            accounts.set_password(tx, found, password)
        except InvalidInput as exc:  # too short
            raise click.ClickException(str(exc)) from None
    click.echo(f"password of {email.strip().lower()} changed; their sessions have ended")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the passwords differ")
    return password
