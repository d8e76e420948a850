"""Blueprint ``reader_auth`` (``/auth/``): the popup in which a reader signs in.

The widget opens ``GET /auth/<provider>/start?site=S&origin=O``. ``O`` must be one of site
``S``'s origins (else a 400 page): it is the only window the token is ever posted to. For OpenID
Connect and GitHub the start redirects to the provider (code flow with state, nonce and PKCE; the
flow waits in a signed, short-lived cookie scoped to ``/auth/``), and ``GET
/auth/<provider>/callback`` checks the state (a replayed or mismatched one is refused), exchanges
the code, checks the identity and answers a page whose script hands the reader token to
``window.opener`` with ``postMessage`` to exactly ``O``, then closes. An e-mail provider's start
shows a form; its POST mails a single-use link; the link's page (opened in the same browser)
hands the token to the waiting popup over a ``BroadcastChannel``, which posts it on as above.

Every page here carries the pages' security headers and a CSP whose only script is the one with
this response's nonce. Starts and callbacks are counted per client IP (``[auth] rate_limit``).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, make_response, redirect, render_template, request
from limits import parse
from werkzeug.wrappers import Response

from moderation.config import ProviderSettings
from moderation.errors import (
    DatabaseBusy,
    ModerationError,
    NotFound,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import UsedToken
from moderation.services import notify, readers
from moderation.services.tokens import AUTH_FLOW
from moderation.web import current
from moderation.web.client import client_ip
from moderation.web.guards import PREFIX, rate_limits, seconds_left
from moderation.web.schemas import EMAIL
from moderation.web.security import set_page_security_headers

bp = Blueprint("reader_auth", __name__, url_prefix="/auth")

COOKIE = "moderation_auth"
SAME_SITE = ("same-origin", "none")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _own_origin() -> str:
    return _origin(current.settings().server.public_url)


def _page(status: int = 200, *, title: str, **values: Any) -> Response:
    """A page of the popup, with a CSP that lets only this response's own script run."""
    script_nonce = secrets.token_urlsafe(16)
    values.setdefault("site_title", "")
    html = render_template(
        "reader_auth/page.html", title=title, script_nonce=script_nonce, **values
    )
    response = make_response(html, status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{script_nonce}'; style-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.after_request
def _security_headers(response: Response) -> Response:
    """The callback's URL carries a code and a state: no caching, no Referer elsewhere."""
    return set_page_security_headers(response)


@bp.errorhandler(ModerationError)
def refused(exc: ModerationError) -> Response:
    """Anything that stops a sign-in, as a page in the popup that says why."""
    if isinstance(exc, DatabaseBusy):
        response = _page(503, title="Please try again", message="The service is busy.", error=True)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, readers.ProviderUnavailable):
        return _page(
            502,
            title="The sign-in service is not answering",
            message="The provider could not be reached just now. Please try again later; "
            "you can still read the comments.",
            error=True,
        )
    status = 403 if isinstance(exc, readers.ReaderBlocked | TokenInvalid) else 400
    if isinstance(exc, TokenExpired | notify.LinkUsed):
        status = 410
    if isinstance(exc, NotFound):
        status = 404
    message = exc.message[:1].upper() + exc.message[1:].rstrip(".") + "."
    return _page(status, title="Sign-in failed", message=message, error=True)


def _count() -> None:
    """Count this start or callback against ``[auth] rate_limit`` for its client IP."""
    limit = parse(current.settings().auth.rate_limit)
    key = (PREFIX, "auth", client_ip())
    if not rate_limits().hit(limit, *key):
        wait = seconds_left(limit, *key)
        raise readers.SignInFailed(f"too many sign-in attempts; try again in {wait} seconds")


def _provider(provider_id: str) -> ProviderSettings:
    provider = current.settings().auth.providers.get(provider_id)
    if provider is None:
        raise NotFound("there is no such sign-in provider")
    return provider


def _site_and_origin(site_id: str, origin: str) -> None:
    """The site must offer sign-in, and `origin` must be one of its origins (or this service's
    own, whose demo page embeds the widget): the token is posted to that window only."""
    site = current.settings().sites.get(site_id)
    if site is None or site.identity == "anonymous":
        raise readers.SignInFailed("this site does not offer signing in")
    allowed = {o.rstrip("/").lower() for o in site.origins} | {_own_origin()}
    if not origin or origin.rstrip("/").lower() not in allowed:
        raise readers.SignInFailed(f"the page at {origin or '(no origin)'} may not sign in here")


def _redirect_uri(provider_id: str) -> str:
    return f"{current.settings().server.public_url.rstrip('/')}/auth/{provider_id}/callback"


@bp.get("/<provider_id>/start")
def start(provider_id: str) -> Response:
    """Check the site and origin, then go to the provider (or show the e-mail form)."""
    _count()
    provider = _provider(provider_id)
    site_id, origin = request.args.get("site", ""), request.args.get("origin", "")
    _site_and_origin(site_id, origin)
    if provider.kind == "email":
        return _page(title="Sign in with your e-mail address", email_form=True, email="")
    ctx = current.context()
    flow = readers.new_flow(provider_id, site_id, origin.rstrip("/"))
    begin = readers.begin_oidc if provider.kind == "oidc" else readers.begin_github
    url = begin(ctx, provider, flow, _redirect_uri(provider_id))
    response = redirect(url, 302)
    response.set_cookie(
        COOKIE,
        ctx.tokens.sign(AUTH_FLOW, flow.as_dict()),
        max_age=ctx.settings.auth.flow_max_age_seconds,
        path="/auth/",
        secure=ctx.settings.server.public_url.startswith("https://"),
        httponly=True,
        samesite="Lax",  # the provider's redirect back is a top-level GET: Lax sends it
    )
    return response


@bp.get("/<provider_id>/callback")
def callback(provider_id: str) -> Response:
    """Check the state, exchange the code, check the identity, and hand the token over."""
    _count()
    provider = _provider(provider_id)
    ctx = current.context()
    raw = request.cookies.get(COOKIE, "")
    if not raw:
        raise readers.SignInFailed(
            "this sign-in expired or was started in another browser; start again"
        )
    try:
        flow = readers.Flow.from_dict(ctx.tokens.load(AUTH_FLOW, raw))
    except TokenExpired:
        raise readers.SignInFailed("this sign-in took too long; start again") from None
    except TokenInvalid:
        raise readers.SignInFailed("this sign-in is not valid; start again") from None
    if flow.provider != provider_id:
        raise readers.SignInFailed("this sign-in was started with another provider")
    readers.check_state(flow, request.args.get("state", ""))
    spent = f"auth:{flow.state}"
    if current.session().get(UsedToken, spent) is not None:
        raise readers.SignInFailed("this sign-in was already completed; start again")
    if request.args.get("error"):
        raise readers.SignInFailed("the sign-in was cancelled or refused at the provider")
    code = request.args.get("code", "")
    if not code:
        raise readers.SignInFailed("the provider sent no authorization code")
    finish = readers.finish_oidc if provider.kind == "oidc" else readers.finish_github
    identity = finish(ctx, provider, flow, code, _redirect_uri(provider_id))
    with current.write() as tx:
        notify.spend(tx, ctx, spent)
        reader = readers.upsert_reader(tx, ctx, provider_id, identity)
        token = readers.reader_token(ctx, reader, flow.site)
        blocked, name = reader.blocked, reader.name
    if blocked:
        raise readers.ReaderBlocked("the moderators blocked this identity from commenting")
    response = _handoff(token, name, flow.origin)
    response.delete_cookie(COOKIE, path="/auth/")
    return response


def _handoff(token: str, name: str, origin: str, wait: str = "") -> Response:
    """The page whose script posts the token to the window at `origin` and closes."""
    return _page(
        title="Signed in",
        message=f"Signed in as {name}. This window closes by itself.",
        handoff={"token": token, "name": name, "origin": origin, "wait": wait},
    )


# --- e-mail providers ----------------------------------------------------------------------------


def _cross_site() -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_SITE:
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/").lower() not in {
        _own_origin(),
        _origin(request.host_url),
    }


@bp.post("/<provider_id>/start")
def email_start(provider_id: str) -> Response:
    """Mail a sign-in link; the popup then waits for it."""
    _count()
    provider = _provider(provider_id)
    if provider.kind != "email":
        raise readers.SignInFailed("this provider does not sign in by e-mail")
    if _cross_site():
        raise readers.SignInFailed("this request came from another site")
    site_id, origin = request.args.get("site", ""), request.args.get("origin", "")
    _site_and_origin(site_id, origin)
    address = request.form.get("email", "").strip()
    if not EMAIL.fullmatch(address) or len(address) > 254 or not address.isprintable():
        return _page(
            400,
            title="Sign in with your e-mail address",
            message="Please give a valid e-mail address.",
            email_form=True,
            email=address[:254],
            error=False,
        )
    wait = secrets.token_urlsafe(16)
    ctx = current.context()
    with current.write() as tx:
        readers.request_email_link(
            tx, ctx, provider_id, site_id, origin.rstrip("/"), address.lower(), wait
        )
    return _page(
        title="Check your mail",
        message=f"We sent a sign-in link to {address}. Open it in this browser; "
        "this window then completes the sign-in.",
        handoff={"listen": wait, "origin": origin.rstrip("/")},
    )


@bp.get("/<provider_id>/email/<token>")
def email_link(provider_id: str, token: str) -> Response:
    """What the link does, and a button (mail scanners fetch every link)."""
    link = readers.read_email_link(current.context(), token)
    if link.provider != provider_id:
        raise TokenInvalid("this link is not valid")
    return _page(title="Sign in", message=f"Sign in as {link.email}?", confirm_button="Sign in")


@bp.post("/<provider_id>/email/<token>")
def email_signin(provider_id: str, token: str) -> Response:
    """Spend the link, sign the reader in, and hand the token to the waiting popup."""
    _count()
    if _cross_site():
        raise readers.SignInFailed("this request came from another site")
    ctx = current.context()
    link = readers.read_email_link(ctx, token)
    if link.provider != provider_id or _provider(provider_id).kind != "email":
        raise TokenInvalid("this link is not valid")
    identity = readers.Identity(
        subject=link.email, name=link.email.split("@")[0], email=link.email, email_verified=True
    )
    with current.write() as tx:
        notify.spend(tx, ctx, f"auth-email:{link.nonce}")
        reader = readers.upsert_reader(tx, ctx, provider_id, identity)
        signed = readers.reader_token(ctx, reader, link.site)
        blocked, name = reader.blocked, reader.name
    if blocked:
        raise readers.ReaderBlocked("the moderators blocked this identity from commenting")
    return _handoff(signed, name, link.origin, wait=link.wait)
