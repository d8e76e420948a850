"""Readers who sign in with an outside identity: OpenID Connect, GitHub, or a mailed link.

The service never keeps a reader's password: a provider vouches for the reader, and the service
hands the widget a signed *reader token* (purpose ``reader``) bound to one site and to the
reader's ``revoked_generation``, so signing out (a bumped generation) or a rotated signing key
ends every token handed out before. Browsers block third-party cookies; the token travels as
``Authorization: Bearer`` instead.

The protocol work (`begin_oidc`, `finish_oidc`, `begin_github`, `finish_github`) talks to the
provider over HTTP and happens outside any write; only `upsert_reader` writes. The OAuth 2 and
PKCE parameters are Authlib's, the ID token's signature and claims are checked with joserfc
(Authlib's JOSE library) against the provider's published keys. Those two, their cryptography and
httpx are imported by the functions that use them: a server worker of a site without sign-in never
carries them (about 13 MB; docs/performance.md, Memory).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from moderation.config import ProviderSettings
from moderation.domain.states import CommentStatus
from moderation.errors import Forbidden, ModerationError, NotFound, TokenExpired, TokenInvalid
from moderation.models import Comment, Reader
from moderation.services import Context, outbox
from moderation.services.tokens import AUTH_EMAIL, READER
from moderation.storage.db import Database

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SIGNIN_MAIL = "reader_signin"  # outbox kind: the sign-in link of an e-mail provider
OIDC_SCOPE = "openid email profile"
GITHUB_SCOPE = "read:user user:email"
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class ReaderTokenInvalid(ModerationError):
    """The Bearer token is not a genuine, current reader token for this site (HTTP 401)."""

    code = "reader_token_invalid"


class SignInRequired(ModerationError):
    """The site takes comments only from signed-in readers (HTTP 401)."""

    code = "sign_in_required"


class ReaderBlocked(Forbidden):
    """A moderator blocked this identity (HTTP 403)."""

    code = "reader_blocked"


class SignInFailed(ModerationError):
    """The sign-in cannot go on: a replayed or mismatched state, a bad ID token, a refusal."""

    code = "sign_in_failed"


class ProviderUnavailable(ModerationError):
    """The provider did not answer, or answered nonsense (HTTP 502)."""

    code = "provider_unavailable"


@dataclass(frozen=True)
class Identity:
    """Who the provider says the reader is."""

    subject: str
    name: str
    email: str = ""
    email_verified: bool = False
    avatar: str = ""
    profile: str = ""


@dataclass(frozen=True)
class Flow:
    """One sign-in round trip, kept in a signed cookie between the start and the callback."""

    provider: str
    site: str
    origin: str
    state: str
    nonce: str
    verifier: str

    def as_dict(self) -> dict[str, str]:
        """The cookie's payload."""
        return {
            "p": self.provider,
            "s": self.site,
            "o": self.origin,
            "st": self.state,
            "n": self.nonce,
            "v": self.verifier,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Flow:
        """A flow from a cookie's payload; `SignInFailed` for anything else."""
        keys = ("p", "s", "o", "st", "n", "v")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
            raise SignInFailed("this sign-in is not valid; start again")
        return cls(data["p"], data["s"], data["o"], data["st"], data["n"], data["v"])


def new_flow(provider: str, site: str, origin: str) -> Flow:
    """Fresh random state, nonce and PKCE verifier for one round trip."""
    return Flow(
        provider,
        site,
        origin,
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(48),
    )


def check_state(flow: Flow, state: str) -> None:
    """The callback's `state` must be the one this browser's flow sent (constant time)."""
    if not state or not hmac.compare_digest(flow.state.encode(), state.encode()):
        raise SignInFailed("this sign-in does not match the one this browser started")


# --- the providers' protocols (network I/O, outside any write) ------------------------------------


def _http(ctx: Context) -> httpx.Client:
    import httpx

    return httpx.Client(timeout=ctx.settings.auth.timeout, follow_redirects=False)


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 500:
        raise ProviderUnavailable(f"the provider's {what} answered {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(f"the provider's {what} did not answer JSON") from None


def _get(ctx: Context, url: str, what: str, **kwargs: Any) -> Any:
    import httpx

    try:
        with _http(ctx) as http:
            response = http.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"the provider cannot be reached ({what}): {exc}") from None
    data = _json(response, what)
    if response.status_code >= 400:
        raise SignInFailed(f"the provider refused the {what} request ({response.status_code})")
    return data


def _post(ctx: Context, url: str, what: str, **kwargs: Any) -> Any:
    import httpx

    try:
        with _http(ctx) as http:
            response = http.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"the provider cannot be reached ({what}): {exc}") from None
    data = _json(response, what)
    if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
        error = data.get("error") if isinstance(data, dict) else None
        raise SignInFailed(f"the provider refused the {what} request ({error or 'error'})")
    return data


def discovery(ctx: Context, provider: ProviderSettings) -> dict[str, Any]:
    """The provider's OpenID Connect discovery document, checked to be its own."""
    issuer = provider.issuer.rstrip("/")
    data = _get(ctx, f"{issuer}/.well-known/openid-configuration", "discovery")
    if not isinstance(data, dict) or str(data.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderUnavailable("the provider's discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(data.get(key), str):
            raise ProviderUnavailable(f"the provider's discovery document has no {key}")
    return data


def begin_oidc(ctx: Context, provider: ProviderSettings, flow: Flow, redirect_uri: str) -> str:
    """The provider's authorization URL for `flow`: code flow with state, nonce and PKCE."""
    from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    meta = discovery(ctx, provider)
    url: str = prepare_grant_uri(
        meta["authorization_endpoint"],
        provider.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=OIDC_SCOPE,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=create_s256_code_challenge(flow.verifier),
        code_challenge_method="S256",
    )
    return url


def finish_oidc(
    ctx: Context, provider: ProviderSettings, flow: Flow, code: str, redirect_uri: str
) -> Identity:
    """Exchange the code (with the PKCE verifier) and check the ID token: signature by the
    provider's keys, issuer, audience, expiry and the flow's nonce."""
    meta = discovery(ctx, provider)
    token = _post(
        ctx,
        meta["token_endpoint"],
        "token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier,
        },
        auth=(provider.client_id, provider.client_secret),
        headers={"Accept": "application/json"},
    )
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("the provider sent no ID token")
    claims = verify_id_token(ctx, provider, meta, id_token, flow.nonce)
    access = token.get("access_token")
    incomplete = not claims.get("name") or not claims.get("email")
    if incomplete and meta.get("userinfo_endpoint") and isinstance(access, str):
        info = _get(
            ctx,
            meta["userinfo_endpoint"],
            "userinfo",
            headers={"Authorization": f"Bearer {access}"},
        )
        if isinstance(info, dict) and info.get("sub") == claims["sub"]:
            claims = {**info, **claims}
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    name = next(
        (
            str(claims[k])
            for k in ("name", "preferred_username", "nickname")
            if isinstance(claims.get(k), str) and claims[k]
        ),
        (email or "").split("@")[0] or "reader",
    )
    return Identity(
        subject=str(claims["sub"]),
        name=name[:255],
        email=(email or "")[:255],
        email_verified=bool(email) and claims.get("email_verified") is True,
        avatar=_https(claims.get("picture")),
        profile=_https(claims.get("profile")),
    )


def verify_id_token(
    ctx: Context, provider: ProviderSettings, meta: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    """The claims of a genuine ID token for us and this flow; `SignInFailed` otherwise."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    keys = _get(ctx, meta["jwks_uri"], "keys")
    try:
        key_set = KeySet.import_key_set(keys)
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProviderUnavailable("the provider's keys cannot be read") from None
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in offered if a in ASYMMETRIC] or ["RS256"]
    try:
        decoded = jwt.decode(id_token, key_set, algorithms=algorithms)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        raise SignInFailed("the provider's ID token is not valid for this sign-in") from None
    return dict(decoded.claims)


def begin_github(ctx: Context, provider: ProviderSettings, flow: Flow, redirect_uri: str) -> str:
    """GitHub's authorization URL for `flow` (state and PKCE; GitHub has no ID token)."""
    from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    url: str = prepare_grant_uri(
        f"{provider.github_url.rstrip('/')}/login/oauth/authorize",
        provider.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=GITHUB_SCOPE,
        state=flow.state,
        code_challenge=create_s256_code_challenge(flow.verifier),
        code_challenge_method="S256",
    )
    return url


def finish_github(
    ctx: Context, provider: ProviderSettings, flow: Flow, code: str, redirect_uri: str
) -> Identity:
    """Exchange the code, then read the user and their verified primary address from the API."""
    token = _post(
        ctx,
        f"{provider.github_url.rstrip('/')}/login/oauth/access_token",
        "token",
        data={
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier,
        },
        headers={"Accept": "application/json"},
    )
    access = token.get("access_token")
    if not isinstance(access, str):
        raise SignInFailed("GitHub sent no access token")
    headers = {"Authorization": f"Bearer {access}", "Accept": "application/vnd.github+json"}
    api = provider.api_url.rstrip("/")
    user = _get(ctx, f"{api}/user", "user", headers=headers)
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise ProviderUnavailable("GitHub's user answer has no id")
    emails = _get(ctx, f"{api}/user/emails", "e-mail addresses", headers=headers)
    primary = next(
        (
            e
            for e in (emails if isinstance(emails, list) else [])
            if isinstance(e, dict) and e.get("primary") and e.get("verified")
        ),
        None,
    )
    email = str(primary["email"]) if primary and isinstance(primary.get("email"), str) else ""
    login = str(user.get("login") or "")
    return Identity(
        subject=str(user["id"]),
        name=str(user.get("name") or login or "reader")[:255],
        email=email[:255],
        email_verified=bool(email),
        avatar=_https(user.get("avatar_url")),
        profile=_https(user.get("html_url")),
    )


def _https(value: Any) -> str:
    """An https URL from a provider (avatar, profile), or ""."""
    if isinstance(value, str) and value.startswith("https://") and len(value) <= 1024:
        return value
    return ""


# --- e-mail links --------------------------------------------------------------------------------


def request_email_link(
    tx: Session, ctx: Context, provider: str, site: str, origin: str, address: str, wait: str
) -> None:
    """Queue the sign-in mail (sent after the commit). `wait` names the popup that waits for the
    link, which the link's page tells when it is opened in the same browser."""
    outbox.enqueue(
        tx,
        ctx,
        SIGNIN_MAIL,
        {
            "to": address,
            "provider": provider,
            "site": site,
            "origin": origin,
            "wait": wait,
            "nonce": secrets.token_urlsafe(16),
        },
    )


def email_link(ctx: Context, payload: dict[str, Any]) -> str:
    """The signed, single-use link of a sign-in mail."""
    token = ctx.tokens.sign(
        AUTH_EMAIL,
        {
            "p": payload["provider"],
            "s": payload["site"],
            "o": payload["origin"],
            "e": payload["to"],
            "w": payload["wait"],
            "n": payload["nonce"],
        },
    )
    base = ctx.settings.server.public_url.rstrip("/")
    return f"{base}/auth/{payload['provider']}/email/{token}"


@dataclass(frozen=True)
class EmailLink:
    """What a genuine sign-in link says."""

    provider: str
    site: str
    origin: str
    email: str
    wait: str
    nonce: str


def read_email_link(ctx: Context, token: str) -> EmailLink:
    """A sign-in link's content; `TokenInvalid`/`TokenExpired` for anything else."""
    data = ctx.tokens.load(AUTH_EMAIL, token)
    keys = ("p", "s", "o", "e", "w", "n")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        raise TokenInvalid("this link is not valid")
    return EmailLink(data["p"], data["s"], data["o"], data["e"], data["w"], data["n"])


@outbox.handler(SIGNIN_MAIL, mail=True)
def send_signin_mail(database: Database, ctx: Context, payload: dict[str, Any]) -> None:
    """Write and send the sign-in mail of an e-mail provider."""
    from moderation.services import mailing
    from moderation.services.subscriptions import address_header

    site = ctx.settings.sites.get(payload["site"])
    label = (site.title if site and site.title else payload["site"])[:60]
    link = email_link(ctx, payload)
    minutes = ctx.settings.auth.email_link_max_age_minutes
    message = EmailMessage()
    message["Subject"] = f"Sign in to comment on {label}"
    address_header(message, payload["to"], ctx)
    message.set_content(
        f"Someone, probably you, asked to sign in to comment on {label} with this address.\n\n"
        f"Open this link in the browser where you asked, within {minutes} minutes:\n\n{link}\n\n"
        "If it was not you, ignore this mail: nothing happens without the link.\n"
    )
    mailing.deliver(database, ctx, message, payload["to"])


# --- readers and their tokens --------------------------------------------------------------------


def upsert_reader(tx: Session, ctx: Context, provider: str, identity: Identity) -> Reader:
    """The reader of (provider, subject), created on first sign-in, else brought up to date with
    what the provider says now."""
    now = ctx.clock()
    reader = tx.scalars(
        select(Reader).where(Reader.provider == provider, Reader.subject == identity.subject)
    ).first()
    if reader is None:
        reader = Reader(provider=provider, subject=identity.subject, created_at=now)
        tx.add(reader)
    reader.name = identity.name
    reader.email = identity.email.strip().lower()
    reader.email_verified = identity.email_verified
    reader.avatar = identity.avatar
    reader.profile = identity.profile
    reader.last_seen_at = now
    tx.flush()
    return reader


def reader_token(ctx: Context, reader: Reader, site: str) -> str:
    """The bearer token the widget of `site` keeps for `reader`."""
    return ctx.tokens.sign(READER, {"r": reader.id, "s": site, "g": reader.revoked_generation})


def reader_for_token(session: Session, ctx: Context, token: str, site: str | None) -> Reader:
    """The reader of a genuine, current token for `site` (None: the token's own site).

    Raises `ReaderTokenInvalid` (tampered, expired, revoked, another site's, an unknown reader)
    and `ReaderBlocked`.
    """
    try:
        data = ctx.tokens.load(READER, token)
    except TokenExpired:
        raise ReaderTokenInvalid("your sign-in has expired; sign in again") from None
    except TokenInvalid:
        raise ReaderTokenInvalid("this sign-in token is not valid; sign in again") from None
    valid = (
        isinstance(data, dict)
        and type(data.get("r")) is int
        and type(data.get("g")) is int
        and isinstance(data.get("s"), str)
    )
    if not valid:
        raise ReaderTokenInvalid("this sign-in token is not valid; sign in again")
    if site is not None and not hmac.compare_digest(data["s"].encode(), site.encode()):
        raise ReaderTokenInvalid("this sign-in is for another site; sign in again")
    reader = session.get(Reader, data["r"])
    if reader is None or reader.revoked_generation != data["g"]:
        raise ReaderTokenInvalid("you signed out; sign in again")
    if reader.blocked:
        raise ReaderBlocked("the moderators blocked this identity from commenting")
    return reader


def token_site(ctx: Context, token: str) -> str:
    """The site a reader token is for: for the origin check before anything is looked up.
    Raises `ReaderTokenInvalid` as `reader_for_token` does."""
    try:
        data = ctx.tokens.load(READER, token)
    except TokenExpired:
        raise ReaderTokenInvalid("your sign-in has expired; sign in again") from None
    except TokenInvalid:
        raise ReaderTokenInvalid("this sign-in token is not valid; sign in again") from None
    site = data.get("s") if isinstance(data, dict) else None
    if not isinstance(site, str) or site not in ctx.settings.sites:
        raise ReaderTokenInvalid("this sign-in token is not valid; sign in again")
    return site


def logout(tx: Session, ctx: Context, reader_id: int) -> None:
    """End every token of the reader (all browsers): bump their generation."""
    tx.execute(
        update(Reader)
        .where(Reader.id == reader_id)
        .values(revoked_generation=Reader.revoked_generation + 1)
    )


def set_blocked(tx: Session, reader_id: int, blocked: bool) -> Reader:
    """Block (or unblock) an identity: its tokens are refused and it cannot post."""
    reader = tx.get(Reader, reader_id)
    if reader is None:
        raise NotFound(f"no reader {reader_id}")
    reader.blocked = blocked
    tx.flush()
    return reader


def profile(reader: Reader) -> dict[str, Any]:
    """What ``GET /api/v1/me`` tells the widget."""
    return {
        "provider": reader.provider,
        "name": reader.name,
        "email_verified": reader.email_verified,
        "avatar": reader.avatar or None,
        "profile": reader.profile or None,
    }


def reader_trusted(session: Session, reader_id: int, besides: int | None = None) -> bool:
    """The first-time policy for an identity: it has an approved comment (other than `besides`).
    A name and address typed by someone else never match it."""
    query = select(Comment.id).where(
        Comment.reader_id == reader_id, Comment.status == CommentStatus.approved
    )
    if besides is not None:
        query = query.where(Comment.id != besides)
    return bool(session.scalar(select(exists(query))))


def readers_by_id(session: Session, ids: set[int]) -> dict[int, Reader]:
    """The readers of some comments, in one query (none when `ids` is empty)."""
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(Reader).where(Reader.id.in_(ids)))}
