"""A fake of GitHub's OAuth app endpoints over real HTTP on 127.0.0.1, for the sign-in tests.

It serves the three things the service uses: ``GET /login/oauth/authorize`` (answers at once with
a redirect to ``redirect_uri`` carrying a code and the ``state``, as GitHub does for a user who
already authorised the app), ``POST /login/oauth/access_token`` (checks the client, the code and
the PKCE verifier against the challenge sent to authorize), and the API's ``GET /user`` and
``GET /user/emails`` for the access token. Point a provider's ``github_url`` and ``api_url`` at
`FakeGitHub.url`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

CLIENT_ID = "fake-github-client"
CLIENT_SECRET = "fake-github-secret"
USER = {
    "id": 4242,
    "login": "octo-reader",
    "name": "Octo Reader",
    "avatar_url": "https://avatars.example.net/u/4242",
    "html_url": "https://github.example.net/octo-reader",
}
EMAILS = [
    {"email": "other@example.net", "primary": False, "verified": True},
    {"email": "octo@example.net", "primary": True, "verified": True},
]


class FakeGitHub:
    """A threaded HTTP server with GitHub's answers; use as a context manager."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}  # code -> the authorize request's parameters
        self.tokens: set[str] = set()
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The fake's base URL (both the web and the API host)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(f"GET {parts.path}")
                query = dict(parse_qsl(parts.query))
                if parts.path == "/login/oauth/authorize":
                    if query.get("client_id") != CLIENT_ID or not query.get("code_challenge"):
                        self._send(400, {"error": "bad authorize request"})
                        return
                    code = secrets.token_urlsafe(12)
                    fake.codes[code] = query
                    target = f"{query['redirect_uri']}?" + urlencode(
                        {"code": code, "state": query.get("state", "")}
                    )
                    self._send(302, {}, {"Location": target})
                    return
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in fake.tokens:
                    self._send(401, {"message": "Bad credentials"})
                elif parts.path == "/user":
                    self._send(200, USER)
                elif parts.path == "/user/emails":
                    self._send(200, EMAILS)
                else:
                    self._send(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(f"POST {parts.path}")
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if parts.path != "/login/oauth/access_token":
                    self._send(404, {"message": "Not Found"})
                    return
                asked = fake.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if (
                    asked is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                    or asked.get("code_challenge") != challenge
                    or asked.get("redirect_uri") != form.get("redirect_uri")
                ):
                    # GitHub answers errors with 200 and an error field
                    self._send(200, {"error": "bad_verification_code"})
                    return
                token = secrets.token_urlsafe(16)
                fake.tokens.add(token)
                self._send(200, {"access_token": token, "token_type": "bearer", "scope": ""})

        return Handler
