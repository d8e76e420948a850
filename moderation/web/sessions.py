"""Flask's signed-cookie session, opened only for the requests that carry its cookie.

Only the dashboard logs in; the widget's API and the linkback endpoints never carry the cookie.
Flask's own interface builds its signing serializer on every request all the same; here a request
without the cookie gets an empty session at once.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


class CookieSessions(SecureCookieSessionInterface):
    """`SecureCookieSessionInterface`, with nothing to open or save when there is no session."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request has no session cookie, else Flask's."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing for a session that is empty and was never read or changed (Flask would only
        have worked that out); otherwise Flask's."""
        if not session and not session.accessed and not session.modified:
            return
        super().save_session(app, session, response)
