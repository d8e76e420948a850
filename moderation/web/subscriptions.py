"""Blueprint ``subscriptions``: the links in readers' notification mails, and the checks of the
widget's ``POST /api/v1/subscriptions`` (whose view is in `web.widget`, for its CORS).

``/subscriptions/confirm/<token>``: GET shows what the link confirms and a button (mail scanners
fetch every link); the button's POST confirms, once. ``/subscriptions/unsubscribe/<token>``: GET
shows a page with an "Unsubscribe" button and a link to the address's list of subscriptions on the
site; a POST ends the subscription with no other step: RFC 8058's one-click unsubscribe, which mail
providers send as ``List-Unsubscribe=One-Click``, without cookies or ``Origin``.
``/subscriptions/manage/<token>``: every subscription of that address on the site, and a POST that
ends them all.

No CSRF token anywhere here: the signed link is the credential (a forged POST would need it). The
pages speak the site's language (English, German, French; else English).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any, TypedDict

from flask import Blueprint, Response, make_response, render_template, url_for
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour

from moderation.config import Settings
from moderation.domain import inputs
from moderation.errors import (
    DatabaseBusy,
    InvalidInput,
    ModerationError,
    NotFound,
    TokenExpired,
    TokenInvalid,
)
from moderation.models import Subscription, SubscriptionMode, Thread
from moderation.services import notify
from moderation.services import subscriptions as service
from moderation.web import current
from moderation.web.client import client_ip
from moderation.web.guards import PREFIX, rate_limits
from moderation.web.schemas import EMAIL, check_uri
from moderation.web.security import set_page_security_headers

bp = Blueprint("subscriptions", __name__, url_prefix="/subscriptions")

SUBSCRIPTION_FIELDS = ("site", "uri", "email")
# The same answer whether or not a mail was queued: it must not tell whether an address is known,
# subscribed already, suppressed or over its limit.
ACCEPTED = {
    "status": "accepted",
    "message": "If this address can be mailed, a link to confirm the subscription was sent to it.",
}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "confirm_title": "Confirm the e-mails?",
        "confirm_thread": (
            "Nothing has happened yet. The button below confirms that {email} gets an e-mail "
            "when new comments appear on “{page}”."
        ),
        "confirm_replies": (
            "Nothing has happened yet. The button below confirms that {email} gets an e-mail "
            "when someone replies to its comment on “{page}”."
        ),
        "confirm_button": "Confirm",
        "confirm_note": "If you did not ask for this, close this page: nothing will be sent.",
        "confirmed_title": "Confirmed",
        "confirmed": (
            "{email} will get e-mails about “{page}”. Every mail has a link to stop them."
        ),
        "unsub_title": "Stop these e-mails?",
        "unsub_thread": (
            "The button below stops the e-mails to {email} about new comments on “{page}”."
        ),
        "unsub_replies": (
            "The button below stops the e-mails to {email} about replies to its comment on "
            "“{page}”."
        ),
        "unsub_button": "Unsubscribe",
        "manage_link": "All e-mails to this address from {site}",
        "unsubbed_title": "Unsubscribed",
        "unsubbed": "{email} will get no more e-mails about “{page}”.",
        "ended_title": "Already unsubscribed",
        "ended": "This subscription has already ended: nothing more is sent for it.",
        "manage_title": "Your e-mails from {site}",
        "manage_intro": "{email} gets e-mails about:",
        "mode_thread": "every new comment",
        "mode_replies": "replies to a comment",
        "unconfirmed": "(not confirmed)",
        "manage_none": "{email} gets no e-mails from {site}.",
        "all_button": "Unsubscribe from all",
        "all_done_title": "Unsubscribed from all",
        "all_done": "{email} will get no more e-mails from {site}.",
        "used": "This link was already used",
        "expired": "This link has expired",
        "invalid": "This link is not valid",
        "gone": "This subscription no longer exists",
        "refused": "Nothing was changed.",
        "busy_title": "Please try again",
        "busy": "The service is busy right now. Nothing was changed.",
        "back": "Back to {site}",
    },
    "de": {
        "confirm_title": "E-Mails bestätigen?",
        "confirm_thread": (
            "Noch ist nichts geschehen. Die Schaltfläche unten bestätigt, dass {email} eine "
            "E-Mail erhält, wenn neue Kommentare zu „{page}“ erscheinen."
        ),
        "confirm_replies": (
            "Noch ist nichts geschehen. Die Schaltfläche unten bestätigt, dass {email} eine "
            "E-Mail erhält, wenn jemand auf den Kommentar zu „{page}“ antwortet."
        ),
        "confirm_button": "Bestätigen",
        "confirm_note": (
            "Falls Sie das nicht angefordert haben, schließen Sie diese Seite: es wird nichts "
            "gesendet."
        ),
        "confirmed_title": "Bestätigt",
        "confirmed": (
            "{email} erhält E-Mails zu „{page}“. Jede E-Mail enthält einen Link zum Abbestellen."
        ),
        "unsub_title": "Diese E-Mails abbestellen?",
        "unsub_thread": (
            "Die Schaltfläche unten beendet die E-Mails an {email} über neue Kommentare zu "
            "„{page}“."
        ),
        "unsub_replies": (
            "Die Schaltfläche unten beendet die E-Mails an {email} über Antworten auf den "
            "Kommentar zu „{page}“."
        ),
        "unsub_button": "Abbestellen",
        "manage_link": "Alle E-Mails an diese Adresse von {site}",
        "unsubbed_title": "Abbestellt",
        "unsubbed": "{email} erhält keine E-Mails mehr über „{page}“.",
        "ended_title": "Bereits abbestellt",
        "ended": "Dieses Abonnement ist bereits beendet: es wird nichts mehr dafür gesendet.",
        "manage_title": "Ihre E-Mails von {site}",
        "manage_intro": "{email} erhält E-Mails über:",
        "mode_thread": "jeden neuen Kommentar",
        "mode_replies": "Antworten auf einen Kommentar",
        "unconfirmed": "(nicht bestätigt)",
        "manage_none": "{email} erhält keine E-Mails von {site}.",
        "all_button": "Alle abbestellen",
        "all_done_title": "Alle abbestellt",
        "all_done": "{email} erhält keine E-Mails mehr von {site}.",
        "used": "Dieser Link wurde bereits benutzt",
        "expired": "Dieser Link ist abgelaufen",
        "invalid": "Dieser Link ist ungültig",
        "gone": "Dieses Abonnement gibt es nicht mehr",
        "refused": "Es wurde nichts geändert.",
        "busy_title": "Bitte versuchen Sie es erneut",
        "busy": "Der Dienst ist gerade ausgelastet. Es wurde nichts geändert.",
        "back": "Zurück zu {site}",
    },
    "fr": {
        "confirm_title": "Confirmer les e-mails ?",
        "confirm_thread": (
            "Rien n'a encore changé. Le bouton ci-dessous confirme que {email} recevra un e-mail "
            "à chaque nouveau commentaire sur « {page} »."
        ),
        "confirm_replies": (
            "Rien n'a encore changé. Le bouton ci-dessous confirme que {email} recevra un e-mail "
            "quand quelqu'un répondra à son commentaire sur « {page} »."
        ),
        "confirm_button": "Confirmer",
        "confirm_note": "Si vous n'avez rien demandé, fermez cette page : rien ne sera envoyé.",
        "confirmed_title": "Confirmé",
        "confirmed": (
            "{email} recevra des e-mails sur « {page} ». Chaque e-mail contient un lien pour "
            "les arrêter."
        ),
        "unsub_title": "Ne plus recevoir ces e-mails ?",
        "unsub_thread": (
            "Le bouton ci-dessous arrête les e-mails à {email} sur les nouveaux commentaires de "
            "« {page} »."
        ),
        "unsub_replies": (
            "Le bouton ci-dessous arrête les e-mails à {email} sur les réponses à son commentaire "
            "sur « {page} »."
        ),
        "unsub_button": "Se désabonner",
        "manage_link": "Tous les e-mails de {site} à cette adresse",
        "unsubbed_title": "Désabonné",
        "unsubbed": "{email} ne recevra plus d'e-mails sur « {page} ».",
        "ended_title": "Déjà désabonné",
        "ended": "Cet abonnement a déjà pris fin : plus rien n'est envoyé pour lui.",
        "manage_title": "Vos e-mails de {site}",
        "manage_intro": "{email} reçoit des e-mails sur :",
        "mode_thread": "chaque nouveau commentaire",
        "mode_replies": "les réponses à un commentaire",
        "unconfirmed": "(non confirmé)",
        "manage_none": "{email} ne reçoit aucun e-mail de {site}.",
        "all_button": "Se désabonner de tout",
        "all_done_title": "Désabonné de tout",
        "all_done": "{email} ne recevra plus d'e-mails de {site}.",
        "used": "Ce lien a déjà été utilisé",
        "expired": "Ce lien a expiré",
        "invalid": "Ce lien n'est pas valide",
        "gone": "Cet abonnement n'existe plus",
        "refused": "Rien n'a été changé.",
        "busy_title": "Veuillez réessayer",
        "busy": "Le service est occupé. Rien n'a été changé.",
        "back": "Retour à {site}",
    },
}

# (exception class, HTTP status, title key); the first class that matches wins.
REFUSALS: list[tuple[type[ModerationError], int, str]] = [
    (notify.LinkUsed, 410, "used"),
    (TokenExpired, 410, "expired"),
    (TokenInvalid, 403, "invalid"),
    (NotFound, 404, "gone"),
]


# --- the API's checks (the view is widget.subscribe) ------------------------------------------


def parse_subscription(data: dict[str, Any], settings: Settings) -> tuple[str, str, str]:
    """``(site, uri, email)`` from a ``POST /api/v1/subscriptions`` body; raise `InvalidInput`
    naming every bad field, like the comment API."""
    errors = {name: "unknown field" for name in data if name not in SUBSCRIPTION_FIELDS}
    values: dict[str, str] = {}
    for name in SUBSCRIPTION_FIELDS:
        value = data.get(name)
        if value is None or value == "":
            errors[name] = "required"
        elif not isinstance(value, str):
            errors[name] = "must be a string"
        elif problem := inputs.single_line_problem(value):
            errors[name] = problem
        else:
            values[name] = value.strip()
    if "site" in values and values["site"] not in settings.sites:
        errors["site"] = "no such site"
    if "uri" in values and (problem := check_uri(values["uri"])):
        errors["uri"] = problem
    if "email" in values:
        cap = settings.comments.max_email_bytes
        if len(values["email"].encode("utf-8", "surrogatepass")) > cap:
            errors["email"] = f"too long (at most {cap} bytes)"
        elif not EMAIL.match(values["email"]):
            errors["email"] = "not an e-mail address"
    if errors:
        raise InvalidInput("the subscription has problems", fields=errors)
    return values["site"], values["uri"], values["email"].lower()


def may_mail(address: str) -> bool:
    """Count one request against ``[notify] confirmations_per_ip_per_hour`` (client IP) and
    ``confirmations_per_address_per_day`` (the address, which also counts the confirmations that
    comments asked for); False when either is used up. Known and unknown addresses count alike."""
    limits = current.settings().notify
    ip_ok = _hit(RateLimitItemPerHour(limits.confirmations_per_ip_per_hour), "ip", client_ip())
    if not ip_ok:
        return False
    per_day = RateLimitItemPerDay(limits.confirmations_per_address_per_day)
    if not _hit(per_day, "address", _address_key(address)):
        return False
    since = current.context().clock() - timedelta(days=1)
    sent = service.confirmations_sent_since(current.session(), address, since)
    return sent < limits.confirmations_per_address_per_day


def _hit(limit: RateLimitItem, kind: str, key: str) -> bool:
    return rate_limits().hit(limit, PREFIX, "subscribe", kind, key)


def _address_key(address: str) -> str:
    """The address's rate-limit key: a keyed hash, so the counters hold no addresses."""
    key = current.settings().server.secret_key[-1].encode()
    return hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()


# --- the pages -----------------------------------------------------------------------------------


@bp.after_request
def _security_headers(response: Response) -> Response:
    """Every answer here sends the pages' headers: the token in the URL is a credential (no
    cache, no Referer to other sites, no frames)."""
    return set_page_security_headers(response)


def _language(site_id: str) -> str:
    """The site's language when the pages speak it, else English."""
    site = current.settings().sites.get(site_id)
    language = (site.language if site else "en").split("-")[0].lower()
    return language if language in STRINGS else "en"


def _strings(site_id: str) -> dict[str, str]:
    return STRINGS[_language(site_id)]


def _site_values(site_id: str) -> dict[str, Any]:
    """The strings, language and site of a page."""
    s = _strings(site_id)
    site = current.settings().sites.get(site_id)
    title = (site.title or site_id) if site else ""
    return {
        "s": s,
        "language": _language(site_id),
        "site_title": title,
        "site_url": site.url if site else "",
        "back": s["back"].format(site=title) if site else "",
    }


def _page(template: str, site_id: str, *, status: int = 200, **values: Any) -> Response:
    """A page of this blueprint, which search engines skip."""
    html = render_template(f"subscriptions/{template}", **_site_values(site_id), **values)
    response = make_response(html, status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _thread_values(thread: Thread) -> dict[str, str]:
    """The page a subscription is about: its title (else its path) and its URL."""
    site = current.settings().sites.get(thread.site)
    return {
        "page": thread.title or thread.uri,
        "page_url": site.page_url(thread.uri) if site else "",
    }


def _message(
    template: str, site_id: str, title: str, text: str, *, status: int = 200, **values: Any
) -> Response:
    return _page(template, site_id, status=status, title=title, message=text, **values)


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Response:
    """What the link confirms, and a button; nothing changes."""
    found = service.check_confirmation(current.session(), current.context(), token)
    sub = found.subscription
    site_id = sub.thread.site
    s, page = _strings(site_id), _thread_values(sub.thread)
    key = "confirm_replies" if sub.mode is SubscriptionMode.replies else "confirm_thread"
    return _page(
        "confirm.html",
        site_id,
        title=s["confirm_title"],
        message=s[key].format(email=sub.email, page=page["page"]),
        page_url=page["page_url"],
    )


@bp.post("/confirm/<token>")
def confirm(token: str) -> Response:
    """Confirm the subscription (spends the link) and say so."""
    ctx = current.context()
    with current.write() as tx:
        sub = service.confirm(tx, ctx, token)
        site_id, email, page = sub.thread.site, sub.email, _thread_values(sub.thread)
    s = _strings(site_id)
    text = s["confirmed"].format(email=email, page=page["page"])
    return _message("done.html", site_id, s["confirmed_title"], text, page_url=page["page_url"])


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    """The subscription and an "Unsubscribe" button (which posts what mail providers post), or
    a page saying it has ended already; a link to all of the address's subscriptions."""
    found = service.check_unsubscribe(current.session(), current.context(), token)
    s = _strings(found.site)
    manage = _manage(token, found.site)
    if found.subscription is None:
        return _message("done.html", found.site, s["ended_title"], s["ended"], **manage)
    sub = found.subscription
    page = _thread_values(sub.thread)
    key = "unsub_replies" if sub.mode is SubscriptionMode.replies else "unsub_thread"
    return _page(
        "unsubscribe.html",
        found.site,
        title=s["unsub_title"],
        message=s[key].format(email=found.email, page=page["page"]),
        page_url=page["page_url"],
        **manage,
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    """End the subscription: RFC 8058's one-click POST (``List-Unsubscribe=One-Click``) or the
    page's button. No other step, no cookie, no CSRF token: the signed URL is the credential."""
    ctx = current.context()
    with current.write() as tx:
        found = service.check_unsubscribe(tx, ctx, token)
        page = _thread_values(found.subscription.thread) if found.subscription else None
        ended = service.unsubscribe(tx, ctx, token)
    s = _strings(found.site)
    manage = _manage(token, found.site)
    if not ended or page is None:
        return _message("done.html", found.site, s["ended_title"], s["ended"], **manage)
    text = s["unsubbed"].format(email=found.email, page=page["page"])
    return _message("done.html", found.site, s["unsubbed_title"], text, **manage)


@bp.get("/manage/<token>")
def manage_page(token: str) -> Response:
    """Every subscription of the link's address on its site, and "Unsubscribe from all"."""
    session = current.session()
    found = service.check_unsubscribe(session, current.context(), token)
    values = _site_values(found.site)
    s, site_title = values["s"], values["site_title"] or found.site
    rows = [_row(sub, s) for sub in service.subscriptions_of(session, found.email, found.site)]
    return _page(
        "manage.html",
        found.site,
        title=s["manage_title"].format(site=site_title),
        intro=s["manage_intro"].format(email=found.email),
        empty=s["manage_none"].format(email=found.email, site=site_title),
        rows=rows,
    )


@bp.post("/manage/<token>")
def unsubscribe_everything(token: str) -> Response:
    """End every subscription of the link's address on its site."""
    ctx = current.context()
    with current.write() as tx:
        found = service.check_unsubscribe(tx, ctx, token)
        service.unsubscribe_all(tx, ctx, token)
    values = _site_values(found.site)
    s, site_title = values["s"], values["site_title"] or found.site
    text = s["all_done"].format(email=found.email, site=site_title)
    return _message("done.html", found.site, s["all_done_title"], text)


def _row(sub: Subscription, s: dict[str, str]) -> dict[str, str]:
    page = _thread_values(sub.thread)
    mode = s["mode_replies" if sub.mode is SubscriptionMode.replies else "mode_thread"]
    if sub.confirmed_at is None:
        mode = f"{mode} {s['unconfirmed']}"
    return {**page, "mode": mode}


class ManageLink(TypedDict):
    """The link to the address's list of subscriptions on the site."""

    manage_url: str
    manage_label: str


def _manage(token: str, site_id: str) -> ManageLink:
    """The link to the address's list of subscriptions on the site."""
    values = _site_values(site_id)
    return {
        "manage_url": url_for("subscriptions.manage_page", token=token),
        "manage_label": values["s"]["manage_link"].format(site=values["site_title"] or site_id),
    }


@bp.errorhandler(ModerationError)
def refused(exc: ModerationError) -> Response:
    """A link that cannot be used, as a page that says why (the request's changes are rolled
    back); a busy database as a page that asks to try again."""
    s = STRINGS["en"]
    if isinstance(exc, DatabaseBusy):
        response = _message("refused.html", "", s["busy_title"], s["busy"], status=503)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    status, key = next(
        ((status, key) for cls, status, key in REFUSALS if isinstance(exc, cls)),
        (400, "invalid"),
    )
    return _message("refused.html", "", s[key], s["refused"], status=status)
