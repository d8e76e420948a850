"""Moderators signing in: Flask-Login sessions, the login throttle, deny-by-default, roles.

The session cookie's flags (HttpOnly, SameSite=Lax, Secure behind https) are set in `moderation.app`.
Sign-in failures are counted per client IP and per e-mail address in the rate-limit store every worker
shares (`moderation.web.guards.rate_limits`); after `LOGIN_LIMIT` failures the form refuses even the right
password until the window ends, and says so.
"""

from __future__ import annotations

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

LOGIN_LIMIT = parse("5 per 15 minutes")
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


def safe_next(target: str | None) -> str:
    """`target` when it is a dashboard path on this site, else the queue: no open redirects."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/moderate/"):
            return target
    return url_for("dashboard.queue")


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


def _login_keys(email: str) -> list[tuple[str, ...]]:
    return [("moderation", "login-ip", client_ip()), ("moderation", "login-email", email or "-")]


def login_wait(email: str) -> int:
    """Seconds until this IP and this e-mail may try again (0: they may now)."""
    for key in _login_keys(email):
        if not rate_limits().test(LOGIN_LIMIT, *key):
            return seconds_left(LOGIN_LIMIT, *key)
    return 0


def count_failure(email: str) -> None:
    """One more failed sign-in for this IP and this e-mail."""
    for key in _login_keys(email):
        rate_limits().hit(LOGIN_LIMIT, *key)


def _login_page(email: str, error: str | None, status: int = 200) -> Response:
    html = render_template(
        "dashboard/login.html", email=email, error=error, next=request.values.get("next", "")
    )
    return Response(html, status=status)


def login() -> ResponseReturnValue:
    """The sign-in form; on success a fresh session and a redirect to where the moderator was going."""
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
