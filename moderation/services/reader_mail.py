"""The mails readers get: a subscription's confirmation and its notifications, in the site's
language (English, German, French; others fall back to English), plain text plus HTML."""

from __future__ import annotations

from email.message import EmailMessage

from moderation.domain.inputs import one_line
from moderation.models import Comment, Subscription, SubscriptionMode
from moderation.services import Context
from moderation.services.notify import set_bodies

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "confirm_subject": "[{site}] Please confirm: new comments on {page}",
        "confirm_intro_thread": (
            "Someone (we hope you) asked to be told by e-mail about new comments on {page}."
        ),
        "confirm_intro_replies": (
            "Someone (we hope you) asked to be told by e-mail about replies to a comment on {page}."
        ),
        "confirm_action": "Confirm",
        "confirm_ignore": (
            "If it was not you, ignore this mail: nothing will be sent to you unless you confirm."
        ),
        "notify_subject_one": "[{site}] New comment on {page}",
        "notify_subject_many": "[{site}] {count} new comments on {page}",
        "notify_subject_reply": "[{site}] A reply to your comment on {page}",
        "notify_intro_thread": "New on {page}:",
        "notify_intro_replies": "Someone replied to your comment on {page}:",
        "read": "Read it on the page",
        "more": "and {count} more on the page",
        "unsubscribe": "Stop these mails",
        "why_thread": "You get this because you asked to hear of new comments on this page.",
        "why_replies": "You get this because you asked to hear of replies to your comment.",
        "anonymous": "Anonymous",
    },
    "de": {
        "confirm_subject": "[{site}] Bitte bestätigen: neue Kommentare zu {page}",
        "confirm_intro_thread": (
            "Jemand (hoffentlich Sie) möchte per E-Mail über neue Kommentare zu {page} "
            "informiert werden."
        ),
        "confirm_intro_replies": (
            "Jemand (hoffentlich Sie) möchte per E-Mail über Antworten auf einen Kommentar zu "
            "{page} informiert werden."
        ),
        "confirm_action": "Bestätigen",
        "confirm_ignore": (
            "Falls Sie das nicht waren, ignorieren Sie diese E-Mail: ohne Bestätigung erhalten "
            "Sie nichts."
        ),
        "notify_subject_one": "[{site}] Neuer Kommentar zu {page}",
        "notify_subject_many": "[{site}] {count} neue Kommentare zu {page}",
        "notify_subject_reply": "[{site}] Eine Antwort auf Ihren Kommentar zu {page}",
        "notify_intro_thread": "Neu zu {page}:",
        "notify_intro_replies": "Jemand hat auf Ihren Kommentar zu {page} geantwortet:",
        "read": "Auf der Seite lesen",
        "more": "und {count} weitere auf der Seite",
        "unsubscribe": "Diese E-Mails abbestellen",
        "why_thread": "Sie erhalten dies, weil Sie neue Kommentare zu dieser Seite abonniert haben.",
        "why_replies": "Sie erhalten dies, weil Sie Antworten auf Ihren Kommentar abonniert haben.",
        "anonymous": "Anonym",
    },
    "fr": {
        "confirm_subject": "[{site}] Merci de confirmer : nouveaux commentaires sur {page}",
        "confirm_intro_thread": (
            "Quelqu'un (vous, nous l'espérons) a demandé à être prévenu par e-mail des nouveaux "
            "commentaires sur {page}."
        ),
        "confirm_intro_replies": (
            "Quelqu'un (vous, nous l'espérons) a demandé à être prévenu par e-mail des réponses "
            "à un commentaire sur {page}."
        ),
        "confirm_action": "Confirmer",
        "confirm_ignore": (
            "Si ce n'était pas vous, ignorez ce message : rien ne vous sera envoyé sans "
            "confirmation."
        ),
        "notify_subject_one": "[{site}] Nouveau commentaire sur {page}",
        "notify_subject_many": "[{site}] {count} nouveaux commentaires sur {page}",
        "notify_subject_reply": "[{site}] Une réponse à votre commentaire sur {page}",
        "notify_intro_thread": "Nouveau sur {page} :",
        "notify_intro_replies": "Quelqu'un a répondu à votre commentaire sur {page} :",
        "read": "Lire sur la page",
        "more": "et {count} de plus sur la page",
        "unsubscribe": "Ne plus recevoir ces e-mails",
        "why_thread": (
            "Vous recevez ceci car vous avez demandé à être prévenu des nouveaux commentaires "
            "sur cette page."
        ),
        "why_replies": (
            "Vous recevez ceci car vous avez demandé à être prévenu des réponses à votre "
            "commentaire."
        ),
        "anonymous": "Anonyme",
    },
}
MAX_SHOWN = 20


def strings(language: str) -> dict[str, str]:
    """The site's language's strings (its first subtag), else English."""
    return STRINGS.get(language.split("-")[0].lower(), STRINGS["en"])


def _page(ctx: Context, sub: Subscription) -> dict[str, str]:
    thread = sub.thread
    site = ctx.settings.sites.get(thread.site)
    url = site.page_url(thread.uri) if site else thread.uri
    label = site.title if site and site.title else thread.site
    return {
        "site": one_line(label)[:60],
        "page": one_line(thread.title or thread.uri)[:120],
        "url": url,
        "language": site.language if site else "en",
    }


def confirmation_message(ctx: Context, sub: Subscription, link: str) -> EmailMessage:
    """The double opt-in mail: what was asked for, and a link to a page that confirms it."""
    from moderation.services.subscriptions import address_header

    page = _page(ctx, sub)
    s = strings(page["language"])
    intro = s[
        "confirm_intro_replies" if sub.mode is SubscriptionMode.replies else "confirm_intro_thread"
    ]
    data = {
        "s": s,
        "intro": intro.format(page=page["page"]),
        "page_url": page["url"],
        "link": link,
        "language": page["language"],
    }
    message = EmailMessage()
    message["Subject"] = s["confirm_subject"].format(site=page["site"], page=page["page"])
    address_header(message, sub.email, ctx)
    set_bodies(message, "reader_confirm", data)
    return message


def notification_message(
    ctx: Context,
    sub: Subscription,
    comments: list[Comment],
    *,
    unsubscribe_url: str,
    first_delivery: int,
) -> EmailMessage:
    """One notification: the new comments (at most `MAX_SHOWN`), each with its link on the page,
    and the RFC 8058 one-click unsubscribe headers."""
    from moderation.services.subscriptions import address_header, mail_domain, thread_message_id

    page = _page(ctx, sub)
    s = strings(page["language"])
    replies = sub.mode is SubscriptionMode.replies
    if replies:
        subject = s["notify_subject_reply"]
    elif len(comments) == 1:
        subject = s["notify_subject_one"]
    else:
        subject = s["notify_subject_many"]
    shown = comments[:MAX_SHOWN]
    data = {
        "s": s,
        "intro": s["notify_intro_replies" if replies else "notify_intro_thread"].format(
            page=page["page"]
        ),
        "comments": [
            {
                "author": c.author or s["anonymous"],
                "when": c.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "text": c.text,
                "html": c.html,
                "url": f"{page['url']}#comment-{c.id}",
            }
            for c in shown
        ],
        "more": s["more"].format(count=len(comments) - len(shown))
        if len(comments) > len(shown)
        else "",
        "page_url": page["url"],
        "why": s["why_replies" if replies else "why_thread"],
        "unsubscribe_url": unsubscribe_url,
        "language": page["language"],
    }
    message = EmailMessage()
    message["Subject"] = subject.format(site=page["site"], page=page["page"], count=len(comments))
    address_header(message, sub.email, ctx)
    root = thread_message_id(ctx, sub.thread)
    message["Message-ID"] = f"<notify.{sub.id}.{first_delivery}@{mail_domain(ctx)}>"
    message["In-Reply-To"] = root
    message["References"] = root
    message["List-Id"] = f"<{sub.thread.site}.comments.{mail_domain(ctx)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    set_bodies(message, "reader_notify", data)
    return message
