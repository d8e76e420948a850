"""Moderators signing in: Flask-Login sessions, the login throttle, deny-by-default, roles.

The session cookie's flags (HttpOnly, SameSite=Lax, Secure behind https) are set in `moderation.app`.
A session names ``<moderator id>:<session generation>`` (`accounts.session_id`): signing out, a
password change and a deactivation bump the generation, which ends every cookie signed before.

The login throttle stops guessing without handing anyone a lock-out. Failed sign-ins are counted in
the rate-limit store every worker shares (`moderation.web.guards.rate_limits`), keyed by the client
IP (an IPv6 client by its /64 network, which one subscriber usually holds whole):

* per (address, IP): `PAIR_LIMIT` failures, then that IP may not try that address again until the
  window ends, not even with the right password;
* per IP: `IP_LIMIT` failures over any addresses, then that IP may not try at all (password
  spraying);
* per address, from every IP together: beyond `ADDRESS_CEILING` the address is under attack, and an
  IP that has failed for it at all in the pair's window gets no more tries for it. An IP that has
  not failed for the address still gets its try, so the real moderator, from their own IP, signs in
  with the right password whatever strangers do to their address; guessing is slowed to one try
  per IP and window.

A refusal is a 429 with ``Retry-After`` and says how long to wait; the password is not checked then.
A successful sign-in clears its pair's failures (not its IP's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user
from limits import parse

from moderation.models import Moderator, Role
from moderation.services import accounts
from moderation.services.moderation import Actor
from moderation.web import current
from moderation.web.client import client_ip
from moderation.web.guards import rate_limits, seconds_left

F = TypeVar("F", bound=Callable[..., Any])

PAIR_LIMIT = parse("5 per 15 minutes")  # failures per (address, IP)
IP_LIMIT = parse("20 per 15 minutes")  # failures per IP, whatever the address
ADDRESS_CEILING = parse("50 per hour")  # failures per address from every IP: then one try per IP
login_manager = LoginManager()


class DashboardUser:
    """The signed-in moderator as Flask-Login sees them: a snapshot, reloaded every request."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, moderator: Moderator) -> None:
        """Copy what the dashboard needs; the ORM row stays with its session."""
        self.id = moderator.id
        self.email = moderator.email
        self.role = moderator.role
        self.session_id = accounts.session_id(moderator)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session (and would put in a remember-me cookie): the id
        and the session generation, so that `accounts.end_sessions` ends this session."""
        return self.session_id

    @property
    def is_admin(self) -> bool:
        """Admins also manage moderators and the lists."""
        return self.role is Role.admin

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this moderator's actions."""
        return Actor.moderator(self.id, self.email)


@login_manager.user_loader
def load_user(signed_id: str) -> DashboardUser | None:
    """The session's moderator, unless the session was ended since (signed out, password changed,
    deactivated: `accounts.end_sessions`) or the moderator is gone. Flask-Login calls this for
    the session cookie and for a remember-me cookie alike."""
    moderator = accounts.moderator_of_session(current.session(), signed_id)
    return DashboardUser(moderator) if moderator is not None else None


def init_auth(app: Flask) -> None:
    """Attach Flask-Login to `app`.

    Without its remember-me cookie: a moderator's sign-in lasts as long as the browser session
    (`login_user` is never asked to remember). Flask-Login's after-request hook, which keeps that
    cookie up to date, would only read the session on every response, the widget's API's
    included, which marks them all ``Vary: Cookie`` and makes Flask save an empty session.
    """
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    app.after_request_funcs[None].remove(login_manager._update_remember_cookie)


def user() -> DashboardUser:
    """The signed-in moderator (only call behind `deny_by_default`)."""
    found: DashboardUser = current_user._get_current_object()
    return found


def malformed_next(target: str | None) -> bool:
    """Whether `target` holds a control character (C0, DEL or C1: a header's line break, a tab) or
    a backslash (which browsers read as a slash): no link of ours does, so it is an attack or a
    mangled link, never something to put in a ``Location`` header."""
    return bool(target) and any(
        ch == "\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in target or ""
    )


def safe_next(target: str | None) -> str:
    """`target` when it is a dashboard path on this site, else the queue: no open redirects, no
    header injection (`malformed_next` targets go to the queue too)."""
    if target and not malformed_next(target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/moderate/"):
            return target
    return url_for("dashboard.queue")


def _bad_next_page() -> Response:
    """400 for a ``next`` that no page of ours links to (`malformed_next`)."""
    message = "The link's next page is not a page of the dashboard. Sign in from the dashboard."
    html = render_template("dashboard/error.html", message=message, status=400)
    return Response(html, status=400)


def deny_by_default(bp: Blueprint, public: Iterable[str] = ()) -> None:
    """Every endpoint of `bp` needs a signed-in moderator, except those named in `public`."""
    allowed = set(public)

    @bp.before_request
    def _require_login() -> ResponseReturnValue | None:
        if request.endpoint in allowed or current_user.is_authenticated:
            return None
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("dashboard.login", next=target), 303)


def role_required(role: Role) -> Callable[[F], F]:
    """Let only moderators with `role` through; others get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or current_user.role is not role:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def throttle_ip() -> str:
    """The client as the throttle counts it: its IP, or an IPv6 client's /64 network."""
    address = client_ip()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _keys(email: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The counters' keys: (address, IP), IP, address."""
    ip, address = throttle_ip(), email or "-"
    return (
        ("moderation", "login-pair", ip, address),
        ("moderation", "login-ip", ip),
        ("moderation", "login-address", address),
    )


def login_wait(email: str) -> int:
    """Seconds until this IP may try this address again (0: it may now); see the module's policy."""
    pair, ip, address = _keys(email)
    limits = rate_limits()
    if not limits.test(IP_LIMIT, *ip):
        return seconds_left(IP_LIMIT, *ip)
    if not limits.test(PAIR_LIMIT, *pair):
        return seconds_left(PAIR_LIMIT, *pair)
    if not limits.test(ADDRESS_CEILING, *address):
        failed_here = limits.get_window_stats(PAIR_LIMIT, *pair).remaining < PAIR_LIMIT.amount
        if failed_here:
            return seconds_left(PAIR_LIMIT, *pair)
    return 0


def count_failure(email: str) -> None:
    """One more failed sign-in for this address from this IP."""
    pair, ip, address = _keys(email)
    limits = rate_limits()
    limits.hit(PAIR_LIMIT, *pair)
    limits.hit(IP_LIMIT, *ip)
    limits.hit(ADDRESS_CEILING, *address)


def clear_failures(email: str) -> None:
    """A sign-in succeeded: the pair's earlier failures were the moderator's own typing."""
    pair, _ip, _address = _keys(email)
    rate_limits().clear(PAIR_LIMIT, *pair)


def _login_page(email: str, error: str | None, status: int = 200) -> Response:
    html = render_template(
        "dashboard/login.html", email=email, error=error, next=request.values.get("next", "")
    )
    return Response(html, status=status)


def login() -> ResponseReturnValue:
    """The sign-in form; on success a fresh session and a redirect to where the moderator was going."""
    if malformed_next(request.values.get("next")):
        return _bad_next_page()
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")), 303)
        return _login_page("", None)
    email = request.form.get("email", "").strip().lower()[:255]
    if wait := login_wait(email):
        minutes = (wait + 59) // 60
        message = f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes > 1)}."
        response = _login_page(email, message, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    password = request.form.get("password", "")
    moderator = accounts.authenticate(current.session(), email, password)
    if moderator is None:
        count_failure(email)
        return _login_page(email, "Wrong e-mail address or password.", 401)
    with current.write() as tx:
        accounts.record_sign_in(tx, current.context(), moderator, password)
    clear_failures(email)
    cookie_session.clear()  # a new session (and a new CSRF token) for the signed-in moderator
    login_user(DashboardUser(moderator))
    return redirect(safe_next(request.form.get("next")), 303)


def logout() -> ResponseReturnValue:
    """Sign out (a POST, so another site cannot sign a moderator out), ending the session on the
    server: every cookie of this moderator's sessions, copies included, opens nothing afterwards
    (their other browsers are signed out too)."""
    if current_user.is_authenticated:
        with current.write() as tx:
            accounts.end_sessions(tx, user().id)
    logout_user()
    cookie_session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("dashboard.login"), 303)
