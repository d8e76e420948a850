"""The security headers of the pages a moderator's browser shows (the dashboard, the e-mail link
pages): they show strangers' text, and an e-mail link page is reached by a URL that is itself a
credential. So: no scripts, styles or frames but ours, no caching, no Referer to other sites, no
content sniffing.

Same-origin rather than no-referrer: Flask-WTF's CSRF check over HTTPS insists on a same-origin
Referer on a form's POST.
"""

from __future__ import annotations

from typing import TypeVar

from werkzeug.wrappers import Response

R = TypeVar("R", bound=Response)  # Flask's Response or Werkzeug's

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def set_page_security_headers(response: R) -> R:
    """Put the pages' security headers on `response` (a view may set a stricter CSP itself)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
