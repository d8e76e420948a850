"""Blueprint ``privacy``: readers' own personal-data requests (GDPR articles 15, 17 and 20), the
page the widget's footer links to.

``GET /privacy/?site=SITE`` shows a form: an e-mail address, and a copy of the data or its erasure
(anonymised, or the comments deleted). Its POST always answers the same page, whether or not the
address is known, and only for a known address queues one mail with a signed, single-use
``privacy-request`` link (`services.privacy`). Counted per client IP and per address.

``GET /privacy/<token>`` only shows what the link would do and a button (mail scanners fetch every
link); its POST spends the link and answers the JSON download, or erases and says so.

No CSRF token: the form is anonymous and the link is the credential. A cross-site POST is refused
by its ``Origin`` or ``Sec-Fetch-Site`` header when the browser sends one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TypedDict
from urllib.parse import urlsplit

from flask import Blueprint, Response, make_response, render_template, request
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour

from moderation.config import SiteSettings
from moderation.domain import inputs
from moderation.errors import DatabaseBusy, ModerationError, TokenExpired, TokenInvalid
from moderation.services import notify, privacy
from moderation.web import current
from moderation.web.client import client_ip
from moderation.web.guards import PREFIX, rate_limits, seconds_left
from moderation.web.schemas import EMAIL
from moderation.web.security import set_page_security_headers

bp = Blueprint("privacy", __name__)

# (exception class, HTTP status, page title); the first class that matches wins.
REFUSALS: list[tuple[type[ModerationError], int, str]] = [
    (notify.LinkUsed, 410, "This link was already used"),
    (TokenExpired, 410, "This link has expired"),
    (TokenInvalid, 403, "This link is not valid"),
]
ASKS = {
    privacy.EXPORT: "download a copy of the comments kept for {email}, as a JSON file",
    privacy.ANONYMISE: (
        "erase {email}, the names and websites given with it and the IP addresses from its "
        "comments; their texts stay, by an anonymous author"
    ),
    privacy.DELETE: (
        "erase {email}, the names and websites given with it and the IP addresses from its "
        "comments, and delete the comments"
    ),
}
BUTTONS = {
    privacy.EXPORT: "Download my data",
    privacy.ANONYMISE: "Erase my data",
    privacy.DELETE: "Erase my data and delete my comments",
}
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of our own form or a typed URL


def _page(template: str, status: int = 200, **values: object) -> Response:
    """A page of this blueprint, which search engines skip."""
    response = make_response(render_template(f"privacy/{template}", **values), status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.after_request
def _security_headers(response: Response) -> Response:
    """Every answer here, refusals and the download included, sends the pages' headers: the
    token in the URL is a credential (no cache, no Referer to other sites)."""
    return set_page_security_headers(response)


def _site(site_id: str) -> SiteSettings | None:
    return current.settings().sites.get(site_id) if site_id else None


class SiteValues(TypedDict):
    """What the templates show of the site the reader came from."""

    site_id: str
    site_title: str
    site_url: str


def _site_values(site_id: str) -> SiteValues:
    """What the templates show of the site the reader came from (nothing for an unknown one)."""
    site = _site(site_id)
    if site is None:
        return {"site_id": "", "site_title": "", "site_url": ""}
    return {"site_id": site_id, "site_title": site.title or site_id, "site_url": site.url}


@bp.get("/privacy/")
def form() -> Response:
    """The request form."""
    return _page("form.html", **_site_values(request.args.get("site", "")), email="", error="")


@bp.post("/privacy/")
def request_link() -> Response:
    """Queue the confirmation mail when comments are kept for the address; answer the same page
    either way."""
    values = _site_values(request.form.get("site", ""))
    if _cross_site():
        return _page(
            "refused.html",
            403,
            title="This request came from another site",
            message="Please use the form on this page.",
            **values,
        )
    if (limited := _over_limit(_ip_rate(), "ip", client_ip())) is not None:
        return limited
    address = request.form.get("email", "").strip()
    action = _action(request.form.get("action", ""), request.form.get("erase", ""))
    error = _address_problem(address) or ("" if action else "Please choose what you would like.")
    if error:
        return _page("form.html", 400, email=address, error=error, **values)
    if (limited := _over_limit(_address_rate(), "address", _address_key(address))) is not None:
        return limited
    ctx = current.context()
    # The write is opened for every address, known or not, so both take about as long.
    with current.write() as tx:
        privacy.queue_request_mail(tx, ctx, address, action, values["site_id"])
    return _page("sent.html", **values)


@bp.get("/privacy/<token>")
def confirm(token: str) -> Response:
    """What the link would do, and a button to do it; nothing changes."""
    link = privacy.check_request_link(current.session(), current.context(), token)
    return _page(
        "confirm.html",
        ask=ASKS[link.action].format(email=link.email),
        button=BUTTONS[link.action],
        erase=link.action != privacy.EXPORT,
        **_site_values(link.site),
    )


@bp.post("/privacy/<token>")
def carry_out(token: str) -> Response:
    """Spend the link: answer the download, or erase and say so."""
    if _cross_site():
        raise TokenInvalid("this request came from another site")
    ctx = current.context()
    with current.write() as tx:
        link = privacy.use_request_link(tx, ctx, token)
    if link.action == privacy.EXPORT:
        data = privacy.export_personal_data(current.session(), link.email)
        body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        response = Response(body, mimetype="application/json")
        day = ctx.clock().strftime("%Y-%m-%d")
        response.headers["Content-Disposition"] = f'attachment; filename="personal-data-{day}.json"'
        return response
    return _page("done.html", deleted=link.action == privacy.DELETE, **_site_values(link.site))


@bp.errorhandler(ModerationError)
def refused(exc: ModerationError) -> Response:
    """A link that cannot be used, as a page that says why (the request's changes are rolled
    back); a busy database as a page that asks to try again."""
    if isinstance(exc, DatabaseBusy):
        response = _page(
            "refused.html",
            503,
            title="Please try again",
            message="The service is busy right now. Nothing was changed.",
            **_site_values(""),
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    status, title = next(
        ((status, title) for cls, status, title in REFUSALS if isinstance(exc, cls)),
        (400, "This link cannot be used"),
    )
    message = exc.message[:1].upper() + exc.message[1:].rstrip(".") + "."
    return _page("refused.html", status, title=title, message=message, **_site_values(""))


# --- checks ----------------------------------------------------------------------------------------


def _cross_site() -> bool:
    """Whether the browser says this POST comes from another site. Browsers send
    ``Sec-Fetch-Site`` and ``Origin`` on a form's POST; a client that sends neither is no
    cross-site form (another site cannot make a browser leave them out)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_SITE:
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    ours = {_origin(current.settings().server.public_url), _origin(request.host_url)}
    return origin.rstrip("/").lower() not in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _action(action: str, erase: str) -> str:
    """The request's action: export, anonymise or delete ("" when the form's choice is not one)."""
    if action == privacy.EXPORT:
        return privacy.EXPORT
    if action == "erase" and erase in (privacy.ANONYMISE, privacy.DELETE):
        return erase
    return ""


def _address_problem(address: str) -> str:
    """Why `address` cannot be looked up ("" when it can)."""
    limit = current.settings().comments.max_email_bytes
    if (
        not address
        or inputs.single_line_problem(address)
        or len(address.encode("utf-8", "replace")) > limit
        or not EMAIL.match(address)
    ):
        return "Please enter the e-mail address you gave with your comments."
    return ""


def _address_key(address: str) -> str:
    """The address's rate-limit key: a keyed hash, so the counters hold no addresses."""
    key = current.settings().server.secret_key[-1].encode()
    return hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()


def _ip_rate() -> RateLimitItem:
    return RateLimitItemPerHour(current.settings().privacy.requests_per_ip_per_hour)


def _address_rate() -> RateLimitItem:
    return RateLimitItemPerDay(current.settings().privacy.requests_per_address_per_day)


def _over_limit(limit: RateLimitItem, kind: str, key: str) -> Response | None:
    """Count one request against `limit` for `key`; over it, the 429 page (with Retry-After).
    Known and unknown addresses count alike, so the answer tells nothing about the address."""
    keys = (PREFIX, "privacy", kind, key)
    if rate_limits().hit(limit, *keys):
        return None
    retry_after = seconds_left(limit, *keys)
    whom = "this address" if kind == "address" else "your network"
    response = _page(
        "refused.html",
        429,
        title="Too many requests",
        message=f"Too many requests were made for {whom}. Please try again later.",
        **_site_values(request.form.get("site", "")),
    )
    response.headers["Retry-After"] = str(retry_after)
    return response
