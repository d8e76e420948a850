"""Moderator accounts and API tokens: sign-in checks, adding and deactivating moderators, changing
passwords, ending sessions, and the bearer tokens of the moderation API (only their SHA-256 is
stored).

Sessions end on the server: a signed session names ``<moderator id>:<session generation>``
(`session_id`), and a session whose generation is not the moderator's current one opens nothing.
`end_sessions` bumps it; signing out, `set_password` and deactivating (`set_active`) call it, so a
copied cookie is dead on every worker and node at once, without a session table to keep.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from moderation.errors import Duplicate, InvalidInput, NotFound
from moderation.models import ApiToken, Moderator, ModeratorSite, Role
from moderation.passwords import hash_password, needs_rehash, verify_password
from moderation.services import Context

MIN_PASSWORD = 10  # as `moderation moderators add`
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# last_used_at is written at most this often per token, so a busy script does not turn every read
# of the API into a write.
TOKEN_TOUCH = timedelta(minutes=1)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so both cases take as long."""
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> Moderator | None:
    """The active moderator with this e-mail and password, or None (whichever part was wrong).
    Reads only: `record_sign_in` writes what a sign-in changes."""
    moderator = session.scalars(
        select(Moderator).where(Moderator.email == email.strip().lower())
    ).first()
    if moderator is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(moderator.password_hash, password) or not moderator.active:
        return None
    return moderator


def record_sign_in(tx: Session, ctx: Context, moderator: Moderator, password: str) -> None:
    """Record the sign-in time, and replace a hash made with weaker parameters than today's
    (argon2's ``check_needs_rehash``) by one of `password`, which `authenticate` accepted."""
    new_hash = hash_password(password) if needs_rehash(moderator.password_hash) else None
    values: dict[str, object] = {"last_login_at": ctx.clock()}
    if new_hash is not None:
        values["password_hash"] = new_hash
    tx.execute(update(Moderator).where(Moderator.id == moderator.id).values(values))


def session_id(moderator: Moderator) -> str:
    """What a signed session keeps of its moderator: the id and the session generation."""
    return f"{moderator.id}:{moderator.session_generation}"


def moderator_of_session(session: Session, signed_id: str) -> Moderator | None:
    """The active moderator a session's `session_id` names, if that session has not ended (its
    generation is still the moderator's); None for anything else, the bare ids of old cookies too."""
    moderator_id, _, generation = signed_id.partition(":")
    if not (moderator_id.isascii() and moderator_id.isdigit() and len(moderator_id) < 19):
        return None
    moderator = session.get(Moderator, int(moderator_id))
    if moderator is None or not moderator.active:
        return None
    if generation != str(moderator.session_generation):
        return None
    return moderator


def end_sessions(session: Session, moderator_id: int) -> None:
    """End every session of the moderator (every signed cookie naming the generation before)."""
    session.execute(
        update(Moderator)
        .where(Moderator.id == moderator_id)
        .values(session_generation=Moderator.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def check_password(password: str) -> None:
    """Raise `InvalidInput` for a password too short to keep."""
    if len(password) < MIN_PASSWORD:
        message = f"a password needs at least {MIN_PASSWORD} characters"
        raise InvalidInput(message, fields={"password": message})


def set_password(session: Session, moderator_id: int, password: str) -> Moderator:
    """Give the moderator a new password and end their sessions (whoever held one must sign in
    with the new password). Raises `InvalidInput` (too short) or `NotFound`."""
    check_password(password)
    moderator = get_moderator(session, moderator_id)
    new_hash = hash_password(password)
    session.execute(
        update(Moderator)
        .where(Moderator.id == moderator_id)
        .values(password_hash=new_hash)
        .execution_options(synchronize_session=False)
    )
    end_sessions(session, moderator_id)
    session.refresh(moderator)
    return moderator


def get_moderator(session: Session, moderator_id: int) -> Moderator:
    """The moderator with `moderator_id`; raise `NotFound`."""
    moderator = session.get(Moderator, moderator_id)
    if moderator is None:
        raise NotFound(f"no moderator {moderator_id}")
    return moderator


def find_moderator(session: Session, email: str) -> Moderator | None:
    """The moderator who signs in with `email` (any case), or None."""
    query = select(Moderator).where(Moderator.email == email.strip().lower())
    return session.scalars(query).first()


def list_moderators(session: Session) -> list[Moderator]:
    """Every moderator, active ones first, then by e-mail."""
    query = select(Moderator).order_by(Moderator.active.desc(), Moderator.email)
    return list(session.scalars(query))


def add_moderator(
    session: Session, ctx: Context, email: str, role: Role | str, password: str
) -> Moderator:
    """Create a moderator; raise `InvalidInput` (bad e-mail, role or short password) or
    `Duplicate` (the e-mail is taken)."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 255:
        raise InvalidInput("not an e-mail address", fields={"email": "an e-mail address"})
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("unknown role", fields={"role": "admin or moderator"}) from None
    check_password(password)
    if session.scalar(select(Moderator.id).where(func.lower(Moderator.email) == email)):
        raise Duplicate(f"a moderator {email} exists already")
    moderator = Moderator(
        email=email,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=ctx.clock(),
    )
    session.add(moderator)
    session.flush()
    return moderator


def set_active(session: Session, moderator_id: int, active: bool, *, by: int) -> Moderator:
    """Deactivate (or reactivate) a moderator. A deactivated moderator cannot sign in, and their
    sessions end (`end_sessions`): reactivating does not bring them back.

    Raises `InvalidInput` when an admin would lock themselves out or leave no active admin.
    """
    moderator = get_moderator(session, moderator_id)
    if not active and moderator.id == by:
        raise InvalidInput("you cannot deactivate yourself", fields={"moderator": "yourself"})
    if not active and moderator.role is Role.admin and moderator.active:
        admins = select(func.count()).where(Moderator.role == Role.admin, Moderator.active)
        if (session.scalar(admins) or 0) <= 1:
            raise InvalidInput("the last active admin stays", fields={"moderator": "last admin"})
    was_active = moderator.active
    moderator.active = active
    session.flush()
    if was_active and not active:
        end_sessions(session, moderator.id)
        session.refresh(moderator)
    return moderator


def token_hash(token: str) -> str:
    """What is stored of an API token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session, ctx: Context, name: str, moderator_id: int | None = None
) -> tuple[ApiToken, str]:
    """A new token called `name`: the row and the token itself (shown once, never stored). A
    token of a moderator (`moderator_id`) sees their sites only (`token_sites`), and only while
    they are active. Raises `Duplicate` (the name is taken), `NotFound` (no such moderator) or
    `InvalidInput` (the moderator is deactivated: the token would be refused at once)."""
    if moderator_id is not None and not get_moderator(session, moderator_id).active:
        message = "the moderator is deactivated: their tokens are refused"
        raise InvalidInput(message, fields={"moderator": message})
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
        raise Duplicate(f"a token named {name} exists already")
    token = "mod_" + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=token_hash(token), created_at=ctx.clock(), moderator_id=moderator_id
    )
    session.add(row)
    session.flush()
    return row, token


def find_api_token(session: Session, token: str) -> ApiToken | None:
    """The unrevoked token whose hash matches, if it belongs to no moderator or to an active one;
    None for anything else (a deactivated moderator's scripts stop with them)."""
    if not token or len(token) > 256:
        return None
    return session.scalars(
        select(ApiToken)
        .outerjoin(Moderator, Moderator.id == ApiToken.moderator_id)
        .where(
            ApiToken.token_hash == token_hash(token),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.moderator_id.is_(None), Moderator.active),
        )
    ).first()


def list_api_tokens(session: Session) -> list[tuple[ApiToken, str | None]]:
    """Every API token with its moderator's e-mail (None: a token of no moderator), revoked ones
    included, oldest first (for ``moderation tokens list``)."""
    query = (
        select(ApiToken, Moderator.email)
        .outerjoin(Moderator, Moderator.id == ApiToken.moderator_id)
        .order_by(ApiToken.id)
    )
    return [(row, email) for row, email in session.execute(query)]


def revoke_api_token(
    session: Session, now: datetime, *, name: str | None = None, token_id: int | None = None
) -> ApiToken:
    """Revoke the token called `name` (or with `token_id`): `find_api_token` refuses it from the
    next request on, the moderation API answers 401. Raises `NotFound`, or `InvalidInput` when it
    was revoked already (its first revocation time stays)."""
    if token_id is not None:
        row = session.get(ApiToken, token_id)
        wanted = f"no token {token_id}"
    else:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        wanted = f"no token named {name}"
    if row is None:
        raise NotFound(wanted)
    if row.revoked_at is not None:
        raise InvalidInput(f"the token {row.name} was revoked already", fields={"token": row.name})
    row.revoked_at = now
    session.flush()
    return row


def token_use_due(ctx: Context, token: ApiToken) -> bool:
    """Whether the token's last use is older than `TOKEN_TOUCH` (then `record_token_use`)."""
    return token.last_used_at is None or ctx.clock() - token.last_used_at >= TOKEN_TOUCH


def record_token_use(tx: Session, ctx: Context, token_id: int) -> None:
    """Record that the token was used now."""
    tx.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=ctx.clock()))


def sites_of(session: Session, moderator: Moderator) -> frozenset[str] | None:
    """The sites `moderator` may moderate, or None for every site: admins, and moderators without
    any listed site (so the accounts made before sites could be listed keep working)."""
    if moderator.role is Role.admin:
        return None
    rows = session.scalars(
        select(ModeratorSite.site).where(ModeratorSite.moderator_id == moderator.id)
    )
    return frozenset(rows) or None


def listed_sites(session: Session, moderator_id: int) -> list[str]:
    """The sites listed for a moderator, sorted (empty: every site)."""
    query = select(ModeratorSite.site).where(ModeratorSite.moderator_id == moderator_id)
    return sorted(session.scalars(query))


def sites_by_moderator(session: Session) -> dict[int, list[str]]:
    """Every moderator's listed sites, sorted (a moderator without rows is absent: every site),
    in one query for the moderators page."""
    listed: dict[int, list[str]] = {}
    query = select(ModeratorSite.moderator_id, ModeratorSite.site).order_by(ModeratorSite.site)
    for moderator_id, site in session.execute(query):
        listed.setdefault(moderator_id, []).append(site)
    return listed


def set_sites(
    session: Session, moderator_id: int, sites: Iterable[str], known: Collection[str]
) -> list[str]:
    """Replace the sites a moderator may moderate by `sites` (none: every site). Raises
    `NotFound`, or `InvalidInput` naming a site id the config does not know (`known`), or when
    `sites` are given for an admin (admins moderate every site)."""
    moderator = get_moderator(session, moderator_id)
    wanted = sorted(set(sites))
    unknown = [site for site in wanted if site not in known]
    if unknown:
        message = f"unknown site {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        raise InvalidInput(message, fields={"site": message})
    if wanted and moderator.role is Role.admin:
        message = "an admin moderates every site: sites are for moderators"
        raise InvalidInput(message, fields={"site": message})
    session.execute(delete(ModeratorSite).where(ModeratorSite.moderator_id == moderator_id))
    session.add_all(ModeratorSite(moderator_id=moderator_id, site=site) for site in wanted)
    session.flush()
    return wanted


def token_sites(session: Session, token: ApiToken) -> frozenset[str] | None:
    """The sites `token` may moderate: its moderator's (`sites_of`), None for every site (a
    token of no moderator); an empty set when its moderator is deactivated or gone (which
    `find_api_token` refuses already: this is the second lock)."""
    if token.moderator_id is None:
        return None
    moderator = session.get(Moderator, token.moderator_id)
    if moderator is None or not moderator.active:
        return frozenset()
    return sites_of(session, moderator)
